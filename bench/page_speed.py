"""Server-side time of page runs: first visit and re-runs after a widget change.

    python bench/page_speed.py      # Home, Dataset browser, Encoding lab on synthetic faces

Uses Streamlit's AppTest, which runs a page script exactly as the server does (with
its caches), without a browser. A slider change in the browser costs this time
plus sending the elements and drawing the charts (the Playwright tests show the
whole round trip; figures in docs/performance.md). For each change the table gives
the median over --repeats changes that alternate between two values, so every
run recomputes (a value seen before may come from a cache; that is reported as
"cached" when the same value is set again).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the app (ui/__init__.py)
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")  # no "missing ScriptRunContext" chatter

from streamlit.testing.v1 import AppTest  # noqa: E402

# (page, widget kind, key, values never set before, then one set again at the end)
CHANGES = [
    ("pages/2_Encoding_lab.py", "slider", "enc_sigma", (3.0, 1.5, 2.5, 4.0)),
    ("pages/2_Encoding_lab.py", "select_slider", "enc_hm", (32, 128, 48, 96)),
    ("pages/2_Encoding_lab.py", "select_slider", "enc_input", (128, 192, 384, 512)),
    ("pages/2_Encoding_lab.py", "radio", "enc_encoding", ("gaussian", "binary")),
    ("pages/2_Encoding_lab.py", "slider", "enc_noise", (0.05, 0.1, 0.15, 0.2)),
    ("pages/2_Encoding_lab.py", "slider", "enc_opacity", (0.4, 0.8, 0.5, 0.3)),
    ("pages/1_Dataset_browser.py", None, None, ()),
    ("app.py", None, None, ()),
]


def timed_run(at: AppTest) -> float:
    t0 = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Server-side page run times (AppTest).")
    parser.parse_args(argv)
    print("| page | change | first run s | new value s (median) | cached value s |")
    print("|---|---|---:|---:|---:|")
    pages: dict[str, AppTest] = {}
    for page, kind, key, values in CHANGES:
        first = None
        if page not in pages:
            at = AppTest.from_file(str(REPO_ROOT / page), default_timeout=300)
            first = timed_run(at)
            pages[page] = at
        at = pages[page]
        if kind is None:
            again = timed_run(at)
            print(f"| {page} | rerun, nothing changed | {first:.2f} | {again:.2f} | |")
            continue
        times = []
        for value in values:  # each a value this widget has not had: no cache answers
            getattr(at, kind)(key=key).set_value(value)
            times.append(timed_run(at))
        getattr(at, kind)(key=key).set_value(values[0])
        cached = timed_run(at)
        print(f"| {page} | {key} | {'' if first is None else f'{first:.2f}'} | "
              f"{statistics.median(times):.2f} | {cached:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
