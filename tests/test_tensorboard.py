"""TensorBoard event files of training runs (lmkviz.training.tensorboard): the scalars match
metrics.jsonl, the preview images are there, and a missing tensorboard package only costs a
line in the log."""

from __future__ import annotations

import json
import sys

import pytest

from lmkviz.runs import RunFolder
from lmkviz.training import TrainConfig, train
from lmkviz.training.tensorboard import INSTALL_HINT, open_log
from tests.helpers import tiny_config


def _events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_a_run_writes_tensorboard_scalars_and_previews(tmp_path):
    pytest.importorskip("tensorboard")
    run = train(tiny_config(), run_dir=tmp_path / "run", progress_bar=False)
    assert list(run.glob("events.out.tfevents.*")), "event files next to metrics.jsonl"
    acc = _events(run)
    tags = set(acc.Tags()["scalars"])
    decoders = ("argmax", "quarter", "topk", "dark")
    assert {"train/loss", "train/lr", "train/epoch_loss", "val/loss"} <= tags
    assert {f"val/nme/{m}" for m in decoders} <= tags
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    losses = {e.step: e.value for e in acc.Scalars("train/loss")}
    assert losses == pytest.approx({r["step"]: r["loss"] for r in steps}, rel=1e-6)  # log_every=1: every step
    assert [e.value for e in acc.Scalars("train/lr")] == pytest.approx([r["lr"] for r in steps], rel=1e-6)
    per_epoch = 2  # 8 images, batch 4
    dark = acc.Scalars("val/nme/dark")
    assert [e.step for e in dark] == [per_epoch, 2 * per_epoch]
    assert [e.value for e in dark] == pytest.approx([r["val_nme"]["dark"] for r in epochs], rel=1e-5)
    assert [e.value for e in acc.Scalars("val/loss")] == pytest.approx([r["val_loss"] for r in epochs], rel=1e-5)
    previews = acc.Images("preview")
    assert [p.step for p in previews] == [per_epoch, 2 * per_epoch]
    assert (previews[0].height, previews[0].width) == (64, 2 * 64)  # preview=2 images of 64 px, side by side


def test_without_the_tensorboard_package_training_goes_on_and_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    run = train(tiny_config(epochs=1), run_dir=tmp_path / "run", progress_bar=False)
    assert RunFolder(run).status()["state"] == "done"
    assert not list(run.glob("events.out.tfevents.*"))
    assert (run / "train.log").read_text().count("pip install tensorboard") == 1


def test_the_option_is_on_by_default_and_off_writes_nothing(tmp_path):
    pytest.importorskip("tensorboard")
    old = TrainConfig().to_dict()
    del old["tensorboard"]  # a config.json written before the option existed
    assert TrainConfig.from_dict(old).tensorboard is True
    off = open_log(tmp_path / "off", enabled=False)
    off.step(1, 0.5, 1e-3)
    off.epoch(1, 0.5, 0.4, {"dark": 5.0})
    assert not off.enabled and not (tmp_path / "off").exists()
    on = open_log(tmp_path / "on")
    on.epoch(3, 0.5, None, {"dark": 5.0, "argmax": float("nan")})
    on.close()
    acc = _events(tmp_path / "on")
    assert set(acc.Tags()["scalars"]) == {"train/epoch_loss", "val/nme/dark"}  # no NaN, no missing loss
    assert "tensorboard" in INSTALL_HINT and "--logdir runs" in INSTALL_HINT


def test_cli_flag_turns_it_off():
    from lmkviz.cli import _train_config, build_parser

    args = build_parser().parse_args(["train", "--no-tensorboard"])
    assert _train_config(args).tensorboard is False
    assert _train_config(build_parser().parse_args(["train"])).tensorboard is True
