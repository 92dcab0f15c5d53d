"""The job queue's waiting process: waits for a job's turn without loading torch.

A background job (:func:`lmkviz.jobs.start`) is started as::

    python -m lmkviz.waiter train --run-dir RUN --queue

This small process (the standard library and :mod:`lmkviz.runs` only: about 20 MB
instead of the 500 MB of a process that has imported torch) takes the run's lock
(one process per run folder), waits until the job's device is free and the jobs
queued before it on that device have started, then replaces itself (``exec``) by
``python -m lmkviz train --run-dir RUN --queue``, keeping its pid and its locks. The
job's pid is therefore the same while it waits and while it trains, and closing the
app changes nothing.

:func:`wait_for_turn` is the waiting itself, also used in-process by ``lmkviz train
--queue`` run by hand.

Priority: the waiting process first lowers its own CPU priority to the niceness in
``$LMKVIZ_JOB_NICE`` (default 10; POSIX only, see :func:`lower_priority`), and the
training process it becomes keeps it, so that the app's page runs go first on a CPU
shared with training. Idle cores still go to the job: niceness only decides who waits
when both want the same core.

Queue order: jobs on the same device start in the order of their ``queued_at``;
a queued job whose process is gone is skipped. The device slot is a
:class:`lmkviz.locks.ProcessLock` on ``RUNS/.locks/<device>.lock``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from lmkviz import procs
from lmkviz.locks import ProcessLock
from lmkviz.runs import RunFolder, validate_status

__all__ = ["DeviceSlot", "Lease", "RunBusy", "wait_for_turn", "slot_of_device", "main", "LEASE_ENV", "NICE_ENV",
           "DEFAULT_NICE", "job_niceness", "lower_priority"]

LEASE_ENV = "LMKVIZ_LEASE"
"""Set by the waiting process for the training process it becomes: the run folder whose
locks this process already holds (its turn has come; it does not wait again)."""


NICE_ENV = "LMKVIZ_JOB_NICE"
"""The niceness of background jobs (0 to 19; 0 keeps the priority of the process that started them)."""

DEFAULT_NICE = 10
"""Niceness 10: when the app and a job want the same core, the kernel gives the app about
nine tenths of it (Linux CFS weights 1024 against 110)."""


def job_niceness(environ: Optional[dict] = None) -> int:
    """The niceness asked for by ``$LMKVIZ_JOB_NICE`` (default :data:`DEFAULT_NICE`), clamped
    to 0..19. Raises ValueError for a value that is not an integer."""
    raw = (os.environ if environ is None else environ).get(NICE_ENV, "")
    if not raw.strip():
        return DEFAULT_NICE
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"{NICE_ENV}={raw!r} is not an integer; set it to a niceness from 0 (normal "
                         f"priority) to 19 (lowest), or unset it for the default {DEFAULT_NICE}") from None
    return min(19, max(0, value))


def lower_priority(niceness: Optional[int] = None) -> Optional[int]:
    """Raise this process's niceness to ``niceness`` (default :func:`job_niceness`) if it is
    lower; never raises it back up. Returns the niceness now, or None where the system has
    no ``os.nice`` (Windows)."""
    if not hasattr(os, "nice"):
        return None
    target = job_niceness() if niceness is None else niceness
    current = os.nice(0)
    if target > current:
        try:
            current = os.nice(target - current)
        except OSError:  # a sandbox refusing it: the job still runs, at normal priority
            pass
    return current


class RunBusy(ValueError):
    """Another live process already trains (or waits) in this run folder."""


class DeviceSlot(ProcessLock):
    """Exclusive use of one device by one job: a lock on ``RUNS/.locks/<key>.lock``."""

    def __init__(self, runs_root: Path, key: str):
        super().__init__(Path(runs_root) / ".locks" / f"{key}.lock")
        self.key = key

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return super().try_acquire()


class Lease:
    """The locks of a job whose turn has come: its run folder and its device."""

    def __init__(self, run_lock: ProcessLock, slot: Optional[DeviceSlot]):
        self.run_lock = run_lock
        self.slot = slot

    def keep_across_exec(self) -> None:
        self.run_lock.keep_across_exec()
        if self.slot is not None:
            self.slot.keep_across_exec()

    def release(self) -> None:
        if self.slot is not None:
            self.slot.release()
        self.run_lock.release()


def slot_of_device(name: object) -> Optional[str]:
    """The device slot of a config's ``device`` when it can be told without torch
    ("cpu", "mps", "cuda0", ...); None for "auto" and anything else."""
    if not isinstance(name, str):
        return None
    if name in ("cpu", "mps"):
        return name
    if name == "cuda":
        return "cuda0"
    if name.startswith("cuda:") and name[5:].isdigit():
        return f"cuda{int(name[5:])}"
    return None


def _slot_key(run: RunFolder, status: dict) -> str:
    key = status.get("slot")
    if isinstance(key, str) and key.replace("_", "").isalnum():
        return key
    config = {}
    try:
        import json

        config = json.loads(run.config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    key = slot_of_device(config.get("device", "auto") if isinstance(config, dict) else None)
    if key is None:  # "auto": only torch knows (a run folder written without its slot)
        from lmkviz.devices import slot_key

        key = slot_key(config.get("device", "auto") if isinstance(config, dict) else "auto")
    return key


def busy_message(run: RunFolder, lock: ProcessLock) -> str:
    holder = lock.holder()
    who = f"process {holder}" if holder else "another process"
    return (f"{run.path} is already being trained by {who}; only one process may train in a run "
            "folder. Stop that one first (`lmkviz runs stop RUN`, or Stop on the Train page), or wait for it")


def _jobs_ahead(run: RunFolder, key: str, me: float) -> int:
    """How many live jobs queued before ``me`` on slot ``key`` are still waiting."""
    ahead = 0
    try:
        siblings = list(run.path.parent.iterdir())
    except OSError:
        return 0
    for path in siblings:
        if path == run.path or not path.is_dir():
            continue
        try:
            status, _ = validate_status(RunFolder(path).read_status()[0])
        except Exception:  # noqa: BLE001 - one broken folder never stops the queue
            continue
        if status.get("state") != "queued" or status.get("slot") != key:
            continue
        queued_at = status.get("queued_at")
        if not isinstance(queued_at, (int, float)) or queued_at >= me:
            continue
        if procs.same_process(status.get("pid"), status.get("pid_start")):
            ahead += 1
    return ahead


class _Stopped(Exception):
    pass


def wait_for_turn(run: RunFolder, poll: float = 1.0, *, stop_on_signal: bool = False) -> Optional[Lease]:
    """Block until this run may train: its run lock, then its device slot, in queue order.

    Returns the :class:`Lease` (held until this process ends or ``release()``), or None
    when the job was stopped while waiting (STOP file, or SIGTERM with
    ``stop_on_signal``; status "stopped"). Raises :class:`RunBusy` without touching the
    run folder when another live process holds the run lock.

    The status is written when the wait starts and when what it waits for changes,
    not at every poll.
    """
    lock = run.lock()
    if not lock.try_acquire():
        raise RunBusy(busy_message(run, lock))
    status, _ = validate_status(run.status())
    key = _slot_key(run, status)
    slot = DeviceSlot(run.path.parent, key)
    if os.environ.get(LEASE_ENV) == str(run.path):
        # the waiting process that became this one held both locks; take them over
        del os.environ[LEASE_ENV]
        if slot.try_acquire():
            return Lease(lock, slot)
    me = status.get("queued_at") if status.get("state") == "queued" else None
    if not isinstance(me, (int, float)):
        me = time.time()
    old_handler = None
    if stop_on_signal:
        def _on_term(*_):
            raise _Stopped()
        old_handler = signal.signal(signal.SIGTERM, _on_term)
    try:
        run.write_status(state="queued", queued_at=me, slot=key, error=None, waiting_for=None,
                         **procs.identity())
        shown = None
        while True:
            if run.stop_requested():
                raise _Stopped()
            ahead = _jobs_ahead(run, key, me)
            if not ahead and slot.try_acquire():
                return Lease(lock, slot)
            text = f"{key} is busy" + (f" ({ahead} job(s) ahead)" if ahead else "")
            if text != shown:
                try:
                    run.write_status(waiting_for=text)
                except OSError:
                    pass  # a full disk: waiting goes on, the text is cosmetic
                shown = text
            time.sleep(poll)
    except _Stopped:
        slot.release()
        try:
            run.write_final_status(state="stopped", waiting_for=None)
        except OSError:
            pass
        lock.release()
        return None
    except BaseException:
        slot.release()
        lock.release()
        raise
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)


def _run_dir(args: Sequence[str]) -> Optional[str]:
    for flag in ("--run-dir", "--resume"):
        if flag in args:
            i = list(args).index(flag)
            if i + 1 < len(args):
                return args[i + 1]
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m lmkviz.waiter LMKVIZ-ARGS...``: wait for the turn of the run named by
    ``--run-dir`` or ``--resume`` in LMKVIZ-ARGS, then become ``python -m lmkviz
    LMKVIZ-ARGS...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    run_dir = _run_dir(args)
    if not args or run_dir is None:
        print("usage: python -m lmkviz.waiter {train,lr-find} (--run-dir RUN | --resume RUN) ...",
              file=sys.stderr)
        return 2
    try:
        lower_priority()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    run = RunFolder(run_dir)
    try:
        lease = wait_for_turn(run, stop_on_signal=True)
    except RunBusy as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if lease is None:
        return 0
    lease.keep_across_exec()
    env = dict(os.environ, **{LEASE_ENV: str(run.path)})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "lmkviz", *args], env)
    return 1  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
