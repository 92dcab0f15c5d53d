import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lmkviz import checkpoint as ckpt
from lmkviz import losses, models, training
from lmkviz.decoding import DECODERS
from lmkviz.encoding import ENCODINGS, HeatmapCodec
from lmkviz.losses import heatmap_loss
from lmkviz.runs import RunFolder
from lmkviz.training import TrainConfig, train
from tests.helpers import tiny_config

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(models.HEATMAP_MODELS))
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_model_and_encoding_learns_a_batch(name, encoding):
    """A few optimiser steps on one fixed batch reduce the loss."""
    torch.manual_seed(0)
    net = models.create(name, 5, pretrained=False)
    size = 32
    codec = HeatmapCodec(image_size=size, heatmap_size=size // net.stride, encoding=encoding, sigma=1.5)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, size, size, generator=g)
    points = torch.rand(2, 5, 2, generator=g) * (size - 8) + 4
    target, _ = codec.encode(points, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    net.train()
    for _ in range(6):
        loss = heatmap_loss(net(images), target, encoding, pos_weight=20.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(map(lambda v: v == v, losses))  # finite
    assert min(losses[-3:]) < losses[0]
    # every decoder reads the model's output
    with torch.no_grad():
        out = net.eval()(images)
    for method in ("argmax", "quarter", "topk", "dark"):
        pts = codec.decode(out, method)
        assert pts.shape == (2, 5, 2) and torch.isfinite(pts).all()


def test_bce_pos_weight_weighs_the_positive_cell():
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 1, 1] = 1
    pred = torch.zeros(1, 1, 4, 4)
    a = heatmap_loss(pred, target, "binary", pos_weight=1.0)
    b = heatmap_loss(pred, target, "binary", pos_weight=10.0)
    # 16 cells of log 2; the positive counted pos_weight times
    assert b.item() == pytest.approx(a.item() * (15 + 10) / 16, rel=1e-5)


def test_loss_weights_mask_channels():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 4, 4, generator=g)
    for encoding in ("gaussian", "binary"):
        plain = heatmap_loss(pred, target, encoding, pos_weight=5.0)
        ones = heatmap_loss(pred, target, encoding, pos_weight=5.0, weights=torch.ones(2, 3))
        assert ones.item() == pytest.approx(plain.item(), rel=1e-6)
        # channel 1 of image 0 masked: the loss is the mean of the five other channels
        weights = torch.ones(2, 3)
        weights[0, 1] = 0
        keep = [(0, 0), (0, 2), (1, 0), (1, 1), (1, 2)]
        expected = sum(heatmap_loss(pred[n, k], target[n, k], encoding, pos_weight=5.0) for n, k in keep) / 5
        masked = heatmap_loss(pred, target, encoding, pos_weight=5.0, weights=weights)
        assert masked.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match=r"weights must be \(N, K\)"):
        heatmap_loss(pred, target, "gaussian", weights=torch.ones(3))


def test_config_json_round_trip_and_named_errors():
    cfg = tiny_config(name="x", landmarks="eyes")
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown training config field.*epoch_count"):
        TrainConfig.from_dict({"epoch_count": 3})
    with pytest.raises(ValueError, match="'epochs'.*integer"):
        TrainConfig.from_dict({"epochs": "many"})
    with pytest.raises(ValueError, match="encoding"):
        TrainConfig(encoding="laplace")
    with pytest.raises(ValueError, match="not valid JSON"):
        TrainConfig.from_json("{oops")


def test_train_writes_a_complete_run_folder(tmp_path):
    path = train(tiny_config(landmarks="eyes"), runs_root=tmp_path)
    run = RunFolder(path)
    assert path.parent == tmp_path and path.name.endswith("-run")
    assert run.status()["state"] == "done"
    records = run.metrics()
    epochs = [r for r in records if r["kind"] == "epoch"]
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["epoch"] for r in epochs] == [1, 2] and len(steps) >= 4
    assert set(epochs[-1]["val_nme"]) == set(DECODERS)
    assert all("lr" in r and "loss" in r for r in steps)
    for name in ("config.json", "train.log", "last.pt", "best.pt", "preview.npz"):
        assert (path / name).exists(), name
    data = torch.load(path / "last.pt", weights_only=True)
    assert data["training_state"]["epoch"] == 1
    assert data["scheme"]["indices"] == list(range(36, 48)) and data["model"]["num_points"] == 12
    loaded = ckpt.load_for_inference(path / "best.pt")
    assert loaded.num_points == 68 and len(loaded.indices) == 12
    preview = run.preview()
    assert preview["images"].shape == (2, 64, 64, 3) and preview["pred_dark"].shape == (2, 12, 2)


def test_preview_stores_what_the_evaluator_measures_on_those_images(tmp_path):
    """preview.npz: input-pixel points for drawing, and per-image NME (scheme eye corners,
    original pixels) equal to what `evaluate` gives the last checkpoint on those images."""
    from lmkviz import coords
    from lmkviz.evaluation import evaluate

    path = train(tiny_config(epochs=1), runs_root=tmp_path, progress_bar=False)
    preview = RunFolder(path).preview()
    result = evaluate(path / "last.pt", "synthetic", "val", limit=2)
    for m in ("argmax", "dark"):
        np.testing.assert_allclose(preview[f"nme_{m}"], result.nme[m], rtol=1e-5)
        on_input = coords.rescale_batch(torch.from_numpy(result.pred[m]), result.image_sizes, 64).numpy()
        np.testing.assert_allclose(preview[f"pred_{m}"], on_input, atol=1e-3)
    on_input = coords.rescale_batch(torch.from_numpy(result.target), result.image_sizes, 64).numpy()
    np.testing.assert_allclose(preview["target"], on_input, atol=1e-3)


def test_a_run_keeps_the_preview_of_every_epoch(tmp_path):
    """previews/epoch-NNN.npz, one per epoch: the newest equals preview.npz (heatmaps as their
    maximum over landmarks), and the heatmaps change from epoch to epoch (training replays)."""
    path = train(tiny_config(epochs=3, landmarks="eyes"), runs_root=tmp_path, progress_bar=False)
    run = RunFolder(path)
    assert run.preview_epochs() == [1, 2, 3]
    newest, final = run.epoch_preview(3), run.preview()
    for key in ("images", "target", "pred_dark", "nme_dark"):
        np.testing.assert_array_equal(newest[key], final[key])
    np.testing.assert_array_equal(newest["heatmaps"], final["heatmaps"].max(axis=1, keepdims=True))
    first = run.epoch_preview(1)
    assert first["heatmaps"].shape == (2, 1, 16, 16)
    assert not np.array_equal(first["heatmaps"], newest["heatmaps"])
    assert not np.array_equal(first["pred_dark"], newest["pred_dark"])
    size = sum(p.stat().st_size for p in run.previews_path.iterdir()) - (run.previews_path / "inputs.npz").stat().st_size
    assert size < 3 * 20_000  # small: no images, one map per preview image
    # a preview of an epoch last.pt does not know (a kill before the checkpoint) goes on resume,
    # and so do the temporary files of a killed writer in previews/
    import shutil

    shutil.copy(run.epoch_preview_path(3), run.epoch_preview_path(4))
    (run.previews_path / ".epoch-005.npz.999999-0badcafe.tmp").write_bytes(b"half")
    train(resume=path, progress_bar=False)
    assert run.preview_epochs() == [1, 2, 3] and sorted(p.name for p in run.previews_path.iterdir()) == [
        "epoch-001.npz", "epoch-002.npz", "epoch-003.npz", "inputs.npz"]


def test_resume_ends_bit_identical_to_an_uninterrupted_run(tmp_path, monkeypatch):
    """Stop after epoch 1, resume: the final weights equal those of a run that never stopped."""
    config = tiny_config(epochs=2, limit_train=8, batch_size=4, augment=1.0)
    straight = train(config, run_dir=tmp_path / "straight", progress_bar=False)

    append = RunFolder.append_metrics

    def stop_after_epoch_1(self, record):
        append(self, record)
        if record.get("kind") == "epoch" and record["epoch"] == 1:
            self.stop_path.touch()

    monkeypatch.setattr(RunFolder, "append_metrics", stop_after_epoch_1)
    run = RunFolder(tmp_path / "resumed")
    train(config, run_dir=run.path, progress_bar=False)
    assert run.status()["state"] == "stopped"
    assert torch.load(run.last_path, weights_only=True)["training_state"]["epoch"] == 0
    monkeypatch.setattr(RunFolder, "append_metrics", append)
    run.stop_path.unlink()
    train(resume=run.path, progress_bar=False)
    assert run.status()["state"] == "done"
    a = torch.load(straight / "last.pt", weights_only=True)
    b = torch.load(run.last_path, weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert a["summary"]["val_nme"] == b["summary"]["val_nme"]
    _, epochs = RunFolder(straight).history()
    _, resumed = run.history()
    assert [r["val_nme"] for r in epochs] == [r["val_nme"] for r in resumed]


def _run_cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "lmkviz", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def _wait_for(predicate, timeout=180.0, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def test_resume_after_kill_9_mid_epoch(tmp_path):
    run_dir = tmp_path / "run"
    cfg = tiny_config(epochs=3, limit_train=24)
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    proc = _run_cli(["train", "--config", str(tmp_path / "cfg.json"), "--run-dir", str(run_dir)])
    run = RunFolder(run_dir)

    def in_epoch_2():
        return any(r.get("kind") == "step" and r["epoch"] == 2 for r in run.metrics())

    assert _wait_for(in_epoch_2), proc.communicate()[0].decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the kill left complete files: status still says running, last.pt is epoch 1
    assert run.status()["state"] == "running"
    assert torch.load(run.last_path, weights_only=True)["training_state"]["epoch"] == 0
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    path = train(resume=run_dir)
    assert path == run_dir and run.status()["state"] == "done"
    epochs = [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"]
    assert epochs == [1, 2, 3]
    data = torch.load(run.last_path, weights_only=True)
    assert data["training_state"]["epoch"] == 2 and data["summary"]["epoch"] == 3


def test_stop_file_stops_and_resume_finishes(tmp_path):
    run_dir = tmp_path / "run"
    run = RunFolder(run_dir)
    run_dir.mkdir()
    run.stop_path.touch()
    train(tiny_config(epochs=2), run_dir=run_dir)
    assert run.status()["state"] == "stopped"
    run.stop_path.unlink()
    train(resume=run_dir)
    assert run.status()["state"] == "done"
    assert [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"] == [1, 2]


def test_non_finite_loss_fails_clearly_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = losses.heatmap_loss

    def flaky(pred, target, encoding, pos_weight=100.0, weights=None, loss="auto"):
        calls["n"] += 1
        loss = real(pred, target, encoding, pos_weight, weights=weights, loss=loss)
        return loss * float("nan") if calls["n"] > 2 else loss  # epoch 1 = 2 steps, then NaN

    monkeypatch.setattr(losses, "heatmap_loss", flaky)
    run_dir = tmp_path / "run"
    with pytest.raises(training.NonFiniteLoss, match="diverged"):
        train(tiny_config(epochs=3), run_dir=run_dir)
    status = RunFolder(run_dir).status()
    assert status["state"] == "failed" and "Lower the learning rate" in status["error"]
    data = torch.load(run_dir / "last.pt", weights_only=True)
    assert data["training_state"]["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in data["state_dict"].values() if v.is_floating_point())


def test_ddp_with_two_gloo_processes(tmp_path):
    cfg = tiny_config(epochs=1, limit_train=16, batch_size=4)
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "lmkviz", "train", "--config", str(tmp_path / "cfg.json"), "--run-dir", str(tmp_path / "ddp"),
         "--device", "cpu"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = RunFolder(tmp_path / "ddp")
    assert run.status()["state"] == "done"
    epochs = [r for r in run.metrics() if r["kind"] == "epoch"]
    assert len(epochs) == 1
    # 16 images, 2 processes x batch 4 -> 2 steps per epoch
    assert run.status()["steps_per_epoch"] == 2
    ckpt.load_for_inference(tmp_path / "ddp" / "last.pt")


# ----------------------------------------------------------------------------- issue 12 training options

def test_an_old_config_keeps_its_augmentation():
    from lmkviz.data.augment import AugmentConfig

    old = {"name": "old", "data": ["synthetic"], "model": "hrnet18_small", "augment": 0.5, "input_size": 96}
    config = TrainConfig.from_dict(old)
    assert config.augment_config() == AugmentConfig(input_size=96, strength=0.5)
    assert config.loss_name == "mse" and config.framing == "image" and config.pretrained is False


def test_config_checks_the_new_fields():
    assert TrainConfig.from_dict({"pretrained": "auto"}).pretrained == "auto"
    assert TrainConfig.from_dict({"pretrained": True}).pretrained is True
    for bad in ({"pretrained": "yes"}, {"pretrained": 1}, {"loss": "awing", "encoding": "binary"},
                {"loss": "bce"}, {"framing": "crop"}, {"occlusion": 2.0}, {"scale_min": 1.5}):
        with pytest.raises(ValueError):
            TrainConfig.from_dict(bad)
    assert TrainConfig(encoding="binary").loss_name == "bce"


def test_cli_flags_set_the_training_options():
    from lmkviz.cli import _train_config, build_parser

    args = build_parser().parse_args([
        "train", "--model", "effnet_lite0_fpn", "--model-option", "frozen_blocks=3", "--model-option", "width=32",
        "--pretrained", "auto", "--loss", "awing", "--framing", "face", "--margin", "1.5", "--rotation", "20",
        "--scale-min", "0.8", "--scale-max", "1.2", "--translate", "0.05", "--color", "0.2", "--occlusion", "0.3",
        "--blur", "0.1", "--no-flip"])
    config = _train_config(args)
    assert config.model_kwargs == {"frozen_blocks": 3, "width": 32} and config.pretrained == "auto"
    assert (config.loss, config.framing, config.margin, config.rotation, config.scale_min, config.scale_max,
            config.translate, config.color, config.occlusion, config.blur, config.flip) == \
        ("awing", "face", 1.5, 20.0, 0.8, 1.2, 0.05, 0.2, 0.3, 0.1, False)
    assert _train_config(build_parser().parse_args(["train", "--pretrained"])).pretrained is True
    with pytest.raises(ValueError, match="KEY=VALUE"):
        _train_config(build_parser().parse_args(["train", "--model-option", "frozen_blocks"]))


def test_unknown_model_options_are_a_clear_error():
    with pytest.raises(ValueError, match="unknown option"):
        models.create("hrnet18_small", 5, frozen_blocks=2)


def test_effnet_with_frozen_blocks_trains_only_the_rest(tmp_path):
    config = tiny_config(model="effnet_lite0_fpn", model_kwargs={"frozen_blocks": 3}, pretrained=False,
                         loss="awing", framing="face", occlusion=0.5, blur=0.5, epochs=1, batch_size=4,
                         limit_train=8, input_size=64)
    torch.manual_seed(0)
    before = models.create("effnet_lite0_fpn", 68, pretrained=False, frozen_blocks=3).state_dict()
    run = train(config, run_dir=tmp_path / "run")
    after = torch.load(run / "last.pt", weights_only=True)["state_dict"]
    frozen = [k for k in before if k.startswith(("encoder.stem_", "encoder.blocks.0.", "encoder.blocks.1.",
                                                 "encoder.blocks.2."))]
    trained = [k for k in before if k.startswith(("encoder.blocks.3.", "head."))]
    assert frozen and trained
    # frozen weights and their BatchNorm statistics stay as built; the rest learns
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in trained)
    assert RunFolder(run).status()["state"] == "done"


# ----------------------------------------------------------------------------- config edits before a resume


def _edit_config(run: RunFolder, **changes):
    import json

    data = json.loads(run.config_path.read_text())
    data.update(changes)
    run.config_path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    """A finished 2-epoch run with each schedule (trained once for the module)."""
    root = tmp_path_factory.mktemp("finished")
    return {s: train(tiny_config(epochs=2, schedule=s), run_dir=root / s, progress_bar=False)
            for s in ("onecycle", "constant")}


def _copy(src: Path, dst: Path) -> RunFolder:
    import shutil

    shutil.copytree(src, dst)
    run = RunFolder(dst)
    run.write_status(pid=None)  # trained in this process, which is alive: no longer its job
    return run


def test_raising_epochs_of_a_one_cycle_run_is_refused_clearly(tmp_path, finished_runs):
    from lmkviz import jobs

    run = _copy(finished_runs["onecycle"], tmp_path / "r")
    run.write_status(state="stopped")
    _edit_config(run, epochs=4)
    with pytest.raises(training.ResumeError, match="one-cycle .* planned for 2 .* Set epochs back to 2"):
        train(resume=run.path, progress_bar=False)
    assert run.status()["state"] == "stopped"  # nothing changed
    with pytest.raises(ValueError, match="one-cycle"):
        jobs.resume(run.path)
    assert run.status()["state"] == "stopped"


def test_a_done_run_stays_done(tmp_path, finished_runs, capfd):
    from lmkviz import cli

    run = _copy(finished_runs["onecycle"], tmp_path / "r")
    before = run.metrics_path.read_bytes()
    assert cli.main(["train", "--resume", str(run.path)]) == 0
    assert "nothing to do" in capfd.readouterr().err
    assert run.status()["state"] == "done" and run.metrics_path.read_bytes() == before
    # more epochs for a one-cycle run: refused, and the run is still done (not failed)
    assert cli.main(["train", "--resume", str(run.path), "--epochs", "5"]) == 2
    assert "one-cycle" in capfd.readouterr().err
    assert run.status()["state"] == "done" and run.config().epochs == 2


def test_a_constant_schedule_run_can_be_extended(tmp_path, finished_runs):
    """`lmkviz train --resume RUN --epochs 3` on a finished 2-epoch constant run trains epoch 3
    and ends with the weights of a run trained for 3 epochs straight."""
    from lmkviz import cli

    run = _copy(finished_runs["constant"], tmp_path / "r")
    assert cli.main(["train", "--resume", str(run.path), "--epochs", "3"]) == 0
    assert run.config().epochs == 3 and run.status()["state"] == "done"
    assert [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"] == [1, 2, 3]
    straight = train(tiny_config(epochs=3, schedule="constant"), run_dir=tmp_path / "straight", progress_bar=False)
    a = torch.load(straight / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(run.last_path, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_last_pt_without_training_state_is_refused_clearly(tmp_path, finished_runs):
    from lmkviz import jobs

    run = _copy(finished_runs["onecycle"], tmp_path / "r")
    _edit_config(run, epochs=2)
    run.write_status(state="stopped")
    ckpt.export(run.best_path, run.last_path, half=False)  # an exported checkpoint put in its place
    with pytest.raises(training.ResumeError, match="has no training state .*optimizer"):
        train(resume=run.path, progress_bar=False)
    with pytest.raises(ValueError, match="no training state"):
        jobs.resume(run.path)
    assert run.status()["state"] == "stopped"


def test_other_config_edits_are_refused_naming_the_field(tmp_path, finished_runs):
    from lmkviz import cli

    run = _copy(finished_runs["constant"], tmp_path / "r")
    run.write_status(state="stopped")
    _edit_config(run, lr=0.5, epochs=3)
    with pytest.raises(training.ResumeError, match=r"lr \(0.002 -> 0.5\)"):
        train(resume=run.path, progress_bar=False)
    _edit_config(run, lr=0.002, workers=0, log_every=5)  # where and how often: allowed
    assert cli.main(["train", "--resume", str(run.path), "--lr", "0.1"]) == 2  # only --epochs with --resume
    train(resume=run.path, progress_bar=False)
    assert [r["epoch"] for r in run.metrics() if r["kind"] == "epoch"] == [1, 2, 3]
