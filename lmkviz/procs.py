"""Processes of background jobs: who a job is, whether it still runs, and signalling it safely.

A pid alone does not name a process: after the process ends the system hands the
same number to another one. A job is therefore recorded as a pid *and* its start
time (:func:`start_time`: field 22 of ``/proc/<pid>/stat`` on Linux, the ``ps``
start time elsewhere); :func:`same_process` checks both, and :func:`send_signal`
signals only a process that passes that check (through a pidfd on Linux, so that the
process checked is the process signalled).

This module imports only the standard library.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any, Optional, Union

__all__ = ["valid_pid", "start_time", "pid_exists", "identity", "same_process", "send_signal",
           "signal_group", "process_rss_kb"]

StartTime = Union[int, str]

_PID_MAX = 2**22  # Linux's largest pid_max; other systems stay far below


def valid_pid(value: Any) -> Optional[int]:
    """``value`` as a pid lmkviz may ever act on, else None.

    Only an ``int`` (not a bool, a float or text) greater than 1 qualifies: 0 and
    negative numbers name process groups or every process for ``kill``, and 1 is the
    init process.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if not 1 < value <= _PID_MAX:
        return None
    return value


def _proc_stat(pid: int) -> Optional[list[str]]:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 onwards), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _has_proc() -> bool:
    return os.path.isdir("/proc/self")


def _windows_creation_time(pid: int) -> Optional[int]:
    """Windows: the creation time of a live process (100 ns units), None when it has ended.
    (``os.kill`` cannot ask there: any signal terminates the process.)"""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return None
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value != 259:  # STILL_ACTIVE
            return None
        times = [wintypes.FILETIME() for _ in range(4)]
        if not kernel32.GetProcessTimes(handle, *(ctypes.byref(t) for t in times)):
            return None
        return (times[0].dwHighDateTime << 32) | times[0].dwLowDateTime
    finally:
        kernel32.CloseHandle(handle)


def start_time(pid: Any) -> Optional[StartTime]:
    """When process ``pid`` started, as an opaque value that differs between two processes
    that had the same pid; None when there is no such process (or no way to tell).

    Linux: field 22 of ``/proc/<pid>/stat`` (clock ticks after boot). Elsewhere the
    ``lstart`` column of ``ps``.
    """
    pid = valid_pid(pid)
    if pid is None:
        return None
    if _has_proc():
        fields = _proc_stat(pid)
        try:
            return int(fields[19]) if fields else None  # field 22 is the 20th after the name
        except (ValueError, IndexError):
            return None
    if sys.platform == "win32":
        return _windows_creation_time(pid)
    try:
        out = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text or None


def _is_zombie(pid: int) -> bool:
    fields = _proc_stat(pid) if _has_proc() else None
    if not fields or fields[0] != "Z":
        return False
    try:  # our own child: reap it
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass
    return True


def pid_exists(pid: Any) -> bool:
    """True when a live (not zombie) process has this pid, whoever it is."""
    pid = valid_pid(pid)
    if pid is None:
        return False
    if sys.platform == "win32":
        return _windows_creation_time(pid) is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    return not _is_zombie(pid)


def identity(pid: Optional[int] = None) -> dict:
    """``{"pid": pid, "pid_start": start time}`` of a process (default: this one), as
    recorded in a run's ``status.json``."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "pid_start": start_time(pid)}


def _cmdline(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None


def same_process(pid: Any, pid_start: Any = None, *, marker: Optional[str] = None) -> bool:
    """True when ``pid`` is still the live process that was recorded with ``pid_start``.

    pid_start: :func:`start_time` when the job was recorded. When it is missing (a run
    folder from before start times were recorded), the process must at least be
    running lmkviz: its command line (Linux) must contain ``marker`` (default
    "lmkviz"); without a way to read command lines such a process is not trusted.
    """
    pid = valid_pid(pid)
    if pid is None or not pid_exists(pid):
        return False
    if pid_start is not None:
        now = start_time(pid)
        return now is not None and now == pid_start
    command = _cmdline(pid)
    if command is None and not _has_proc() and sys.platform != "win32":  # macOS, BSD: ask ps
        try:
            out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                                 timeout=5)
            command = out.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            command = None
    return command is not None and (marker or "lmkviz") in command


def _pidfd(pid: int) -> Optional[int]:
    opener = getattr(os, "pidfd_open", None)
    if opener is None or not hasattr(signal, "pidfd_send_signal"):
        return None
    try:
        return opener(pid)
    except OSError:
        return None


def send_signal(pid: Any, pid_start: Any, sig: int, *, marker: Optional[str] = None) -> bool:
    """Send ``sig`` to ``pid`` only when it is the recorded process (:func:`same_process`);
    True when the signal was sent.

    On Linux the process is pinned with a pidfd before it is checked, so that the pid
    cannot be handed to another process between the check and the signal.
    """
    pid = valid_pid(pid)
    if pid is None:
        return False
    fd = _pidfd(pid)
    try:
        if not same_process(pid, pid_start, marker=marker):
            return False
        try:
            if fd is not None:
                signal.pidfd_send_signal(fd, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    finally:
        if fd is not None:
            os.close(fd)


def signal_group(pid: Any, pid_start: Any, sig: int, *, marker: Optional[str] = None) -> bool:
    """Send ``sig`` to the process group led by ``pid`` (a job and its data-loading
    workers), only when ``pid`` is the recorded process and leads its own group; else to
    the process alone (:func:`send_signal`). True when a signal was sent."""
    pid = valid_pid(pid)
    if pid is None:
        return False
    fd = _pidfd(pid)
    try:
        if not same_process(pid, pid_start, marker=marker):
            return False
        try:
            leads_group = hasattr(os, "killpg") and os.getpgid(pid) == pid
        except OSError:
            leads_group = False
        try:
            if leads_group:
                # the group id cannot be reused while the pinned leader lives
                os.killpg(pid, sig)
            elif fd is not None:
                signal.pidfd_send_signal(fd, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    finally:
        if fd is not None:
            os.close(fd)


def process_rss_kb(pid: Any) -> Optional[int]:
    """Resident memory of a process in KiB (``VmRSS`` from ``/proc/<pid>/status``), None
    when unknown."""
    pid = valid_pid(pid)
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
