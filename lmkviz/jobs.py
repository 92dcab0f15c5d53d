"""Background training jobs: separate OS processes that outlive the browser.

A job is started as ``python -m lmkviz.waiter train --run-dir RUN --queue`` in its
own process group (``start_new_session``), with its output in ``RUN/output.log``.
That small process (no torch) waits for the job's turn, then becomes the training
process ``python -m lmkviz train ...`` (same pid; see :mod:`lmkviz.waiter`). A job
keeps running when the browser tab closes or the Streamlit server restarts. Jobs run
at a lower CPU priority: niceness ``$LMKVIZ_JOB_NICE``, default 10 (POSIX; see
:func:`lmkviz.waiter.lower_priority`), so that the app stays responsive beside them.
Everything about a job is in its run folder (see :mod:`lmkviz.runs`), so
:func:`list_runs` rediscovers all jobs from the runs folder alone.

Queueing: by default at most one job runs per device (one per GPU, one on the
CPU). A job started while another holds its device waits in state ``queued``;
jobs start in the order they were queued. The slot is an OS lock
(``RUNS/.locks/<device>.lock``) held by the job's process, so it is released even
when that process is killed. One process at most trains in a run folder (its
``.lock``). (On systems without ``fcntl`` nothing is locked.)

Identity: a job is recorded in ``status.json`` as its pid and the process's start
time (:mod:`lmkviz.procs`). A job whose pid now belongs to another process reads as
not alive, and :func:`stop` signals only the recorded process, only while the run
is queued or running.

A damaged run folder is listed with state "broken" and the reason (:func:`run_info`
never raises), so one bad folder never hides the others.

Every function's ``runs_root`` defaults to :func:`lmkviz.runs.runs_root` (``$LMKVIZ_RUNS``
or ``runs``).

    run = jobs.start(TrainConfig(...))      # -> Path of the run folder
    jobs.list_runs()                        # -> [RunInfo, ...] newest first
    jobs.stop(run); jobs.resume(run); jobs.delete(run)
    jobs.start_lr_find(TrainConfig(...))     # learning-rate range test, lr_find.json
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from lmkviz import procs
from lmkviz.devices import slot_key
from lmkviz.paths import PROJECT_ROOT
from lmkviz.runs import RunFolder, new_run_dir, runs_root as default_runs_root, validate_status
from lmkviz.training.config import TrainConfig
from lmkviz.waiter import DeviceSlot, job_niceness, wait_for_turn  # noqa: F401  (re-exported)

DEAD_MESSAGE = "the training process ended without finishing (killed or crashed); resume to continue"

DISK_FULL_MESSAGE = ("disk full: the process ended while the disk of the run folder had no space left "
                     "(free some space, then resume)")

BROKEN = "broken"
"""The state of a run folder that cannot be read (its :attr:`RunInfo.error` says why)."""


# ----------------------------------------------------------------------------- processes

def pid_alive(pid: object) -> bool:
    """True when ``pid`` is a valid pid (an int > 1) of a live, not zombie, process (whoever
    it is; :func:`job_alive` checks that it is the job). Reaps our own zombies."""
    return procs.pid_exists(pid)


def job_alive(status: dict) -> bool:
    """True when the process recorded in ``status`` (pid and start time) is still running."""
    return procs.same_process(status.get("pid"), status.get("pid_start"))


def _wait_exit(status: dict, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the recorded process to end; True when it has."""
    deadline = time.time() + timeout
    while job_alive(status):
        if time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


def _job_env() -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    # jobs share the CPU with the app and with each other: idle OpenMP threads sleep
    # instead of spinning, so a busy core is not held by a thread that only waits
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # the project root first, so `python -m lmkviz` works without installation
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("LMKVIZ_LEASE", None)
    return env


def _spawn(run: RunFolder, args: list[str], command: str = "train") -> dict:
    """Start ``python -m lmkviz.waiter <command> ...`` detached (it becomes ``python -m lmkviz
    <command> ...`` when its turn comes), output appended to output.log; returns its
    identity ({"pid", "pid_start"})."""
    cmd = [sys.executable, "-m", "lmkviz.waiter", command, *args]
    with open(run.output_log_path, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=_job_env(), cwd=os.getcwd(),
        )
    return procs.identity(proc.pid)


def device_key(config: TrainConfig) -> str:
    """The device slot a job needs: "cpu", "mps" or "cuda0", "cuda1", ... (see :func:`lmkviz.devices.slot_key`)."""
    return slot_key(config.device)


# ----------------------------------------------------------------------------- runs

@dataclass
class RunInfo:
    """What the UI and ``lmkviz runs`` show about one run folder.

    state: queued, running, done, failed, stopped, or "broken" (the folder cannot be
    read; ``error`` says why). ``status`` holds only the valid fields of status.json.
    """

    path: Path
    name: str
    state: str
    status: dict = field(default_factory=dict)
    config: Optional[TrainConfig] = None
    device: str = "cpu"
    alive: bool = False
    error: Optional[str] = None

    @property
    def task(self) -> str:
        """"train" or "lr_find"."""
        task = self.status.get("task", "train")
        return task if task in ("train", "lr_find") else "train"

    @property
    def progress(self) -> float:
        """Fraction of optimiser steps done, in [0, 1]."""
        total = self.status.get("total_steps")
        if self.state == "done":
            return 1.0
        if not total:
            epochs = self.config.epochs if self.config else 0
            return max(0.0, min(1.0, self.epoch / epochs)) if epochs else 0.0
        return max(0.0, min(1.0, self.status.get("step", 0) / total))

    @property
    def epoch(self) -> int:
        return int(self.status.get("epoch", 0))

    @property
    def eta_s(self) -> Optional[float]:
        return self.status.get("eta_s") if self.state == "running" else None

    @property
    def has_checkpoint(self) -> bool:
        try:
            return (self.path / "last.pt").is_file()
        except OSError:
            return False


def _tail(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _disk_full(path: Path) -> bool:
    """The run folder's disk is (nearly) full, or the job's output says it was."""
    text = _tail(path / "output.log")
    if "No space left on device" in text or "disk full" in text:
        return True
    try:
        stat = os.statvfs(path)
    except (OSError, AttributeError):
        return False
    return stat.f_bavail * stat.f_frsize < 1 << 20


def run_info(path: Path | str) -> RunInfo:
    """Read one run folder; never raises for a damaged one (state "broken", with the reason).

    A queued/running state whose process is gone (or whose pid now belongs to another
    process) reads as failed: killed, or "disk full" when the disk of the run folder is
    full or the job's output says so.
    """
    path = Path(path)
    try:
        return _run_info(path)
    except Exception as err:  # noqa: BLE001 - one unreadable folder must not break a listing
        return RunInfo(path=path, name=path.name, state=BROKEN, error=f"cannot be read: {type(err).__name__}: {err}")


def _run_info(path: Path) -> RunInfo:
    run = RunFolder(path)
    raw, problem = run.read_status()
    status, problems = validate_status(raw)
    if problem:
        problems.insert(0, problem)
    try:
        config = run.config()
        error = status.get("error")
    except ValueError as err:
        config, error = None, None
        problems.append(str(err))
    alive = job_alive(status)
    if problems:
        return RunInfo(path=path, name=path.name, state=BROKEN, status=status, config=config,
                       device=status.get("slot") or "cpu", alive=alive, error="; ".join(problems))
    state = status.get("state", "queued")
    if state in ("queued", "running") and not alive:
        # never started (spawn failed) or killed: the process is gone
        created = status.get("queued_at") or status.get("started") or 0
        if time.time() - created > 15 or status.get("pid"):
            state = "failed"
            error = error or (DISK_FULL_MESSAGE if _disk_full(path) else DEAD_MESSAGE)
    return RunInfo(
        path=path, name=path.name, state=state, status=status, config=config,
        device=status.get("slot") or (device_key(config) if config else "cpu"), alive=alive, error=error,
    )


def _is_run_folder(path: Path) -> bool:
    try:
        return path.is_dir() and (path / "config.json").exists()
    except OSError:
        return False


def list_runs(runs_root: Optional[Path | str] = None) -> list[RunInfo]:
    """All run folders under ``runs_root``, newest first; damaged ones with state "broken"."""
    root = default_runs_root() if runs_root is None else Path(runs_root)
    try:
        paths = [p for p in root.iterdir() if _is_run_folder(p)]
    except OSError:
        return []
    return [run_info(p) for p in sorted(paths, key=lambda p: p.name, reverse=True)]


def _busy(run: RunFolder, grace: float = 10.0) -> bool:
    """True when another process holds the run's lock.

    A killed multi-threaded process reads as dead (its main thread is a zombie) a moment
    before its last thread has exited and the kernel has freed its locks, so a held lock
    is re-checked for up to ``grace`` seconds before the run counts as in use.
    """
    deadline = time.monotonic() + grace
    while True:
        try:
            held = run.lock().held_elsewhere()
        except OSError:
            return False
        if not held or time.monotonic() >= deadline:
            return held
        time.sleep(0.1)


def start(config: TrainConfig, runs_root: Optional[Path | str] = None) -> Path:
    """Start a training job in the background; returns its run folder at once."""
    job_niceness()  # a bad $LMKVIZ_JOB_NICE is said before any folder is made, not in the job's log
    run = RunFolder(new_run_dir(config.name, runs_root))
    run.write_config(config)
    run.write_status(state="queued", queued_at=time.time(), slot=device_key(config), epochs=config.epochs,
                     epoch=0, step=0, error=None)
    run.prepare_status_slot()
    run.write_status(**_spawn(run, ["--run-dir", str(run.path), "--queue"]))
    return run.path


def start_lr_find(config: TrainConfig, runs_root: Optional[Path | str] = None, steps: int = 100) -> Path:
    """Start the learning-rate finder in the background (it queues like training).

    The result appears as ``lr_find.json`` in the returned run folder.
    """
    job_niceness()
    run = RunFolder(new_run_dir(f"lrfind-{config.name}", runs_root))
    run.write_config(config)
    run.write_status(state="queued", task="lr_find", queued_at=time.time(), slot=device_key(config), step=0,
                     total_steps=steps, error=None)
    run.prepare_status_slot()
    run.write_status(**_spawn(run, ["--run-dir", str(run.path), "--queue", "--steps", str(steps)],
                              command="lr-find"))
    return run.path


def resume(path: Path | str) -> Path:
    """Continue a stopped, failed or killed run from its ``last.pt`` in the background.

    Refused (ValueError saying why and what to do) for a finished run, a run whose
    process still lives, and a run whose checkpoint cannot continue under its
    ``config.json`` (see :func:`lmkviz.training.check_resume`).
    """
    job_niceness()
    info = run_info(path)
    if info.config is None:
        raise ValueError(f"{info.name}: cannot resume, {info.error}")
    if info.task != "train":
        raise ValueError(f"{info.name} is a learning-rate finder run; start a new one instead of resuming")
    finished = f"{info.name} has finished all {info.config.epochs} epochs; start a new run instead"
    if info.state == "done" and info.epoch >= info.config.epochs:
        raise ValueError(finished)
    if info.alive or _busy(RunFolder(path)):
        raise ValueError(f"{info.name} is still {info.state if info.alive else 'in use'}; stop it before resuming")
    from lmkviz.training.loop import check_resume

    if check_resume(RunFolder(path), info.config).nothing_to_do:
        raise ValueError(finished)
    run = RunFolder(path)
    try:
        run.stop_path.unlink()
    except FileNotFoundError:
        pass
    run.write_status(state="queued", queued_at=time.time(), slot=device_key(info.config), error=None,
                     waiting_for=None)
    run.prepare_status_slot()
    run.write_status(**_spawn(run, ["--resume", str(run.path), "--queue"]))
    return run.path


def stop(path: Path | str, timeout: float = 15.0) -> str:
    """Stop a job: ask nicely (STOP file + SIGTERM), then kill its process group.

    ``timeout`` seconds after the SIGTERM the whole process group gets SIGKILL.
    Only a queued or running run is stopped, and only its recorded process (pid and
    start time) is ever signalled: a pid that now belongs to another process, or that
    is not a valid pid, is left alone.

    A running job finishes its current step and exits with state "stopped";
    the last complete epoch's ``last.pt`` is kept for :func:`resume`. Returns the
    final state.
    """
    run = RunFolder(path)
    info = run_info(path)
    if info.state not in ("queued", "running") or not info.alive:
        return info.state
    status = info.status
    pid, start = status.get("pid"), status.get("pid_start")
    run.stop_path.touch()
    # the trainer only: its data-loader workers end with it
    procs.send_signal(pid, start, signal.SIGTERM)
    if not _wait_exit(status, timeout):
        procs.signal_group(pid, start, signal.SIGKILL)
        _wait_exit(status, 5.0)
    now, _ = validate_status(run.status())
    if now.get("state") in ("queued", "running") and now.get("pid") == pid and not job_alive(now):
        run.write_final_status(state="stopped")
    return run_info(path).state


def delete(path: Path | str) -> None:
    """Delete a run folder (a live job must be stopped first)."""
    info = run_info(path)
    if info.alive and info.state in ("done", "stopped", "failed"):
        _wait_exit(info.status, 10.0)  # finished, but still shutting down
        info = run_info(path)
    if info.alive or _busy(RunFolder(path)):
        raise ValueError(f"{info.name} is {info.state if info.alive else 'in use by a process'}; "
                         "stop it before deleting")
    if not (Path(path) / "config.json").exists():
        raise ValueError(f"{path} is not a run folder; refusing to delete it")
    shutil.rmtree(path)


def checkpoints(runs_root: Optional[Path | str] = None) -> list[Path]:
    """``best.pt`` and ``last.pt`` files of all runs, newest run first."""
    out = []
    for info in list_runs(runs_root):
        for name in ("best.pt", "last.pt"):
            p = info.path / name
            try:
                if p.is_file():
                    out.append(p)
            except OSError:
                continue
    return out
