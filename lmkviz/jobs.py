"""Background training jobs: separate OS processes that outlive the browser.

A job is ``python -m lmkviz train --run-dir RUN --queue`` started in its own
process group (``start_new_session``), with its output in ``RUN/output.log``. It
keeps running when the browser tab closes or the Streamlit server restarts.
Everything about a job is in its run folder (see :mod:`lmkviz.runs`), so
:func:`list_runs` rediscovers all jobs from the runs folder alone.

Queueing: by default at most one job runs per device (one per GPU, one on the
CPU). A job started while another holds its device waits in state ``queued``;
jobs start in the order they were queued. The slot is an OS file lock
(``RUNS/.locks/<device>.lock``) held by the training process, so it is released
even when that process is killed. (On systems without ``fcntl`` jobs don't queue.)

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

from lmkviz.devices import slot_key
from lmkviz.paths import PROJECT_ROOT
from lmkviz.runs import RunFolder, new_run_dir, runs_root as default_runs_root
from lmkviz.training.config import TrainConfig

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

DEAD_MESSAGE = "the training process ended without finishing (killed or crashed); resume to continue"


# ----------------------------------------------------------------------------- processes

def _proc_state(pid: int) -> Optional[str]:
    """Linux process state letter from /proc (None when unavailable)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pid_alive(pid: Optional[int]) -> bool:
    """True when ``pid`` is a live (not zombie) process; reaps our own zombies."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if _proc_state(int(pid)) == "Z":
        try:
            os.waitpid(int(pid), os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True


def _wait_exit(pid: Optional[int], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for a process to end; True when it has."""
    deadline = time.time() + timeout
    while pid_alive(pid):
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
    return env


def _spawn(run_dir: Path, args: list[str], command: str = "train") -> int:
    """Start ``python -m lmkviz <command> ...`` detached, output appended to output.log."""
    cmd = [sys.executable, "-m", "lmkviz", command, *args]
    with open(run_dir / "output.log", "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=_job_env(), cwd=os.getcwd(),
        )
    return proc.pid


def device_key(config: TrainConfig) -> str:
    """The device slot a job needs: "cpu", "mps" or "cuda0", "cuda1", ... (see :func:`lmkviz.devices.slot_key`)."""
    return slot_key(config.device)


# ----------------------------------------------------------------------------- queue

class DeviceSlot:
    """Exclusive use of one device by one training process (an flock'ed file)."""

    def __init__(self, runs_root: Path, key: str):
        self.path = Path(runs_root) / ".locks" / f"{key}.lock"
        self._file = None

    def try_acquire(self) -> bool:
        if fcntl is None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f  # held until this process exits or release()
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def wait_for_turn(run: RunFolder, poll: float = 1.0) -> Optional[DeviceSlot]:
    """Block until this run may use its device (called inside the job process).

    Jobs queued earlier on the same device go first. Returns the held slot, or
    None if the job was stopped while waiting (status set to "stopped").
    """
    config = run.config()
    key = device_key(config)
    runs_root = run.path.parent
    slot = DeviceSlot(runs_root, key)
    me = run.status().get("queued_at", time.time())
    while True:
        if run.stop_requested():
            run.write_status(state="stopped", pid=None)
            return None
        earlier = [
            r for r in list_runs(runs_root)
            if r.path != run.path and r.state == "queued" and r.device == key
            and r.status.get("queued_at", 0) < me
        ]
        if not earlier and slot.try_acquire():
            return slot
        run.write_status(state="queued", pid=os.getpid(),
                         waiting_for=f"{key} is busy" + (f" ({len(earlier)} job(s) ahead)" if earlier else ""))
        time.sleep(poll)


# ----------------------------------------------------------------------------- runs

@dataclass
class RunInfo:
    """What the UI and ``lmkviz runs`` show about one run folder."""

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
        return self.status.get("task", "train")

    @property
    def progress(self) -> float:
        """Fraction of optimiser steps done, in [0, 1]."""
        total = self.status.get("total_steps")
        if self.state == "done":
            return 1.0
        if not total:
            epochs = self.config.epochs if self.config else 0
            return min(1.0, self.status.get("epoch", 0) / epochs) if epochs else 0.0
        return max(0.0, min(1.0, self.status.get("step", 0) / total))

    @property
    def epoch(self) -> int:
        return int(self.status.get("epoch", 0))

    @property
    def eta_s(self) -> Optional[float]:
        return self.status.get("eta_s") if self.state == "running" else None

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / "last.pt").exists()


def run_info(path: Path | str) -> RunInfo:
    """Read one run folder; a queued/running state whose process is gone reads as failed."""
    run = RunFolder(path)
    status = run.status()
    try:
        config = run.config()
        error = status.get("error")
    except ValueError as err:
        config, error = None, str(err)
    state = status.get("state", "queued" if config else "failed")
    alive = pid_alive(status.get("pid"))
    if state in ("queued", "running") and not alive:
        # never started (spawn failed) or killed: the process is gone
        created = status.get("queued_at") or status.get("started") or 0
        if time.time() - created > 15 or status.get("pid"):
            state, error = "failed", error or DEAD_MESSAGE
    return RunInfo(
        path=Path(path), name=Path(path).name, state=state, status=status, config=config,
        device=device_key(config) if config else "cpu", alive=alive, error=error,
    )


def list_runs(runs_root: Optional[Path | str] = None) -> list[RunInfo]:
    """All run folders under ``runs_root``, newest first."""
    root = default_runs_root() if runs_root is None else Path(runs_root)
    if not root.is_dir():
        return []
    paths = [p for p in root.iterdir() if p.is_dir() and (p / "config.json").exists()]
    return [run_info(p) for p in sorted(paths, key=lambda p: p.name, reverse=True)]


def start(config: TrainConfig, runs_root: Optional[Path | str] = None) -> Path:
    """Start a training job in the background; returns its run folder at once."""
    run = RunFolder(new_run_dir(config.name, runs_root))
    run.write_config(config)
    run.write_status(state="queued", queued_at=time.time(), epochs=config.epochs, epoch=0, step=0, error=None)
    pid = _spawn(run.path, ["--run-dir", str(run.path), "--queue"])
    run.write_status(pid=pid)
    return run.path


def start_lr_find(config: TrainConfig, runs_root: Optional[Path | str] = None, steps: int = 100) -> Path:
    """Start the learning-rate finder in the background (it queues like training).

    The result appears as ``lr_find.json`` in the returned run folder.
    """
    run = RunFolder(new_run_dir(f"lrfind-{config.name}", runs_root))
    run.write_config(config)
    run.write_status(state="queued", task="lr_find", queued_at=time.time(), step=0, total_steps=steps, error=None)
    pid = _spawn(run.path, ["--run-dir", str(run.path), "--queue", "--steps", str(steps)], command="lr-find")
    run.write_status(pid=pid)
    return run.path


def resume(path: Path | str) -> Path:
    """Continue a stopped, failed or killed run from its ``last.pt`` in the background."""
    info = run_info(path)
    if info.config is None:
        raise ValueError(f"{info.name}: cannot resume, {info.error}")
    if info.task != "train":
        raise ValueError(f"{info.name} is a learning-rate finder run; start a new one instead of resuming")
    if info.state == "done":
        raise ValueError(f"{info.name} has finished all {info.config.epochs} epochs; start a new run instead")
    if info.alive:
        raise ValueError(f"{info.name} is still {info.state}; stop it before resuming")
    run = RunFolder(path)
    try:
        run.stop_path.unlink()
    except FileNotFoundError:
        pass
    run.write_status(state="queued", queued_at=time.time(), error=None)
    pid = _spawn(run.path, ["--resume", str(run.path), "--queue"])
    run.write_status(pid=pid)
    return run.path


def stop(path: Path | str, timeout: float = 15.0) -> str:
    """Stop a job: ask nicely (STOP file + SIGTERM), then kill its process group.

    ``timeout`` seconds after the SIGTERM the whole process group gets SIGKILL.

    A running job finishes its current step and exits with state "stopped";
    the last complete epoch's ``last.pt`` is kept for :func:`resume`. Returns the
    final state.
    """
    run = RunFolder(path)
    info = run_info(path)
    if not info.alive:
        return info.state
    run.stop_path.touch()
    pid = int(info.status["pid"])
    try:  # the trainer only: its data-loader workers end with it
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if not _wait_exit(pid, timeout):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _wait_exit(pid, 5.0)
    if run.status().get("state") in ("queued", "running"):
        run.write_status(state="stopped", pid=None)
    return run.status().get("state", "stopped")


def delete(path: Path | str) -> None:
    """Delete a run folder (a live job must be stopped first)."""
    info = run_info(path)
    if info.alive and info.state in ("done", "stopped", "failed"):
        _wait_exit(info.status.get("pid"), 10.0)  # finished, but still shutting down
        info = run_info(path)
    if info.alive:
        raise ValueError(f"{info.name} is {info.state}; stop it before deleting")
    if not (Path(path) / "config.json").exists():
        raise ValueError(f"{path} is not a run folder; refusing to delete it")
    shutil.rmtree(path)


def checkpoints(runs_root: Optional[Path | str] = None) -> list[Path]:
    """``best.pt`` and ``last.pt`` files of all runs, newest run first."""
    out = []
    for info in list_runs(runs_root):
        for name in ("best.pt", "last.pt"):
            p = info.path / name
            if p.exists():
                out.append(p)
    return out
