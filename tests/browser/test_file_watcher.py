"""A newcomer's checkout: a virtualenv inside the project folder must not flood the server log.

Streamlit's default file watcher puts a recursive inotify watch on the folder of app.py;
with ``python -m venv .venv`` inside the checkout, installing packages (or a training job
writing into runs/) floods it ("Inotify queue overflowed", a log of megabytes).
``.streamlit/config.toml`` makes it poll the app's own source files instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import REPO_ROOT, _free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUIET_LOG_BYTES = 2000  # a clean start and stop prints a few lines (~300 bytes)


def _copy_project(dest):
    for name in ("app.py", "pages", "ui", "lmkviz", ".streamlit", "checkpoints"):
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "default-run"))
        else:
            shutil.copy2(src, dest / name)


def _fill_venv(root, packages: int, files: int, tag: str) -> None:
    """A virtualenv-like tree: ``packages`` folders of ``files`` small modules each."""
    for i in range(packages):
        folder = root / ".venv" / "lib" / "python3.11" / "site-packages" / f"pkg{i}" / "sub"
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(files):
            (folder / f"{tag}{j}.py").write_text("x = 1\n")


def _inotify_watches(pid: int) -> int:
    """Number of inotify watches a process holds (Linux: ``inotify wd:`` lines of /proc/PID/fdinfo)."""
    count = 0
    for info in (Path("/proc") / str(pid) / "fdinfo").glob("*"):
        try:
            count += info.read_text().count("inotify wd:")
        except OSError:
            continue
    return count


@pytest.mark.skipif(not Path("/proc/self/fdinfo").exists(), reason="reads Linux's /proc")
def test_a_virtualenv_inside_the_checkout_leaves_the_log_quiet(tmp_path, browser):
    project = tmp_path / "checkout"
    project.mkdir()
    _copy_project(project)
    _fill_venv(project, packages=1500, files=1, tag="a")
    port = _free_port()
    log_path = tmp_path / "streamlit.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", LMKVIZ_RUNS=str(tmp_path / "runs"))
    with open(log_path, "wb") as log:
        # the project's own settings: no --server.fileWatcherType on the command line
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                 "--server.port", str(port)], cwd=project, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert time.time() < deadline and proc.poll() is None, log_path.read_text(errors="replace")
                time.sleep(0.5)
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"http://localhost:{port}")
        page.get_by_text("explained and explorable").first.wait_for(timeout=120_000)  # a session runs: files watched
        page.wait_for_timeout(10_000)  # the watchers are in place once the first run has finished
        watches = _inotify_watches(proc.pid)
        _fill_venv(project, packages=1500, files=20, tag="b")  # "pip install" writing 30,000 files
        page.wait_for_timeout(3000)
        context.close()
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    # one inotify watch per folder of the checkout (3,000+ here) is what floods; polling needs none
    assert watches < 100, f"the server watches {watches} folders with inotify"
    text = log_path.read_text(errors="replace")
    assert "Inotify" not in text and "Warning" not in text and "Traceback" not in text, text[-2000:]
    assert len(text.encode()) < QUIET_LOG_BYTES, text[-2000:]
