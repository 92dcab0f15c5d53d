"""Load what the other pages need in the background, once the first page has drawn.

A page's first visit on a fresh server pays for its imports: torch (about 2 s on a quiet
2-core machine), torchvision with ``torch._dynamo`` (several more), OpenCV, the model code.
The home page calls :func:`start` after it has drawn: one thread of the server imports
:data:`MODULES` while the visitor reads, at a lower CPU priority than the server's other
threads (Linux: niceness of this thread only), so the first visit of the Train, Compare or
Upload page finds them loaded. Every page calls :func:`wait` first (``ui.common.setup_page``):
a page does not import while the warm-up does, so two threads never hold parts of the same
import cycle (Python would break such a deadlock by failing one of the imports); the thread
gets its normal priority back while a page waits for it. An import that fails is left for the page that needs it to
report. ``LMKVIZ_WARMUP=0`` turns it off (the tests that time a cold page do).
"""

from __future__ import annotations

import importlib
import os
import threading
import time

MODULES = (
    "torch",
    "lmkviz.decoding",
    "lmkviz.labs",
    "lmkviz.models",
    "lmkviz.training.build",
    "lmkviz.inference",
    "lmkviz.evaluation",
    "cv2",
)
"""Imported in this order; the first ones serve the most pages."""

NICE = 10
"""Niceness of the warm-up thread (the server's own threads keep theirs)."""

_lock = threading.Lock()
_state: dict = {"thread": None, "done": [], "failed": {}, "seconds": None}


def enabled() -> bool:
    """False when ``$LMKVIZ_WARMUP`` is 0 / false / no / off."""
    return os.environ.get("LMKVIZ_WARMUP", "1").strip().lower() not in ("0", "false", "no", "off")


def start(modules: tuple[str, ...] = MODULES) -> bool:
    """Start the warm-up thread once per server process; True if this call started it."""
    if not enabled():
        return False
    with _lock:
        if _state["thread"] is not None:
            return False
        thread = threading.Thread(target=_run, args=(tuple(modules),), name="lmkviz-warmup", daemon=True)
        _state["thread"] = thread
    thread.start()
    return True


def wait(timeout: float | None = None) -> bool:
    """Block until the warm-up thread has finished (at once when none runs); True if it has.
    The thread's priority is raised back first, so that a waiting page is not slowed by it."""
    thread = _state["thread"]
    if thread is None or not thread.is_alive():
        return True
    _state["hurry"] = True
    native = getattr(thread, "native_id", None)
    if native is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, native, os.getpriority(os.PRIO_PROCESS, 0))
        except (AttributeError, OSError):
            pass  # without the right to raise a priority the thread finishes at its own pace
    thread.join(timeout)
    return not thread.is_alive()


def status() -> dict:
    """What the warm-up has done: {"started", "running", "done": [...], "failed": {module: error},
    "seconds"} (seconds: its total time, once finished)."""
    thread = _state["thread"]
    return {"started": thread is not None, "running": bool(thread and thread.is_alive()),
            "done": list(_state["done"]), "failed": dict(_state["failed"]), "seconds": _state["seconds"]}


def _lower_priority() -> None:
    if _state.get("hurry"):
        return
    try:  # on Linux a thread id names one thread: the server's other threads keep their priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):
        pass


def _run(modules: tuple[str, ...]) -> None:
    _lower_priority()
    begin = time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
            _state["done"].append(name)
        except Exception as err:  # noqa: BLE001 - the page that needs the module says what went wrong
            _state["failed"][name] = f"{type(err).__name__}: {err}"
    _state["seconds"] = time.perf_counter() - begin
