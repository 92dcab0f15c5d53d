"""A LaPa download that runs in a background thread and outlives Streamlit reruns.

:class:`DownloadTask` wraps :func:`lmkviz.data.download.download_lapa` (progress
callback, cancel event, plain error messages); :func:`lapa_download` returns the
one task of this server process (a resource cache), so every rerun and every
browser tab sees the same download and its progress.
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

    def start(self) -> None:
        """Start the download unless one is running."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._cancel = threading.Event()
        self._started = time.monotonic()
        with self._lock:
            self._state = DownloadState("running", message="connecting to Google Drive…")
        self._thread = threading.Thread(target=self._run, name="lapa-download", daemon=True)
        self._thread.start()

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
            self._set(state=state, message=str(err))
        except Exception as err:  # noqa: BLE001 - shown to the user instead of a silent dead thread
            self._set(state="failed", message=f"unexpected error: {type(err).__name__}: {err}")
        else:
            self._set(state="done", result=str(Path(path)), message=f"LaPa is ready in {path}")


@st.cache_resource(show_spinner=False)
def lapa_download(dest: str = DOWNLOAD_DIR) -> DownloadTask:
    """The server-wide LaPa download task for ``dest``."""
    return DownloadTask(dest)
