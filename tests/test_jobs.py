"""Background jobs, for real: separate processes, queue, stop, resume, delete."""

import os
import signal
import time

import pytest

from lmkviz import jobs
from lmkviz.runs import RunFolder
from tests.helpers import tiny_config


def wait_until(predicate, timeout=240.0, interval=0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def state_of(path):
    return jobs.run_info(path).state


def test_job_runs_in_its_own_process_group_and_finishes(tmp_path):
    path = jobs.start(tiny_config(name="bg", epochs=1), tmp_path)
    info = jobs.run_info(path)
    assert info.state in ("queued", "running") and info.alive
    pid = info.status["pid"]
    assert os.getpgid(pid) == pid != os.getpgid(0)  # its own session: survives the server
    wait_until(lambda: state_of(path) == "done")
    runs = jobs.list_runs(tmp_path)
    assert [r.path for r in runs] == [path] and runs[0].progress == 1.0
    assert (path / "best.pt").exists() and (path / "output.log").exists()
    assert jobs.checkpoints(tmp_path) == [path / "best.pt", path / "last.pt"]


def test_second_job_waits_in_the_queue_then_runs(tmp_path):
    first = jobs.start(tiny_config(name="first", epochs=2, limit_train=16), tmp_path)
    second = jobs.start(tiny_config(name="second", epochs=1), tmp_path)
    wait_until(lambda: state_of(first) == "running")
    time.sleep(1.5)
    assert state_of(second) == "queued"
    assert "busy" in jobs.run_info(second).status.get("waiting_for", "")
    wait_until(lambda: state_of(second) == "done")
    assert state_of(first) == "done"
    # the second only started after the first ended
    first_end = RunFolder(first).status()["updated"]
    second_start = RunFolder(second).status()["started"]
    assert second_start >= first_end - 1.0


def test_stop_then_resume_then_delete(tmp_path):
    path = jobs.start(tiny_config(name="stoppable", epochs=6, limit_train=16), tmp_path)
    run = RunFolder(path)
    wait_until(lambda: any(r.get("kind") == "epoch" for r in run.metrics()))
    assert jobs.stop(path) == "stopped"
    assert not jobs.run_info(path).alive and state_of(path) == "stopped"
    done_epochs = max(r["epoch"] for r in run.metrics() if r["kind"] == "epoch")
    assert done_epochs < 6
    jobs.resume(path)
    wait_until(lambda: state_of(path) == "done")
    epochs = sorted({r["epoch"] for r in run.metrics() if r["kind"] == "epoch"})
    assert epochs == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="finished all 6 epochs"):
        jobs.resume(path)
    jobs.delete(path)
    assert not path.exists() and jobs.list_runs(tmp_path) == []


def test_killed_job_reads_as_failed_and_can_resume(tmp_path):
    path = jobs.start(tiny_config(name="victim", epochs=3, limit_train=16), tmp_path)
    run = RunFolder(path)
    wait_until(lambda: run.last_path.exists())  # an epoch is committed
    pid = run.status()["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: state_of(path) == "failed")
    info = jobs.run_info(path)
    assert info.error == jobs.DEAD_MESSAGE and info.has_checkpoint
    jobs.resume(path)
    wait_until(lambda: state_of(path) == "done")
    assert [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"] == [1, 2, 3]


def test_delete_refuses_live_jobs_and_non_run_folders(tmp_path):
    (tmp_path / "precious").mkdir()
    with pytest.raises(ValueError, match="not a run folder"):
        jobs.delete(tmp_path / "precious")
    path = jobs.start(tiny_config(name="live", epochs=3, limit_train=16), tmp_path)
    with pytest.raises(ValueError, match="stop it before deleting"):
        jobs.delete(path)
    jobs.stop(path)
    jobs.delete(path)


def test_lr_find_runs_in_the_background(tmp_path):
    import json

    path = jobs.start_lr_find(tiny_config(name="lr", limit_train=32, batch_size=4), tmp_path, steps=12)
    wait_until(lambda: state_of(path) == "done")
    result = json.loads((path / "lr_find.json").read_text())
    assert 1 <= len(result["lr"]) <= 12 and len(result["lr"]) == len(result["loss"])
    assert result["lr"] == sorted(result["lr"])
    assert jobs.run_info(path).task == "lr_find"
    with pytest.raises(ValueError, match="learning-rate finder"):
        jobs.resume(path)


def test_suggest_lr_picks_the_steepest_descent():
    import numpy as np

    from lmkviz.training import suggest_lr

    lrs = np.logspace(-6, 0, 61)
    x = np.log10(lrs)
    losses = 1 / (1 + np.exp(3 * (x + 3))) + np.where(x > -1, (x + 1) ** 2 * 5, 0)  # steepest at 1e-3
    assert suggest_lr(lrs, losses) == pytest.approx(1e-3, rel=0.3)
    assert suggest_lr([1e-3, 1e-2], [1.0, 0.5]) is None


# ----------------------------------------------------------------------------- job identity: stop() never
# signals a process that is not the run's job


@pytest.fixture
def stranger():
    """A live process that has nothing to do with lmkviz (as a reused pid would be)."""
    import subprocess

    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    _REAL_KILL(proc.pid, signal.SIGKILL)  # not proc.kill(): os.kill may still be patched by no_signals
    proc.wait()


_REAL_KILL = os.kill


@pytest.fixture
def no_signals(monkeypatch):
    """Record every signal lmkviz.jobs tries to send instead of sending it (signal 0, which
    only asks whether a process exists, still goes through)."""
    sent = []
    real_kill = os.kill
    monkeypatch.setattr(os, "kill", lambda pid, sig: real_kill(pid, 0) if sig == 0 else sent.append(("kill", pid, sig)))
    monkeypatch.setattr(os, "killpg", lambda pid, sig: sent.append(("killpg", pid, sig)))
    if hasattr(signal, "pidfd_send_signal"):
        monkeypatch.setattr(signal, "pidfd_send_signal", lambda fd, sig, *a: sent.append(("pidfd", fd, sig)))
    return sent


def start_time(pid):
    """Field 22 of /proc/PID/stat: the process's start time (clock ticks after boot)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def fake_run(root, name="r", **status):
    run = RunFolder(root / name)
    run.path.mkdir()
    run.write_config(tiny_config(name=name))
    run.write_status(**status)
    return run.path


def test_stop_leaves_a_reused_pid_alone(tmp_path, stranger):
    """status.json names a pid that now belongs to an unrelated live process."""
    path = fake_run(tmp_path, state="running", pid=stranger.pid, queued_at=time.time() - 60)
    info = jobs.run_info(path)
    assert not info.alive and info.state == "failed"
    jobs.stop(path, timeout=1)
    time.sleep(0.2)
    assert stranger.poll() is None  # still alive: it was never signalled


def test_stop_leaves_a_pid_with_another_start_time_alone(tmp_path, stranger):
    real = start_time(stranger.pid)
    path = fake_run(tmp_path, state="running", pid=stranger.pid, pid_start=real + 1)
    assert not jobs.run_info(path).alive
    jobs.stop(path, timeout=1)
    time.sleep(0.2)
    assert stranger.poll() is None


@pytest.mark.parametrize("state", ["done", "failed", "stopped"])
def test_stop_never_signals_a_finished_run(tmp_path, stranger, no_signals, state):
    """Even when the recorded identity matches a live process, a finished run is not signalled."""
    path = fake_run(tmp_path, state=state, pid=stranger.pid, pid_start=start_time(stranger.pid))
    assert jobs.stop(path, timeout=1) == state
    assert no_signals == []


@pytest.mark.parametrize("pid", [-1, 0, 1, 1.5, "abc", True, [1], {"a": 1}, 2**40])
def test_stop_refuses_bogus_pids(tmp_path, no_signals, pid):
    path = fake_run(tmp_path, state="running", pid=pid)
    info = jobs.run_info(path)
    assert not info.alive
    jobs.stop(path, timeout=1)
    assert no_signals == []
    assert jobs.pid_alive(pid) is False


# ----------------------------------------------------------------------------- one process per run folder


def _cli(*args):
    import subprocess
    import sys

    from tests.test_training import REPO

    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "lmkviz", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _stopped_run(root, epochs=3):
    run = RunFolder(root / "run")
    run.path.mkdir()
    run.write_config(tiny_config(name="run", epochs=epochs, limit_train=16))
    run.write_status(state="stopped", epoch=0)
    return run


def _watch_status(run, procs_, seen):
    """Record (state, pid) of status.json while any of procs_ runs."""
    while any(p.poll() is None for p in procs_):
        status = run.status()
        seen.append((status.get("state"), status.get("pid")))
        time.sleep(0.02)


@pytest.mark.parametrize("queue", [False, True], ids=["plain", "queue"])
def test_two_resumes_at_once_train_only_once(tmp_path, queue):
    """Two `lmkviz train --resume RUN` at once: one trains, the other refuses and leaves
    status.json alone (with --queue too: the refused one never becomes the run's pid)."""
    run = _stopped_run(tmp_path)
    extra = ["--queue"] if queue else []
    a, b = _cli("train", "--resume", str(run.path), *extra), _cli("train", "--resume", str(run.path), *extra)
    seen = []
    _watch_status(run, [a, b], seen)
    results = {p.pid: (p.returncode, *p.communicate()) for p in (a, b)}
    winners = [pid for pid, (code, out, _) in results.items() if code == 0 and "done:" in out]
    losers = [pid for pid, (code, _, err) in results.items() if code == 2 and "already being trained" in err]
    assert len(winners) == 1 and len(losers) == 1, results
    assert [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"] == [1, 2, 3]
    steps = [r["step"] for r in run.metrics() if r["kind"] == "step"]
    assert steps == sorted(set(steps))
    assert losers[0] not in {pid for _, pid in seen}  # the refused process never wrote its pid
    states = [s for s, _ in seen]
    if "running" in states:  # no flip back to queued once training started
        assert "queued" not in states[states.index("running"):]
    assert run.status()["state"] == "done" and run.status()["pid"] == winners[0]


def test_a_queued_job_waits_quietly_and_small(tmp_path):
    """A job waiting for its device neither rewrites status.json every second nor holds a
    process with torch loaded (about 500 MB before; a few tens of MB now)."""
    from lmkviz import procs

    first = jobs.start(tiny_config(name="first", epochs=40, limit_train=16), tmp_path)
    second = jobs.start(tiny_config(name="second", epochs=1), tmp_path)
    try:
        wait_until(lambda: state_of(first) == "running")
        # written when the wait starts and when what it waits for changes ("1 job ahead" -> "busy")
        wait_until(lambda: jobs.run_info(second).status.get("waiting_for") == "cpu is busy")
        before = RunFolder(second).status_path.stat().st_mtime_ns
        info = jobs.run_info(second)
        rss_kb = procs.process_rss_kb(info.status["pid"])
        time.sleep(3.5)
        assert RunFolder(second).status_path.stat().st_mtime_ns == before
        assert state_of(second) == "queued" and jobs.run_info(second).status["pid"] == info.status["pid"]
        assert rss_kb is not None and rss_kb < 100_000, rss_kb
        print(f"\nRSS of a queued job: {rss_kb / 1024:.1f} MiB")
        # its turn comes when the first one stops; the same process (pid) goes on to train
        assert jobs.stop(first) == "stopped"
        wait_until(lambda: state_of(second) == "done")
        assert RunFolder(second).status()["pid"] == info.status["pid"]
    finally:
        for path in (first, second):
            jobs.stop(path, timeout=5)


# ----------------------------------------------------------------------------- priority

def niceness(pid):
    """The niceness of a live process, read from /proc (field 19 of /proc/PID/stat)."""
    stat = open(f"/proc/{pid}/stat").read()
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
@pytest.mark.parametrize("setting, expected", [(None, 10), ("3", 3)])
def test_a_job_trains_at_a_lower_cpu_priority(tmp_path, monkeypatch, setting, expected):
    """The training process of a job (the waiter that exec'd it, same pid) runs niced:
    $LMKVIZ_JOB_NICE, default 10; never less nice than the app that started it."""
    if setting is None:
        monkeypatch.delenv("LMKVIZ_JOB_NICE", raising=False)
    else:
        monkeypatch.setenv("LMKVIZ_JOB_NICE", setting)
    path = jobs.start(tiny_config(name="niced", epochs=20, limit_train=16), tmp_path)
    try:
        run = RunFolder(path)
        wait_until(lambda: state_of(path) == "running" and run.metrics())  # torch is training now
        pid = run.status()["pid"]
        assert "lmkviz.waiter" not in open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
        assert niceness(pid) == max(expected, os.nice(0))
        assert os.getpriority(os.PRIO_PROCESS, pid) == niceness(pid)
    finally:
        jobs.stop(path, timeout=5)


def test_a_bad_nice_setting_is_refused_before_any_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LMKVIZ_JOB_NICE", "low")
    with pytest.raises(ValueError, match="LMKVIZ_JOB_NICE='low' is not an integer"):
        jobs.start(tiny_config(name="bad"), tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("LMKVIZ_JOB_NICE", "40")
    assert jobs.job_niceness() == 19
