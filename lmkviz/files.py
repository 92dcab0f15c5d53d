"""Writing files so that a kill, a power cut or a full disk never leaves half a file.

    atomic_write_bytes(path, data)        # the old file or the new one, never a mix
    remove_stale_temp_files(folder)       # the temporary files of writers that were killed

This module imports only the standard library (the job queue's waiting process uses
it without loading torch).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import time
from pathlib import Path
from typing import Union

from lmkviz.faults import kill_point

__all__ = ["atomic_write_bytes", "remove_stale_temp_files", "is_disk_full", "TEMP_PATTERN"]

PathLike = Union[str, os.PathLike]

TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)-)?(?P<token>[0-9a-f]{8})\.tmp$")
"""Names of the temporary files of :func:`atomic_write_bytes`: ``.NAME.<pid>-<random>.tmp``
(files written before the pid was part of the name: ``.NAME.<random>.tmp``)."""

LEGACY_TEMP_AGE_S = 3600.0
"""A temporary file without its writer's pid in the name counts as orphaned after this long."""


def is_disk_full(err: BaseException) -> bool:
    """True for the errors of a full disk or an exhausted quota (ENOSPC, EDQUOT)."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a kill) never sees half a file.

    The bytes go to a temporary file ``.NAME.<pid>-<random>.tmp`` in the same folder,
    are flushed to disk and renamed over ``path`` (``os.replace`` is atomic on POSIX
    and Windows); then the folder itself is flushed (POSIX), so that the new name
    survives a power cut too. A write that fails (a full disk) removes its temporary
    file; one whose process is killed leaves it behind, and
    :func:`remove_stale_temp_files` removes it later (the pid in its name tells that
    its writer is gone). The file gets the usual permissions (0666 minus the current
    umask, applied by the operating system), not the private 0600 of ``tempfile``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        kill_point(f"tmp:{path.name}")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: PathLike) -> None:
    """Flush a folder's entries to disk (POSIX; a no-op on Windows, which cannot open folders)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as err:  # some file systems cannot sync a folder; the rename is done anyway
        if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def remove_stale_temp_files(folder: PathLike) -> list[str]:
    """Delete the temporary files that killed writers left in ``folder``; returns their names.

    A file named ``.NAME.<pid>-<random>.tmp`` is removed when process ``pid`` is gone
    (a live process of that pid may be writing it, so it stays); an older
    ``.NAME.<random>.tmp`` when it is more than an hour old. Other files are never
    touched. Errors (a file that vanished, a read-only folder) are ignored.
    """
    from lmkviz.procs import pid_exists

    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = TEMP_PATTERN.match(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            pid = match.group("pid")
            if pid is not None:
                if pid_exists(int(pid)):
                    continue
            elif now - entry.stat(follow_symlinks=False).st_mtime < LEGACY_TEMP_AGE_S:
                continue
            os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:
            continue
    return removed
