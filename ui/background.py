"""A LaPa download that runs in a background thread and outlives Streamlit reruns.

:class:`DownloadTask` wraps :func:`lmkviz.data.download.download_lapa` (progress
callback, cancel event, plain error messages); :func:`lapa_download` returns the
one task of this server process (a resource cache), so every rerun and every
browser tab sees the same download and its progress. It is a job of the server,
not of one tab: each snapshot says when it started and from which browser session
(:func:`ui.common.session_token`), and a finished one can be dismissed from any tab.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import streamlit as st

DOWNLOAD_DIR = "data"
"""Where LaPa goes (``data/LaPa``), a folder the dataset discovery searches."""


@dataclass(frozen=True)
class DownloadState:
    """A snapshot: state is "idle", "running", "done", "failed" or "cancelled"."""

    state: str
    done: int = 0
    total: int = 0
    message: str = ""
    result: Optional[str] = None
    elapsed: float = 0.0
    started_at: float = 0.0
    """wall-clock time (``time.time()``) of the start; 0 before the first start"""
    started_by: str = ""
    """the :func:`ui.common.session_token` of the browser session that started it"""
    finished_at: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def megabytes(self) -> tuple[float, float]:
        """(done, total) in MB."""
        return self.done / 1e6, self.total / 1e6


class DownloadTask:
    """One background download of LaPa into ``dest`` (thread-safe snapshots)."""

    def __init__(self, dest: str = DOWNLOAD_DIR):
        self.dest = dest
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._state = DownloadState("idle")
        self._started = 0.0

    def snapshot(self) -> DownloadState:
        with self._lock:
            state = self._state
        if state.state == "running":
            return DownloadState(**{**state.__dict__, "elapsed": time.monotonic() - self._started})
        return state

    def _set(self, **changes) -> None:
        with self._lock:
            self._state = DownloadState(**{**self._state.__dict__, **changes})

    def start(self, by: str = "") -> None:
        """Start the download unless one is running; ``by`` names who started it (a session token)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._cancel = threading.Event()
        self._started = time.monotonic()
        with self._lock:
            self._state = DownloadState("running", message="connecting to Google Drive…", started_at=time.time(),
                                        started_by=by)
        self._thread = threading.Thread(target=self._run, name="lapa-download", daemon=True)
        self._thread.start()

    def dismiss(self) -> bool:
        """Forget a finished download (done, failed or cancelled) for every browser session;
        False (and nothing changes) while it runs."""
        with self._lock:
            if self._state.state not in ("done", "failed", "cancelled"):
                return False
            self._state = DownloadState("idle")
        return True

    def cancel(self) -> None:
        """Ask the download to stop (the partial file is kept for a later resume)."""
        self._cancel.set()

    def _progress(self, done: int, total: int) -> None:
        self._set(done=int(done), total=int(total), message="downloading")

    def _run(self) -> None:
        from lmkviz.data import download as dl

        try:
            path = dl.download_lapa(self.dest, quiet=True, progress=self._progress, cancel=self._cancel)
        except dl.DownloadError as err:
            state = "cancelled" if self._cancel.is_set() else "failed"
            self._set(state=state, message=str(err), finished_at=time.time())
        except Exception as err:  # noqa: BLE001 - shown to the user instead of a silent dead thread
            self._set(state="failed", message=f"unexpected error: {type(err).__name__}: {err}", finished_at=time.time())
        else:
            self._set(state="done", result=str(Path(path)), message=f"LaPa is ready in {path}", finished_at=time.time())


@st.cache_resource(show_spinner=False)
def lapa_download(dest: str = DOWNLOAD_DIR) -> DownloadTask:
    """The server-wide LaPa download task for ``dest``."""
    return DownloadTask(dest)


def started_text(state: DownloadState, me: str) -> str:
    """Who started a download and when: "started 14:02:11 in this browser session" or "… in another
    browser session (a tab or a person using the same server)", with the end time once finished."""
    from datetime import datetime

    if not state.started_at:
        return ""
    who = "this browser session" if state.started_by and state.started_by == me else "another browser session"
    text = f"started {datetime.fromtimestamp(state.started_at):%d %b %H:%M:%S} in {who}"
    if state.finished and state.finished_at:
        text += f", ended {datetime.fromtimestamp(state.finished_at):%H:%M:%S}"
    return text


STATE_WORDS = {"running": "running", "done": "done", "failed": "failed", "cancelled": "cancelled"}


def download_job(task: DownloadTask, me: str) -> None:
    """The LaPa download as a job card: state, who started it and when, its message; Cancel while
    it runs, Dismiss once it has finished. ``me``: this session's :func:`ui.common.session_token`."""
    state = task.snapshot()
    if state.state in ("idle", "running"):
        return
    with st.container(border=True):
        c = st.columns([3, 1], vertical_alignment="center")
        c[0].markdown(f"**LaPa download** · {STATE_WORDS.get(state.state, state.state)}")
        c[0].caption(started_text(state, me))
        if c[1].button("Dismiss", key="ds_dismiss_download", icon=":material/close:",
                       help="Clear this finished download from the Get data tab of every browser session"):
            task.dismiss()
            st.rerun()
        if state.state == "failed":
            st.error(f"The download failed: {state.message}")
        elif state.state == "cancelled":
            st.warning(state.message)
        else:
            st.success(state.message)
