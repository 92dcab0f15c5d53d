"""The run-folder format: where runs live ($LMKVIZ_RUNS for every entry point) and how they are read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lmkviz import cli, jobs
from lmkviz.runs import RunFolder, dedupe_history, new_run_dir, read_json, runs_root
from tests.helpers import BROKEN, make_broken_runs, tiny_config


def test_runs_root_is_lmkviz_runs_or_runs(monkeypatch, tmp_path):
    monkeypatch.delenv("LMKVIZ_RUNS", raising=False)
    assert runs_root() == Path("runs")
    monkeypatch.setenv("LMKVIZ_RUNS", str(tmp_path / "elsewhere"))
    assert runs_root() == tmp_path / "elsewhere"
    path = new_run_dir("my run/1")
    assert path.parent == tmp_path / "elsewhere" and path.name.endswith("-my-run-1")
    assert new_run_dir("my run/1").name == path.name + "-1"  # same second: suffixed


def test_the_app_uses_the_same_runs_root(monkeypatch, tmp_path):
    import ui.common

    monkeypatch.setenv("LMKVIZ_RUNS", str(tmp_path))
    assert ui.common.runs_root() == runs_root() == tmp_path


def test_history_keeps_the_last_record_of_each_step_and_epoch():
    records = [
        {"kind": "step", "epoch": 1, "step": 1, "loss": 3.0},
        {"kind": "step", "epoch": 1, "step": 2, "loss": 2.0},
        {"kind": "epoch", "epoch": 1, "val_nme": {"dark": 9.0}},
        {"kind": "step", "epoch": 2, "step": 3, "loss": 1.5},  # killed here, resumed from epoch 1
        {"kind": "step", "epoch": 2, "step": 3, "loss": 1.4},
        {"kind": "step", "epoch": 2, "step": 4, "loss": 1.2},
        {"kind": "epoch", "epoch": 2, "val_nme": {"dark": 7.0}},
    ]
    steps, epochs = dedupe_history(records)
    assert [(r["step"], r["loss"]) for r in steps] == [(1, 3.0), (2, 2.0), (3, 1.4), (4, 1.2)]
    assert [r["val_nme"]["dark"] for r in epochs] == [9.0, 7.0]


def test_run_folder_reads_what_it_writes(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.path.mkdir()
    assert run.status() == {} and run.metrics() == [] and run.preview() is None and run.lr_find_result() is None
    run.write_config(tiny_config(name="x"))
    assert run.config() == tiny_config(name="x")
    run.write_status(state="running", epoch=1)
    assert run.write_status(epoch=2)["state"] == "running" and run.status()["epoch"] == 2
    run.append_metrics({"kind": "step", "step": 1, "epoch": 1, "loss": 0.5})
    with open(run.metrics_path, "a") as f:
        f.write('{"kind": "step", "st')  # a torn line from a kill
    assert run.metrics() == [{"kind": "step", "step": 1, "epoch": 1, "loss": 0.5}]
    run.write_preview({"nme_dark": np.array([0.05, 0.07])})
    np.testing.assert_array_equal(run.preview()["nme_dark"], [0.05, 0.07])
    run.lr_find_path.write_text(json.dumps({"lr": [1e-3], "loss": [1.0], "suggested": None}))
    assert run.lr_find_result()["lr"] == [1e-3]
    assert read_json(tmp_path / "missing.json") is None


def test_epoch_previews_are_kept_small_and_read_back_whole(tmp_path):
    """previews/: the fixed inputs once, each epoch's heatmaps (max over landmarks) and points."""
    run = RunFolder(tmp_path / "r")
    run.path.mkdir()
    assert run.preview_epochs() == [] and run.epoch_preview(1) is None
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    fixed = {"images": images, "target": rng.random((2, 3, 2)).astype(np.float32), "indices": np.arange(3),
             "image_size": np.array([16, 16])}
    maps = {e: rng.random((2, 3, 4, 4)).astype(np.float16) for e in (1, 2, 3)}
    for e in (1, 2, 3):
        run.write_preview({**fixed, "heatmaps": maps[e], "pred_dark": np.full((2, 3, 2), e, np.float32),
                           "nme_dark": np.array([0.1 / e, 0.2 / e])}, epoch=e)
    assert run.preview_epochs() == [1, 2, 3]
    inputs_written = (run.previews_path / "inputs.npz").stat().st_mtime_ns
    second = run.epoch_preview(2)
    np.testing.assert_array_equal(second["images"], images)
    np.testing.assert_array_equal(second["heatmaps"], maps[2].max(axis=1, keepdims=True))
    assert second["pred_dark"][0, 0, 0] == 2 and int(second["epoch"]) == 2
    np.testing.assert_allclose(second["nme_dark"], [0.05, 0.1])
    assert run.preview()["heatmaps"].shape == (2, 3, 4, 4)  # preview.npz: the newest, every landmark
    assert "images" not in np.load(run.epoch_preview_path(2)).files  # the images are not repeated
    # an epoch that is redone replaces its file; the unchanged inputs are not rewritten
    run.write_preview({**fixed, "heatmaps": maps[1], "pred_dark": np.zeros((2, 3, 2), np.float32)}, epoch=3)
    assert run.epoch_preview(3)["pred_dark"].max() == 0
    assert (run.previews_path / "inputs.npz").stat().st_mtime_ns == inputs_written
    assert run.drop_previews_after(1) == [2, 3] and run.preview_epochs() == [1]
    # a torn or foreign file is not a preview
    run.epoch_preview_path(4).write_bytes(b"PK\x03\x04 torn")
    assert run.epoch_preview(4) is None and run.epoch_preview(1) is not None


def test_cli_and_jobs_honour_lmkviz_runs(monkeypatch, tmp_path, capsys):
    root = tmp_path / "elsewhere"
    monkeypatch.setenv("LMKVIZ_RUNS", str(root))
    monkeypatch.chdir(tmp_path)  # runs/ relative to the cwd would land in tmp_path / "runs"
    code = cli.main(["train", "--data", "synthetic", "--epochs", "1", "--limit-train", "4", "--limit-val", "2",
                     "--input-size", "64", "--batch-size", "4", "--workers", "0", "--name", "env"])
    assert code == 0
    made = [p.name for p in root.iterdir()]
    assert len(made) == 1 and made[0].endswith("-env") and not (tmp_path / "runs").exists()
    assert [r.name for r in jobs.list_runs()] == made
    capsys.readouterr()
    assert cli.main(["runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [Path(r["run"]).name for r in listed] == made and listed[0]["state"] == "done"


def test_best_epoch_and_preview_nme():
    from lmkviz.runs import best_epoch, preview_nme

    epochs = [{"epoch": 1, "val_nme": {"dark": 9.5, "topk": 8.0}}, {"epoch": 2, "val_nme": {"dark": 7.25}},
              {"epoch": 3, "val_nme": {"dark": float("nan")}}, {"epoch": 4}]
    assert best_epoch(epochs, "dark") == (2, 7.25) and best_epoch(epochs, "topk") == (1, 8.0)
    assert best_epoch(epochs, "argmax") == (None, None) and best_epoch([], "dark") == (None, None)
    preview = {"nme_dark": np.array([0.05, 0.125]), "nme_topk": np.array([np.nan, np.nan])}
    assert preview_nme(preview, "dark") == [5.0, 12.5]
    assert preview_nme(preview, "topk") is None and preview_nme(preview, "argmax") is None


# ----------------------------------------------------------------------------- one broken run folder never
# breaks the listing of the others

def test_broken_run_folders_are_listed_as_broken_with_a_reason(tmp_path):
    good = make_broken_runs(tmp_path)
    runs = {r.name.split("-", 2)[2]: r for r in jobs.list_runs(tmp_path)}
    assert set(runs) == set(BROKEN) | {"good"}
    assert runs["good"].state == "done" and runs["good"].error is None and runs["good"].path == good
    for name, (_, _, phrase) in BROKEN.items():
        info = runs[name]
        assert info.state == "broken", (name, info.state)
        assert info.error and phrase in info.error, (name, info.error)
        assert not info.alive
        # every property the pages and the CLI show works on a broken run
        assert 0.0 <= info.progress <= 1.0 and isinstance(info.epoch, int)
        assert info.eta_s is None and isinstance(info.has_checkpoint, bool)
    assert jobs.checkpoints(tmp_path) == []


def test_runs_list_prints_every_run_without_a_traceback(tmp_path, capsys):
    make_broken_runs(tmp_path)
    assert cli.main(["runs", "--runs-root", str(tmp_path), "list"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert len(lines) == len(BROKEN) + 1
    assert sum(" broken " in line for line in lines) == len(BROKEN)
    assert cli.main(["runs", "--runs-root", str(tmp_path), "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(r["state"] for r in listed) == ["broken"] * len(BROKEN) + ["done"]
    assert all(r["error"] for r in listed if r["state"] == "broken")


def test_broken_metrics_lines_are_skipped(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.path.mkdir()
    run.metrics_path.write_text(
        '{"kind": "step", "epoch": 1, "step": 1, "loss": 0.5}\n'
        '[1, 2]\n'
        '"text"\n'
        '{"kind": "step", "epoch": "x", "step": "y"}\n'
        '{"kind": "epoch", "epoch": 1.5}\n'
        '{"kind": "epoch", "epoch": 1, "val_nme": {"dark": 5.0}}\n'
    )
    steps, epochs = run.history()
    assert [r["step"] for r in steps] == [1] and [r["epoch"] for r in epochs] == [1]


def test_a_status_that_is_not_an_object_reads_as_empty_and_can_be_rewritten(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.path.mkdir()
    run.status_path.write_text("[1, 2]")
    assert run.status() == {}
    assert run.write_status(state="stopped")["state"] == "stopped"


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    """A killed writer leaves `.NAME.<pid>-<random>.tmp`; it is removed once that pid is gone,
    never while it lives, and nothing else is touched."""
    import os
    import subprocess
    import time

    from lmkviz.files import remove_stale_temp_files

    dead = subprocess.Popen(["true"])
    dead.wait()
    names = {
        f".last.pt.{dead.pid}-0123abcd.tmp": True,  # its writer is gone
        f".status.json.{os.getpid()}-89abcdef.tmp": False,  # a live writer (this process)
        ".best.pt.deadbeef.tmp": True,  # the older name without a pid, old enough
        ".preview.npz.cafebabe.tmp": False,  # the older name, but fresh: maybe being written
        "last.pt": False, ".lock": False, "notes.tmp": False, ".x.12-zzzzzzzz.tmp": False,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    old = time.time() - 7200
    os.utime(tmp_path / ".best.pt.deadbeef.tmp", (old, old))
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted(n for n, gone in names.items() if gone)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, gone in names.items() if not gone)
