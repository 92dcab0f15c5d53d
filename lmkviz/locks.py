"""Exclusive locks held by a process until it ends: one training process per run folder, one
job per device.

:class:`ProcessLock` is a POSIX record lock (``fcntl.lockf``) on a small file. The
operating system releases it when the holding process ends, however it ends (even
SIGKILL), and it is not inherited by forked children (data-loading workers), so a
killed job frees its lock at once. It survives ``exec``: the job queue's waiting
process (:mod:`lmkviz.waiter`) takes the locks, then replaces itself by the training
process, which keeps them. The lock file holds the holder's pid and start time, for
messages.

Within one process a lock is re-entrant (a registry counts the holders), because a
POSIX lock belongs to the process and closing any descriptor of the file would drop
it. On systems without ``fcntl`` (Windows) locks always succeed and nothing is
excluded.

This module imports only the standard library.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Optional, Union

from lmkviz import procs

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["ProcessLock", "LOCKS_WORK"]

LOCKS_WORK = fcntl is not None
"""False where locks cannot be taken (then every acquire succeeds)."""

_registry: dict[str, list] = {}  # real path -> [fd, holders] of the locks this process holds
_registry_lock = threading.Lock()


def _key(path: Path) -> str:
    return os.path.join(os.path.realpath(path.parent), path.name)


class ProcessLock:
    """An exclusive, non-blocking lock on ``path`` (created when missing) for this process."""

    def __init__(self, path: Union[str, os.PathLike]):
        self.path = Path(path)
        self._held = False

    def __repr__(self) -> str:
        return f"ProcessLock({str(self.path)!r}, held={self._held})"

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        """Take the lock; False when another process holds it. OSError when the file cannot
        be created (a read-only or missing folder)."""
        if self._held:
            return True
        if fcntl is None:
            self._held = True
            return True
        key = _key(self.path)
        with _registry_lock:
            entry = _registry.get(key)
            if entry is not None:
                entry[1] += 1
                self._held = True
                return True
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            try:  # who holds it, for messages; a full disk does not matter here
                note = f"{os.getpid()} {procs.start_time(os.getpid())}\n".encode()
                os.ftruncate(fd, 0)
                os.pwrite(fd, note, 0)
            except OSError:
                pass
            _registry[key] = [fd, 1]
            self._held = True
            return True

    def release(self) -> None:
        """Give the lock up (the process's last holder closes the file, which frees it)."""
        if not self._held:
            return
        self._held = False
        if fcntl is None:
            return
        key = _key(self.path)
        with _registry_lock:
            entry = _registry.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del _registry[key]
                os.close(entry[0])

    def keep_across_exec(self) -> None:
        """Let the lock survive ``os.exec*`` of this process (its descriptor stays open)."""
        if fcntl is None or not self._held:
            return
        entry = _registry.get(_key(self.path))
        if entry is not None:
            os.set_inheritable(entry[0], True)

    def held_elsewhere(self) -> bool:
        """True when another live process holds the lock (checked without keeping it)."""
        if fcntl is None or self._held:
            return False
        key = _key(self.path)
        with _registry_lock:
            if key in _registry:
                return False  # this process holds it
            try:
                fd = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
            except FileNotFoundError:
                return False
            except OSError:
                return False
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            finally:
                os.close(fd)  # frees the probe's lock (this process held no other)
            return False

    def holder(self) -> Optional[int]:
        """The pid written by the process that holds (or last held) the lock, if readable."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").split()
            return procs.valid_pid(int(text[0])) if text else None
        except (OSError, ValueError):
            return None

    def __enter__(self) -> "ProcessLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
