"""What a newcomer waits for, in a real headless Chromium: first visits and slider steps.

    python bench/browser_speed.py                 # idle, then with a training job running
    python bench/browser_speed.py --quick         # 5 steps per widget, one cold start per condition
    python bench/browser_speed.py --pages home encoding --conditions idle --markdown

Needs Debian's Chromium (``/usr/bin/chromium``, or ``$LMKVIZ_CHROMIUM``) and playwright.
Uses the datasets of ``$LMKVIZ_DATA`` when it is set (as the app does), else the
embedded synthetic faces.

For each condition (``idle``; ``training``: a quick-demo job started with
:func:`lmkviz.jobs.start`, so niced as the app's Train page would start it):

* **cold start**: ``streamlit run app.py`` with the project's own settings
  (``.streamlit/config.toml``, file watcher included) on a free localhost port, from the
  process start until ``/_stcore/health`` answers;
* **first visit** of each page, in the order a newcomer clicks through them: the first page
  in a new browser (it loads the frontend and pays the server's imports), the others through
  the sidebar's links (no reload), from the click until the page is fully drawn; then a
  **second visit** of each page the same way (server caches warm), and the first page once
  more in another new browser;
* **widget steps**: a key press on a slider (or a click on a select-box option) until the
  page is fully drawn again, median of ``--repeats`` steps, each step to a value not seen
  before on this server unless the row says "cached".

"Fully drawn": Streamlit's script state is "notRunning", no running indicator, no
skeleton placeholder, no stale element and every plotly chart has drawn its SVG (the
wait of the browser tests, without their settling pause).

**until run s**: from the action (or navigation) until Streamlit's first script run
starts, on the browser's clock (for a first visit: loading the frontend and connecting);
**drawing s**: from the end of the last script run until the page is fully drawn; **MB
sent**: the size of the messages those script runs sent to the browser (the charts' data).

**Server s** is the time the server spent running page scripts within that wait, from
a timing hook: the server is started through this file (``--serve``), which wraps
Streamlit's script execution and appends each run's start and duration to a log. Pages
and the app are unchanged. The rest of the wait is sending, parsing and drawing in the
browser (and, for a first visit, loading the frontend).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LMKVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
TIMEOUT_MS = 300_000

PAGES = {  # name: (url path, what a first visit shows with the defaults)
    "home": ("/", "Home"),
    "dataset": ("/Dataset_browser", "Dataset browser"),
    "encoding": ("/Encoding_lab", "Encoding lab"),
    "train": ("/Train", "Train"),
    "compare": ("/Compare_decoders", "Compare decoders"),
    "upload": ("/Upload_a_face", "Upload a face"),
}

TARGETS = {"first": 1.5, "step": 0.4, "server": 0.1, "step_training": 1.0}
"""Seconds, idle: first render after the server is up, widget step, server time per step;
widget step with a training job running."""

# Counts script runs (fragment runs included) so that a wait after an action waits for *that* run.
OBSERVER = """
(() => {
  // A new document (a full page load) starts every counter at 0, as if marked at its start.
  window.__lmkRuns = 0;            // runs started since the last mark
  window.__lmkDoc = Math.random();  // tells a reload from the same document
  window.__lmkFirstStart = null;   // first run start after the last mark
  window.__lmkLastEnd = null;      // latest end of a run
  window.__lmkMark = () => { window.__lmkRuns = 0; window.__lmkFirstStart = null; return [performance.now(), window.__lmkDoc]; };
  const watch = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) { setTimeout(watch, 10); return; }
    let last = null;
    const see = (s) => {
      if (s === 'running' && last !== 'running') {
        window.__lmkRuns += 1;
        if (window.__lmkFirstStart === null) window.__lmkFirstStart = performance.now();
      }
      if (s === 'notRunning' && last !== 'notRunning') window.__lmkLastEnd = performance.now();
      last = s;
    };
    see(app.getAttribute('data-test-script-state'));
    new MutationObserver((records) => {
      records.slice(1).forEach(r => see(r.oldValue));
      see(app.getAttribute('data-test-script-state'));
    }).observe(app, {attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']});
  };
  watch();
})();
"""

DRAWN = """
(minRuns) => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && (window.__lmkRuns || 0) >= minRuns
    && app.getAttribute('data-test-script-state') === 'notRunning'
    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && !!document.querySelector('[data-testid="stMain"] [data-testid="stElementContainer"]')
    && !document.querySelector('[data-testid="stSkeleton"], [data-testid="stStatusWidgetRunningIcon"]')
    && !document.querySelector('[data-stale="true"]')
    && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'));
}
"""


# ----------------------------------------------------------------------------- the timed server

def serve(log_path: str, streamlit_args: list[str]) -> None:
    """Run Streamlit in this process with every script run timed into ``log_path`` (JSON lines
    {"t0": wall-clock start, "s": seconds, "bytes": size of the messages the run sent to the
    browser, "fragment": bool})."""
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.runtime.scriptrunner_utils import script_run_context

    inner = script_runner.exec_func_with_error_handling
    inner_enqueue = script_run_context.ScriptRunContext.enqueue
    sent: dict[int, int] = {}

    def enqueue(self, msg):
        sent[id(self)] = sent.get(id(self), 0) + msg.ByteSize()
        return inner_enqueue(self, msg)

    def timed(func, ctx):
        t0, p0 = time.time(), time.perf_counter()
        sent[id(ctx)] = 0
        try:
            return inner(func, ctx)
        finally:
            line = json.dumps({"t0": t0, "s": time.perf_counter() - p0, "bytes": sent.pop(id(ctx), 0),
                               "fragment": bool(getattr(ctx, "current_fragment_id", None))})
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    script_runner.exec_func_with_error_handling = timed
    script_run_context.ScriptRunContext.enqueue = enqueue
    from streamlit.web import cli

    sys.argv = ["streamlit", *streamlit_args]
    cli.main(prog_name="streamlit")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run app.py`` (through :func:`serve`) on a free localhost port."""

    def __init__(self, tmp: Path, env_extra: dict):
        import urllib.request

        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.timing = tmp / f"script-times-{self.port}.jsonl"
        self.log_path = tmp / f"streamlit-{self.port}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", **env_extra)
        self._log = open(self.log_path, "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(self.timing), "--",
             "run", "app.py", "--server.headless", "true", "--server.port", str(self.port)],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
            if time.perf_counter() - t0 > 300:
                raise RuntimeError("streamlit did not answer in 300 s")
        self.start_s = time.perf_counter() - t0

    def script_runs(self, since: float, until: float) -> tuple[float, float]:
        """(seconds, MB sent) of the script runs that started in [since, until] (wall clock)."""
        try:
            lines = self.timing.read_text(encoding="utf-8").splitlines()
        except OSError:
            return float("nan"), float("nan")
        runs = [r for r in (json.loads(line) for line in lines if line.strip()) if since - 0.01 <= r["t0"] <= until]
        return sum(r["s"] for r in runs), sum(r.get("bytes", 0) for r in runs) / 1e6

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


# ----------------------------------------------------------------------------- measuring

@dataclass
class Row:
    condition: str
    what: str
    times: list = field(default_factory=list)      # browser seconds
    server: list = field(default_factory=list)     # script seconds
    target: str = ""                               # "first", "step" or ""
    note: str = ""
    waits: list = field(default_factory=list)      # action -> first script run starts (browser clock)
    draws: list = field(default_factory=list)      # last script run ends -> fully drawn
    sent: list = field(default_factory=list)       # MB of messages sent to the browser

    def median(self, values) -> float:
        values = [v for v in values if v == v]
        return statistics.median(values) if values else float("nan")

    @property
    def total(self) -> float:
        return self.median(self.times)

    @property
    def script(self) -> float:
        return self.median(self.server)

    def verdict(self) -> str:
        if not self.target:
            return ""
        if self.condition == "idle":
            limit = TARGETS[self.target]
            ok = self.total <= limit and (self.target != "step" or self.script <= TARGETS["server"])
            return f"{'met' if ok else 'NOT met'} (≤ {limit:g} s" + (
                f", server ≤ {TARGETS['server']:g} s)" if self.target == "step" else ")")
        if self.target == "step":
            limit = TARGETS["step_training"]
            return f"{'met' if self.total <= limit else 'NOT met'} (≤ {limit:g} s)"
        return ""


class Tab:
    """One browser tab on the app."""

    def __init__(self, browser, server: Server):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.add_init_script(OBSERVER)
        self.server = server

    def runs(self) -> int:
        return int(self.page.evaluate("window.__lmkRuns || 0"))

    def drawn(self, min_runs: int) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(DRAWN, arg=min_runs, timeout=TIMEOUT_MS, polling=20)
        except PlaywrightTimeout:
            shot = self.server.timing.parent / f"not-drawn-{time.time():.0f}.png"
            self.page.screenshot(path=str(shot), full_page=True)
            state = self.page.evaluate("""() => ({
                runs: window.__lmkRuns, state: document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state'),
                skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
                running: document.querySelectorAll('[data-testid="stStatusWidgetRunningIcon"]').length,
                stale: document.querySelectorAll('[data-stale="true"]').length,
                charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
                drawn: document.querySelectorAll('[data-testid="stPlotlyChart"] .main-svg').length})""")
            raise RuntimeError(f"the page was not drawn in {TIMEOUT_MS / 1000:.0f} s: {state}; screenshot {shot}") from None

    def open(self, path: str) -> tuple:
        """(browser s, server s, MB sent, s until the script started, s drawing after it) from navigation
        to the first full draw."""
        wall, t0 = time.time(), time.perf_counter()
        self.page.goto(self.server.url + path, wait_until="commit")
        self.drawn(1)
        took = time.perf_counter() - t0
        return (took, *self.server.script_runs(wall, time.time()), *self.phases(0.0))

    def phases(self, mark: float) -> tuple[float, float]:
        """(seconds from ``mark`` until the first script run started, seconds from the end of
        the last run until now), on the page's clock."""
        start, end, now = self.page.evaluate("[window.__lmkFirstStart, window.__lmkLastEnd, performance.now()]")
        nan = float("nan")
        return ((start - mark) / 1000 if start is not None else nan, (now - end) / 1000 if end is not None else nan)

    def step(self, action) -> tuple:
        """(browser s, server s, MB sent, s until the script started, s drawing after it) from ``action()``
        until the rerun it starts has been drawn. For a select box the action includes opening
        it (a click), so "until started" includes the menu."""
        mark, doc = self.page.evaluate("window.__lmkMark()")
        wall, t0 = time.time(), time.perf_counter()
        action()
        self.drawn(1)  # a run started after the mark (or in a new document, if the action reloaded it)
        took = time.perf_counter() - t0
        same = self.page.evaluate("window.__lmkDoc") == doc
        waits, draws = self.phases(mark)
        return took, *self.server.script_runs(wall, time.time()), waits if same else float("nan"), draws

    def follow(self, label: str) -> None:
        """Click the sidebar's link named ``label`` (no reload, as a person navigates; matched by
        text: Streamlit gives the home page's link the current page's address)."""
        links = self.page.locator('[data-testid="stSidebar"]').get_by_role("link", name=label, exact=True)
        if links.count() == 0:
            raise RuntimeError(f"no sidebar link named {label!r}")
        links.first.click()

    def keyed(self, key_prefix: str):
        """The element whose widget key starts with ``key_prefix`` (Streamlit's st-key-* class)."""
        return self.page.locator(f'[class*="st-key-{key_prefix}"]').first

    def close(self) -> None:
        self.context.close()


def slider_steps(tab: Tab, key: str, repeats: int, key_press: str = "ArrowRight", reset: str | None = None):
    handle = tab.keyed(key).get_by_role("slider")
    handle.focus()
    if reset:  # untimed: move to one end first so that every timed step goes to a new value
        tab.step(lambda: tab.page.keyboard.press(reset))
    return [tab.step(lambda: tab.page.keyboard.press(key_press)) for _ in range(repeats)]


def open_select(tab: Tab, key: str):
    """Open the select box with widget key ``key``; its options. A click that lands while the
    page is busy can be lost: up to three tries."""
    options = tab.page.get_by_role("option")
    for attempt in range(3):
        tab.keyed(key).locator('[data-testid="stSelectbox"]').click()
        try:
            options.first.wait_for(state="visible", timeout=10_000)
            return options
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: try again
            tab.page.keyboard.press("Escape")
    raise RuntimeError(f"the select box {key!r} did not open")


def pick(tab: Tab, key: str, option_text: str):
    """Open the select box with widget key ``key`` (untimed), then time the click on the option
    holding ``option_text``."""
    return tab.step(open_select(tab, key).filter(has_text=option_text).first.click)


def choose_steps(tab: Tab, key: str, indices: list[int]):
    """One step per index: open the select box (untimed), then time the click on the option."""
    out = []
    for i in indices:
        option = open_select(tab, key).nth(i)
        out.append(tab.step(option.click))
    return out


def add(rows: list, condition: str, what: str, results, target: str = "", note: str = "") -> None:
    row = Row(condition, what, [r[0] for r in results], [r[1] for r in results], target, note,
              [r[3] for r in results], [r[4] for r in results], [r[2] for r in results])
    rows.append(row)
    print(f"  {what}: {row.total:.2f} s (server {row.script:.2f} s, until the run starts "
          f"{row.median(row.waits):.2f} s, drawing after it {row.median(row.draws):.2f} s, "
          f"{row.median(row.sent):.2f} MB sent, n={len(row.times)})",
          flush=True)


def measure(condition: str, browser, tmp: Path, env: dict, pages: list[str], repeats: int,
            second_checkpoint: str) -> list[Row]:
    rows: list[Row] = []
    server = Server(tmp, env)
    try:
        rows.append(Row(condition, "cold start: process start → server answers", [server.start_s], [], "",
                        note="imports Streamlit; torch is imported by the first page"))
        print(f"  server up in {server.start_s:.2f} s", flush=True)
        # a newcomer's browser: the first page loads the frontend (nothing cached), the others are
        # reached through the app's own links (no reload), as a person clicks through the menu
        tab = Tab(browser, server)
        first = pages[0]
        add(rows, condition, f"{PAGES[first][1]}: first visit, new browser", [tab.open(PAGES[first][0])],
            target="first" if first != "compare" else "", note="loads the frontend; the server's first imports")
        for round_ in ("first", "second"):
            for name in pages:
                path, label = PAGES[name]
                try:
                    page_block(rows, condition, tab, name, round_, first, repeats, second_checkpoint)
                except Exception as err:  # noqa: BLE001 - one page that does not draw does not lose the others
                    print(f"  {label}, {round_} visit: FAILED: {err}", flush=True)
                    reason = " ".join(str(err).split())[:120]
                    rows.append(Row(condition, f"{label}: {round_} visit or its steps", [float("nan")], [], "",
                                    f"failed: {reason}"))
                    tab.close()
                    tab = Tab(browser, server)
                    tab.open(PAGES[first][0])
        tab.close()
        tab = Tab(browser, server)
        add(rows, condition, f"{PAGES[first][1]}: reload in a new browser (server warm)", [tab.open(PAGES[first][0])])
        tab.close()
    finally:
        server.stop()
    return rows


def page_block(rows, condition, tab, name, round_, first, repeats, second_checkpoint) -> None:
    """One visit of page ``name`` (through the menu) and, on the first round, its widget steps."""
    path, label = PAGES[name]
    if not (round_ == "first" and name == first):
        target = "first" if (name == "compare") == (round_ == "second") else ""
        add(rows, condition, f"{label}: {round_} visit (menu link)", [tab.step(lambda: tab.follow(label))],
            target=target)
    if round_ == "second":
        return
    if name == "encoding":
        add(rows, condition, "Encoding lab: σ slider, one step",
            slider_steps(tab, "enc_sigma", repeats), target="step")
        add(rows, condition, "Encoding lab: heatmap size, one step",
            slider_steps(tab, "enc_hm", repeats, reset="Home"), target="step")
    elif name == "dataset":
        add(rows, condition, "Dataset browser: sample (select box)",
            choose_steps(tab, "ds_detail-", list(range(1, repeats + 1))), target="step")
    elif name == "compare":
        add(rows, condition, "Compare: sort by decoder (select box, fragment)",
            choose_steps(tab, "cmp_sort", [i % 4 for i in range(repeats)]), target="step")
        switch = pick(tab, "cmp_checkpoint", second_checkpoint)
        add(rows, condition, "Compare: switch checkpoint, first time (evaluates 100 images)", [switch],
            note="progress bar while it runs")
        toggles = [pick(tab, "cmp_checkpoint", "shipped" if i % 2 == 0 else second_checkpoint) for i in range(repeats)]
        add(rows, condition, "Compare: switch checkpoint, already evaluated", toggles, target="step")


def make_checkpoint_run(runs: Path) -> str:
    """A finished tiny run (synthetic faces, 1 epoch) whose best.pt is the second checkpoint
    of the Compare page. Returns the text of its select-box option."""
    from lmkviz import jobs
    from lmkviz.training.config import PRESETS

    config = replace(PRESETS["quick-demo"], name="bench-second", epochs=1, limit_train=16, limit_val=8,
                     input_size=64)
    path = jobs.start(config, runs)
    deadline = time.time() + 600
    while jobs.run_info(path).state in ("queued", "running"):
        if time.time() > deadline:
            jobs.stop(path)
            raise RuntimeError(f"the tiny run {path} did not finish in 600 s")
        time.sleep(0.5)
    if not (path / "best.pt").is_file():
        raise RuntimeError(f"the tiny run {path} ended without best.pt:\n{(path / 'output.log').read_text()[-2000:]}")
    return "bench-second · best"


def load_job(runs: Path) -> Path:
    """The training load: the Train page's quick demo, long enough to outlast the measurement."""
    from lmkviz import jobs
    from lmkviz.training.config import PRESETS

    path = jobs.start(replace(PRESETS["quick-demo"], name="bench-load", epochs=500), runs)
    deadline = time.time() + 600
    while jobs.run_info(path).state != "running" or not (path / "metrics.jsonl").exists():
        if time.time() > deadline or jobs.run_info(path).state not in ("queued", "running"):
            raise RuntimeError(f"the training job did not start:\n{(path / 'output.log').read_text()[-2000:]}")
        time.sleep(0.5)
    return path


def niceness(pid: int) -> str:
    try:
        return str(os.getpriority(os.PRIO_PROCESS, pid))
    except (OSError, AttributeError):
        return "?"


def loadavg() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


# ----------------------------------------------------------------------------- report

def table(rows: list[Row], markdown: bool) -> str:
    head = ["condition", "what", "s (median)", "min", "max", "n", "server s", "server share", "MB sent", "until run s",
            "drawing s", "target"]
    body = []
    fmt2 = lambda v: f"{v:.2f}" if v == v else ""  # noqa: E731
    for r in rows:
        share = r.script / r.total if r.server and r.total > 0 else float("nan")
        body.append([r.condition, r.what + (f" ({r.note})" if r.note else ""), f"{r.total:.2f}",
                     f"{min(r.times):.2f}" if len(r.times) > 1 else "", f"{max(r.times):.2f}" if len(r.times) > 1 else "",
                     str(len(r.times)), f"{r.script:.2f}" if r.server else "",
                     f"{share:.0%}" if share == share else "", fmt2(r.median(r.sent)), fmt2(r.median(r.waits)),
                     fmt2(r.median(r.draws)),
                     r.verdict()])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * 9 + "---|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda row: "  ".join(x.ljust(w) if i < 2 or i == 11 else x.rjust(w) for i, (x, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(row) for row in body])


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:  # the timed server (started by Server)
        serve(argv[1], argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="steps per widget (median; default 7)")
    parser.add_argument("--pages", nargs="+", choices=list(PAGES), default=list(PAGES),
                        help="pages to visit, in this order (default: all)")
    parser.add_argument("--conditions", nargs="+", choices=["idle", "training"], default=["idle", "training"])
    parser.add_argument("--quick", action="store_true", help="5 steps per widget")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else max(5, args.repeats)
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (set LMKVIZ_CHROMIUM)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the app (ui/__init__.py) and its jobs
    sys.path.insert(0, str(REPO_ROOT))
    import torch

    rows: list[Row] = []
    notes = [f"torch {torch.__version__}, {os.cpu_count()} CPUs, Chromium headless, "
             f"data: {'$LMKVIZ_DATA' if os.environ.get('LMKVIZ_DATA') else 'synthetic faces (embedded)'}"]
    with tempfile.TemporaryDirectory(prefix="lmkviz-bench-") as tmp_name:
        tmp = Path(tmp_name)
        runs = tmp / "runs"
        os.environ["LMKVIZ_RUNS"] = str(runs)  # the tiny runs and the app's server see the same folder
        env = {"LMKVIZ_RUNS": str(runs), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        second = make_checkpoint_run(runs) if "compare" in args.pages else ""
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                for condition in args.conditions:
                    job = None
                    if condition == "training":
                        job = load_job(runs)
                        pid = json.loads((job / "status.json").read_text())["pid"]
                        notes.append(f"training: quick-demo job (pid {pid}) at niceness {niceness(pid)}")
                    print(f"{condition}: load average {loadavg()}", flush=True)
                    started = time.time()
                    try:
                        rows += measure(condition, browser, tmp, env, args.pages, repeats, second)
                    finally:
                        if job is not None:
                            from lmkviz import jobs

                            steps = [r for r in (json.loads(line) for line in (job / "metrics.jsonl").read_text().splitlines()
                                                 if line.strip()) if r.get("kind") == "step"]
                            jobs.stop(job)
                            notes.append(f"training: {len(steps)} logged steps in {time.time() - started:.0f} s "
                                         "while measuring")
                    notes.append(f"{condition}: load average (1/5/15 min) {loadavg()} at the end, "
                                 f"{time.time() - started:.0f} s")
            finally:
                browser.close()
    print()
    for note in notes:
        print(("- " if args.markdown else "") + note)
    print()
    print(table(rows, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
