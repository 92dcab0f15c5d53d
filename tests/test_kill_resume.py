"""A training process killed (SIGKILL) at any instant resumes with exactly one record per step and
per epoch, and ends with the weights of a run that was never interrupted.

The processes are forked from a small server process that has imported lmkviz and torch
once (a fresh ``python -m lmkviz`` would spend most of its time importing torch); each
child runs ``lmkviz train`` as the command line does and is killed either by the named
kill points of :mod:`lmkviz.faults` (``LMKVIZ_KILL_AT``: just after ``last.pt`` is
replaced, between the temporary file and the rename, ...) or by its parent after a
random delay.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lmkviz.runs import RunFolder
from tests.helpers import tiny_config

REPO = Path(__file__).resolve().parents[1]

SERVER = r"""
import json, os, signal, sys, time
from lmkviz import cli
import lmkviz.training  # torch and the training loop, imported once
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    t0 = time.time()
    pid = os.fork()
    if pid == 0:
        os.environ.pop("LMKVIZ_KILL_AT", None)
        if job.get("kill_at"):
            os.environ["LMKVIZ_KILL_AT"] = job["kill_at"]
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        try:
            code = cli.main(job["args"])
        except BaseException:
            code = 3
        os._exit(code)
    killed_by_parent = False
    deadline = t0 + job["kill_after"] if job.get("kill_after") else None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if deadline is not None and time.time() >= deadline and not killed_by_parent:
            os.kill(pid, signal.SIGKILL)  # our unreaped child: the pid cannot belong to another process
            killed_by_parent = True
        time.sleep(0.002)
    print(json.dumps({"status": status, "killed_by_parent": killed_by_parent, "seconds": time.time() - t0}),
          flush=True)
"""


class Forker:
    """The server process: ``run(args, kill_at=..., kill_after=...)`` runs one ``lmkviz`` command
    in a forked child and says how it ended."""

    def __init__(self, log: Path):
        env = dict(os.environ, PYTHONPATH=str(REPO), OMP_WAIT_POLICY="PASSIVE")
        env.pop("LMKVIZ_KILL_AT", None)
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], cwd=REPO, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def run(self, args, kill_at=None, kill_after=None) -> dict:
        self.proc.stdin.write(json.dumps({"args": args, "kill_at": kill_at, "kill_after": kill_after}) + "\n")
        self.proc.stdin.flush()
        result = json.loads(self.proc.stdout.readline())
        status = result["status"]
        result["sigkill"] = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        result["code"] = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        return result

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def forker(tmp_path):
    f = Forker(tmp_path / "children.log")
    yield f
    f.close()


def committed_epochs(run: RunFolder) -> int:
    if not run.last_path.exists():
        return 0
    return int(torch.load(run.last_path, weights_only=True)["training_state"]["epoch"]) + 1


POINTS = ("epoch-end:preview", "epoch-end:record", "tmp:last.pt", "epoch-end:last")
"""Kill points of each epoch, in the order an epoch ends; the last one comes just after the
checkpoint replace (the instant that lost an epoch record before)."""


@pytest.mark.slow
def test_sigkill_at_any_instant_then_resume_loses_and_duplicates_nothing(tmp_path, forker):
    epochs = 4
    config = tiny_config(epochs=epochs, limit_train=8, batch_size=4, log_every=1, augment=1.0)
    cfg = tmp_path / "config.json"
    cfg.write_text(config.to_json())
    rng = random.Random(20260101)
    t0 = time.time()

    straight = tmp_path / "straight"
    assert forker.run(["train", "--config", str(cfg), "--run-dir", str(straight)])["code"] == 0

    run = RunFolder(tmp_path / "killed")
    done_points: set = set()  # (epoch, point)
    kills, random_kills, orphans_seen, processes = 0, 0, 0, 0
    while True:
        c = committed_epochs(run)
        args = (["train", "--resume", str(run.path)] if run.config_path.exists()
                else ["train", "--config", str(cfg), "--run-dir", str(run.path)])
        if c == epochs and all((e, p) in done_points for e in range(1, epochs + 1) for p in POINTS):
            result = forker.run(args)  # the last resume: nothing left to do but checks
            processes += 1
            assert result["code"] == 0, result
            break
        todo = [p for p in POINTS if (c + 1, p) not in done_points] if c < epochs else []
        if random_kills < 6 and processes % 3 == 1 and c < epochs:
            # a random instant; the kill just after the next checkpoint replace is the backstop
            kill_at = "epoch-end:last" if "epoch-end:last" in todo else None
            result = forker.run(args, kill_at=kill_at, kill_after=rng.uniform(0.05, 1.5))
            random_kills += 1
            if committed_epochs(run) > c and kill_at:
                done_points.add((c + 1, "epoch-end:last"))
        elif todo:
            result = forker.run(args, kill_at=todo[0])
            done_points.add((c + 1, todo[0]))
            if todo[0] == "tmp:last.pt":
                orphans_seen += bool(list(run.path.glob(".last.pt.*.tmp")))
        else:  # every point of this epoch done: finish it with a kill just after its status
            result = forker.run(args, kill_at="epoch-end:status")
        processes += 1
        kills += result["sigkill"]
        assert result["sigkill"] or result["code"] == 0, result
        assert processes < 60, "no progress"
    elapsed = time.time() - t0

    # exactly one record per step and per epoch, in the file itself
    records = run.metrics()
    epoch_records = [r["epoch"] for r in records if r["kind"] == "epoch"]
    step_records = [r["step"] for r in records if r["kind"] == "step"]
    assert epoch_records == list(range(1, epochs + 1))
    assert step_records == list(range(1, 2 * epochs + 1))
    assert run.status()["state"] == "done"
    assert not [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")]
    # the same numbers and weights as the run that was never interrupted
    _, reference = RunFolder(straight).history()
    assert [r["val_nme"] for r in records if r["kind"] == "epoch"] == [r["val_nme"] for r in reference]
    for name in ("last.pt", "best.pt"):
        a = torch.load(straight / name, weights_only=True)
        b = torch.load(run.path / name, weights_only=True)
        assert a["summary"]["epoch"] == b["summary"]["epoch"], name
        for key, value in a["state_dict"].items():
            assert torch.equal(value, b["state_dict"][key]), (name, key)
    # every epoch was killed just after its checkpoint replace, and 20+ kills in all
    assert all((e, "epoch-end:last") in done_points for e in range(1, epochs + 1))
    assert kills >= 20 and random_kills >= 5 and orphans_seen >= 1
    print(f"\n{kills} kills ({random_kills} at random instants) in {processes} processes, {elapsed:.1f} s")


def test_a_kill_just_after_last_pt_appears_loses_no_epoch_record(tmp_path):
    """Watch last.pt from outside and SIGKILL the process the moment it appears (no kill
    point): resuming must still log every epoch exactly once."""
    cfg = tmp_path / "config.json"
    cfg.write_text(tiny_config(epochs=3, limit_train=8, batch_size=4).to_json())
    run = RunFolder(tmp_path / "run")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("LMKVIZ_KILL_AT", None)
    proc = subprocess.Popen([sys.executable, "-m", "lmkviz", "train", "--config", str(cfg), "--run-dir",
                             str(run.path)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not run.last_path.exists():
        assert proc.poll() is None and time.time() < deadline, "training ended before last.pt appeared"
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    from lmkviz.training import train

    train(resume=run.path, progress_bar=False)
    assert [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"] == [1, 2, 3]
    assert run.status()["state"] == "done"
