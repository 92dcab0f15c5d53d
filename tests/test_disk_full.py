"""A full disk: the run fails with "disk full" recorded (even though status.json cannot be
written any more), the pages say so, and the run resumes once space is freed.

Two ways to fill a disk: writes that fail with ENOSPC from the moment the first epoch is
committed (always), and a real 64 MB tmpfs filled by a file while a training process runs
(when this machine lets the tests mount one: root with CAP_SYS_ADMIN).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmkviz import checkpoint as ckpt
from lmkviz import jobs, runs
from lmkviz.runs import RunFolder
from lmkviz.training import Trainer, train
from tests.helpers import tiny_config

REPO = Path(__file__).resolve().parents[1]


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def fill_disk_after_epoch_1(monkeypatch):
    """From the moment epoch 1's last.pt is written, every new file, append and replace fails
    with ENOSPC (what a full disk does); writing in place into already allocated blocks
    still works. Returns a function that frees the space again."""
    save = Trainer.save_checkpoints

    def save_then_fill(self, epoch, *args, **kwargs):
        save(self, epoch, *args, **kwargs)
        if epoch == 0:
            monkeypatch.setattr(runs, "atomic_write_bytes", _no_space)
            monkeypatch.setattr(ckpt, "atomic_write_bytes", _no_space)
            monkeypatch.setattr(RunFolder, "append_metrics", _no_space)

    monkeypatch.setattr(Trainer, "save_checkpoints", save_then_fill)
    return monkeypatch.undo


def test_a_full_disk_is_recorded_as_disk_full_and_the_run_resumes(tmp_path, fill_disk_after_epoch_1):
    run = RunFolder(tmp_path / "run")
    with pytest.raises(OSError) as err:
        train(tiny_config(epochs=3), run_dir=run.path, progress_bar=False)
    assert err.value.errno == errno.ENOSPC
    # status.json could not be replaced: the status slot holds the failure
    assert run.status()["state"] == "failed"
    assert run.status()["error"].startswith("disk full: no space left")
    info = jobs.run_info(run.path)
    assert info.state == "failed" and info.error.startswith("disk full")

    fill_disk_after_epoch_1()  # space freed
    train(resume=run.path, progress_bar=False)
    assert run.status()["state"] == "done"
    assert [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"] == [1, 2, 3]


def test_the_train_page_says_disk_full(tmp_path, monkeypatch, fill_disk_after_epoch_1):
    from tests.apptest import REPO_ROOT, open_page, st

    root = tmp_path / "runs"
    run = RunFolder(root / "20260101-000000-full")
    with pytest.raises(OSError):
        train(tiny_config(epochs=2), run_dir=run.path, progress_bar=False)
    fill_disk_after_epoch_1()
    monkeypatch.setenv("LMKVIZ_RUNS", str(root))
    st.cache_data.clear()
    at = open_page(str(REPO_ROOT / "pages" / "3_Train.py"))
    errors = " ".join(e.value for e in at.error)
    assert "disk is full" in errors and "killed" not in errors


def test_a_killed_job_on_a_full_disk_reads_as_disk_full(tmp_path, monkeypatch):
    """No slot (an older run folder) and no status: the job's output names the full disk."""
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.write_config(tiny_config())
    run.write_status(state="running", pid=2**22 - 1, pid_start=1)
    run.output_log_path.write_text("OSError: [Errno 28] No space left on device\n")
    info = jobs.run_info(run.path)
    assert info.state == "failed" and info.error.startswith("disk full")


# ----------------------------------------------------------------------------- a real full file system


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return filler


@pytest.mark.slow
def test_a_real_full_file_system(small_tmpfs):
    run = RunFolder(small_tmpfs / "run")
    cfg = small_tmpfs.parent / "config.json"
    cfg.write_text(tiny_config(epochs=3, limit_train=16).to_json())
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("LMKVIZ_KILL_AT", None)
    proc = subprocess.Popen([sys.executable, "-m", "lmkviz", "train", "--config", str(cfg), "--run-dir",
                             str(run.path)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 300
    while not run.last_path.exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.01)
    filler = _fill(small_tmpfs)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out + err
    assert "disk full" in err
    status = run.status()
    assert status["state"] == "failed" and status["error"].startswith("disk full"), status
    info = jobs.run_info(run.path)
    assert info.state == "failed" and info.error.startswith("disk full")

    filler.unlink()  # space freed: resume finishes the run
    train(resume=run.path, progress_bar=False)
    assert run.status()["state"] == "done"
    assert [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"] == [1, 2, 3]
    assert not [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")]
