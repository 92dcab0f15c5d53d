"""What a person waits for: a widget change in real headless Chromium until the page is drawn.

    python bench/browser_speed.py          # needs /usr/bin/chromium and playwright

Starts ``streamlit run app.py`` on a free port (as the browser tests do), opens the
Encoding lab on synthetic faces and times key presses on its sliders: from the press
to the moment the script run has finished and every chart is drawn again (the same
"idle" test as the browser tests, minus their settling pause). Medians of several
presses. First visits of the other pages are timed too (with the shipped checkpoint
when it is there), each until the page is fully drawn.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))

from tests.browser.conftest import IDLE_SCRIPT, CHROMIUM, CHROMIUM_ARGS, AppDriver, AppServer  # noqa: E402

SLIDERS = [  # (slider label, presses, what it changes)
    ("Sigma σ (heatmap cells)", 4, "whole page"),
    ("Heatmap opacity", 4, "whole page"),
    ("Noise on the heatmap", 4, "decoding section (a fragment)"),
]


PAGES = [  # (path, what a first visit shows with the defaults)
    ("/", "Home (pipeline figure, status)"),
    ("/Dataset_browser", "Dataset browser (12 synthetic faces, detail view)"),
    ("/Train", "Train (form, jobs, no run yet)"),
    ("/Compare_decoders", "Compare decoders (shipped model on 100 synthetic faces, evaluated)"),
    ("/Upload_a_face", "Upload a face (astronaut example, face found, shipped model)"),
]


def press_times(app: AppDriver, label: str, presses: int, key: str = "ArrowRight") -> list[float]:
    page = app.page
    page.get_by_role("slider", name=label).focus()
    times = []
    for _ in range(presses):
        before = app.runs()
        t0 = time.perf_counter()
        page.keyboard.press(key)
        page.wait_for_function(IDLE_SCRIPT, arg=[before + 1, 0], timeout=120_000, polling=20)
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        server = AppServer(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                app = AppDriver(page, server)
                t0 = time.perf_counter()
                app.open("/Encoding_lab")
                first = time.perf_counter() - t0
                print("| action | s (median) | min | max |")
                print("|---|---:|---:|---:|")
                print(f"| open Encoding lab (first visit, server warm-up included) | {first:.2f} | | |")
                for label, presses, what in SLIDERS:
                    times = press_times(app, label, presses)
                    print(f"| slider '{label}' one step ({what}) | {statistics.median(times):.2f} | "
                          f"{min(times):.2f} | {max(times):.2f} |", flush=True)
                for path, what in PAGES:
                    t0 = time.perf_counter()
                    app.open(path)
                    print(f"| open {what} | {time.perf_counter() - t0:.2f} | | |", flush=True)
                browser.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
