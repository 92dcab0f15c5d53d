"""Real-browser fixtures: the app served by ``streamlit run`` and headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``); no browser
is downloaded. Without it these tests skip, except under CI (``CI=true``) where a
missing browser is a failure. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("LMKVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]


# One more try for a browser test that fails: these tests drive a real server and a real
# browser on a shared machine, where a click can land while a page is still busy (Streamlit's
# own end-to-end suite reruns its tests the same way). A failure that repeats still fails,
# and the summary names every rerun test ("R" in the progress line, "rerun" in the counts).
BROWSER_RERUNS = int(os.environ.get("LMKVIZ_BROWSER_RERUNS", "1"))


def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return
    for item in items:
        if "browser" in item.keywords and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=BROWSER_RERUNS, reruns_delay=5))


def _missing(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (browser tests are required under CI)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """A running ``streamlit run app.py`` on localhost."""

    def __init__(self, tmp: Path, env_extra: dict | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runs = tmp / "runs"
        self.log_path = tmp / "streamlit.log"
        env = dict(os.environ)
        env.update({"LMKVIZ_RUNS": str(self.runs), "LMKVIZ_HOME": str(tmp / "lmkviz_home"), "PYTHONUNBUFFERED": "1",
                    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"})
        env.update(env_extra or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"streamlit did not become healthy in 120 s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The app on a free port, with a small LaPa-layout folder "browser_lapa" added in front
    of $LMKVIZ_DATA, so that there is always a dataset to switch to."""
    from conftest import build_lapa_folder  # tests/conftest.py, on sys.path under pytest

    data = tmp_path_factory.mktemp("browser_data")
    build_lapa_folder(data / "browser_lapa", n_per_split=3, size=96, bad_files=False)
    from conftest import shared_datasets_dir

    shared = shared_datasets_dir()  # what the tests see as "the shared data is here", the app sees too
    search = os.pathsep.join(p for p in (str(data), os.environ.get("LMKVIZ_DATA", ""), str(shared or "")) if p)
    server = AppServer(tmp_path_factory.mktemp("app"), env_extra={"LMKVIZ_DATA": search})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_driver():
    """The one Playwright of the test session (its sync API cannot run twice at once: tests
    that need a browser with other flags launch it from this one)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _missing(f"Chromium not found at {CHROMIUM}; install Debian's chromium package")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver):
    b = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


# Streamlit 1.67 marks the app root with data-test-script-state: "initial" until the first
# run starts, "running" / "rerunRequested" during a run (fragment reruns included) and
# "notRunning" afterwards; data-test-connection-state is "CONNECTED" once the websocket is up.
# A finished run is not a finished page: elements whose frontend code is still loading are
# stSkeleton placeholders, and plotly draws its charts asynchronously. The observer below
# counts runs so that a wait after an interaction waits for *that* run, not an earlier one.
# It watches the whole document, not one element: React may replace the app root (after a
# reconnection, for instance), and an observer bound to the old root would count no more
# runs while the page looks idle. A 50 ms poll of the current root backs the records up.
_OBSERVER = """
(() => {
  window.__lmkRuns = 0;
  window.__lmkRoots = 0;
  window.__lmkSends = 0;
  // every message the frontend sends the server (a widget change, a button press, a rerun
  // request) is counted: an action that sent something was not dropped, so it is never repeated
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (...args) { window.__lmkSends += 1; return send.apply(this, args); };
  let last = null, root = null;
  const see = (state) => {
    if (state === 'running' && last !== 'running') window.__lmkRuns += 1;
    last = state;
  };
  const poll = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (app && app !== root) { root = app; window.__lmkRoots += 1; }
    if (app) see(app.getAttribute('data-test-script-state'));
  };
  const watch = () => {
    if (!document.documentElement) { setTimeout(watch, 20); return; }
    // one callback may carry several changes (running -> notRunning): replay them all in order
    new MutationObserver((records) => {
      records.forEach((r, i) => {
        const next = records.slice(i + 1).find(n => n.target === r.target);
        if (next) see(next.oldValue);
      });
      poll();
    }).observe(document.documentElement, {attributes: true, attributeOldValue: true, subtree: true,
                                           attributeFilter: ['data-test-script-state']});
    poll();
    setInterval(poll, 50);
  };
  watch();
})();
"""

IDLE_SCRIPT = """
([minRuns, settleMs]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const idle = app && (window.__lmkRuns || 0) >= minRuns
    && app.getAttribute('data-test-script-state') === 'notRunning'
    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && !document.querySelector('[data-testid="stSkeleton"], [data-testid="stStatusWidgetRunningIcon"]')
    && !document.querySelector('[data-stale="true"]')
    && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'));
  if (!idle) { window.__lmkIdleSince = null; return false; }
  window.__lmkIdleSince = window.__lmkIdleSince || performance.now();
  return performance.now() - window.__lmkIdleSince >= settleMs;
}
"""


# what IDLE_SCRIPT looks at, for the message of a wait that timed out
IDLE_PARTS_SCRIPT = """
() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return {
    runs_seen: window.__lmkRuns || 0, app_roots_seen: window.__lmkRoots || 0,
    script_state: app && app.getAttribute('data-test-script-state'),
    connection_state: app && app.getAttribute('data-test-connection-state'),
    skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
    running_icons: document.querySelectorAll('[data-testid="stStatusWidgetRunningIcon"]').length,
    stale_elements: document.querySelectorAll('[data-stale="true"]').length,
    undrawn_plotly_charts: [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
      .filter(c => !c.querySelector('.main-svg')).length,
  };
}
"""


class AppDriver:
    """A Playwright page pointed at the app, with Streamlit-aware waits and screenshots."""

    def __init__(self, page, server: AppServer):
        self.page = page
        self.server = server
        page.add_init_script(_OBSERVER)

    def open(self, path: str = "/") -> "AppDriver":
        self.page.goto(self.server.url + path, wait_until="domcontentloaded")
        self.wait(min_runs=1)
        return self

    def runs(self) -> int:
        """How many script runs (fragment runs included) this tab has seen start."""
        return int(self.page.evaluate("window.__lmkRuns || 0"))

    def wait(self, timeout: float = 120_000, min_runs: int = 0, settle_ms: int = 400) -> None:
        """Wait until Streamlit has finished running the script and the page has drawn.

        Idle means: at least ``min_runs`` runs seen, state "notRunning", connected, no
        skeleton placeholder, no stale element, every plotly chart drawn, all of it
        unchanged for ``settle_ms``. A timeout fails with the part that was not idle, a
        screenshot (``tests/artifacts/failed_*.png``) and the server's log.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(IDLE_SCRIPT, arg=[min_runs, settle_ms], timeout=timeout, polling=100)
        except PlaywrightTimeout as err:
            self.fail_not_idle(f"the app did not become idle ({err}): at least {min_runs} runs expected")

    def sends(self) -> int:
        """How many messages this tab's frontend has sent the server."""
        return int(self.page.evaluate("window.__lmkSends || 0"))

    def interact(self, action, timeout: float = 120_000, retry_after: float = 20_000) -> None:
        """Run ``action()`` (a click, a key press) and wait for the rerun it triggers.

        If after ``retry_after`` ms no rerun has started and the frontend has sent the
        server nothing, the action was dropped (on a loaded machine a click can land while
        the frontend is still busy) and is repeated once. An action that reached the server
        is never repeated, however long its run takes to start: a second key press would
        turn two pages. A timeout fails with the server's log and a screenshot
        (``tests/artifacts/failed_*.png``).
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        before, sent = self.runs(), self.sends()
        action()
        try:
            self.page.wait_for_function(
                "([n, s]) => (window.__lmkRuns || 0) >= n || (window.__lmkSends || 0) > s",
                arg=[before + 1, sent], timeout=retry_after, polling=100)
        except PlaywrightTimeout:
            action()
        self.wait(timeout=timeout, min_runs=before + 1)

    def select_tab(self, name: str) -> None:
        """Show the tab ``name`` (a keyed tab reruns the script when it changes; the tab
        already shown is left as it is, since clicking it sends nothing)."""
        tab = self.page.get_by_role("tab", name=name)
        tab.wait_for()
        if tab.get_attribute("aria-selected") == "true":
            self.wait()
            return
        self.interact(lambda: tab.click())
        assert tab.get_attribute("aria-selected") == "true", f"the tab {name!r} did not open"

    def choose(self, box, option: str, attempts: int = 6, timeout: float = 120_000, type_it: bool = False) -> None:
        """Pick the first option containing ``option`` from the select box ``box`` (a locator)
        and wait for the rerun (up to ``timeout`` ms).

        Opening the list and clicking the option are one step, repeated as a whole: a rerun
        that lands between the two can close the list under the pointer. ``type_it`` types
        the text into the box first (long lists are virtual: unlisted options are not there).
        """
        choice = self.page.get_by_role("option").filter(has_text=option).first
        for attempt in range(attempts):
            self.wait(timeout=timeout)
            before, sent = self.runs(), self.sends()
            box.click()
            try:
                if type_it:
                    self.page.keyboard.type(option)
                choice.wait_for(timeout=15_000)
                choice.click(timeout=10_000)
            except Exception:  # noqa: BLE001 - the list closed or never opened: try again
                if self.sends() > sent:  # the choice reached the server after all
                    break
                self.page.keyboard.press("Escape")
                if attempt == attempts - 1:
                    raise
                continue
            break
        self.wait(timeout=timeout, min_runs=before + 1)

    def idle_parts(self) -> dict:
        """The parts of the idle condition, as the page has them now."""
        try:
            return self.page.evaluate(IDLE_PARTS_SCRIPT)
        except Exception as err:  # noqa: BLE001 - a report, the failure follows anyway
            return {"error": str(err)}

    def fail_not_idle(self, what: str) -> None:
        """Fail a wait with what was not idle first (the server log can be long), then a
        screenshot and the server log."""
        parts = self.idle_parts()
        shot = self.screenshot("failed_" + (self.page.url.rsplit("/", 1)[-1].split("?")[0] or "home"))
        raise AssertionError(f"{what}; the page now: {parts}; url {self.page.url}; screenshot {shot}\n"
                             f"{self.server.log()}") from None

    def assert_no_exception(self) -> None:
        boxes = self.page.locator('[data-testid="stException"]')
        assert boxes.count() == 0, boxes.first.inner_text()[:2000] + "\n" + self.server.log()

    def screenshot(self, name: str) -> Path:
        """Save the whole page (Streamlit scrolls inside its main container, so the
        viewport is stretched to the content's height first) to tests/artifacts/NAME.png."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page = self.page
        size = page.viewport_size
        height = page.evaluate(
            "() => Math.max(...['stMain', 'stSidebarContent'].map(id => "
            "(document.querySelector(`[data-testid=${id}]`) || {scrollHeight: 0}).scrollHeight))")
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), 12000))})
        try:
            page.wait_for_timeout(300)
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size(size)
        return path


@pytest.fixture
def app(page, app_server):
    """Drive the app in a fresh browser tab: ``app.open("/Encoding_lab")``."""
    return AppDriver(page, app_server)
