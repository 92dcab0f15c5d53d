"""The direct-regression baseline: its codec, its loss, its config and a training run end to end."""

from __future__ import annotations

import math

import pytest
import torch

from lmkviz import checkpoint as ckpt
from lmkviz.codecs import RegressionCodec, codec_from_dict
from lmkviz.losses import make_loss, regression_loss, resolve_loss
from lmkviz.runs import RunFolder
from lmkviz.training import TrainConfig, train
from tests.helpers import tiny_config

NAN = float("nan")


def test_codec_encodes_fractions_and_decodes_image_pixels():
    codec = RegressionCodec(image_size=(100, 200))  # H, W
    points = torch.tensor([[[50.0, 25.0], [0.0, 100.0], [NAN, 3.0]]])
    target, weights = codec.encode(points)
    torch.testing.assert_close(target[0, :2], torch.tensor([[0.25, 0.25], [0.0, 1.0]]))
    assert weights.tolist() == [[1.0, 1.0, 0.0]]
    back, confidence = codec.decode(target, return_confidence=True)
    torch.testing.assert_close(back[0, :2], points[0, :2])
    assert confidence.tolist() == [[1.0, 1.0, 1.0]]
    hidden, weights = codec.encode(points, torch.tensor([[True, False, True]]))
    assert weights.tolist() == [[1.0, 0.0, 0.0]] and torch.isnan(hidden[0, 1]).all()


def test_codec_has_one_decoder_and_round_trips_as_a_dict():
    codec = RegressionCodec(image_size=64)
    assert codec.decoders == ("direct",) and codec.primary_decoder == "direct"
    with pytest.raises(ValueError, match="does not apply to a regression model"):
        codec.decode(torch.zeros(1, 2, 2), "argmax")
    with pytest.raises(ValueError, match=r"\(N, K, 2\)"):
        codec.decode(torch.zeros(1, 2, 8, 8))
    assert codec_from_dict(codec.to_dict()) == codec
    with pytest.raises(ValueError, match="unknown codec field"):
        codec_from_dict({**codec.to_dict(), "sigma": 2.0})


def test_regression_loss_values_and_masking():
    pred = torch.tensor([[[0.5, 0.5], [0.1, 0.9], [0.0, 0.0]]], requires_grad=True)
    target = torch.tensor([[[0.7, 0.4], [0.1, 0.9], [NAN, NAN]]])
    l1 = regression_loss(pred, target)
    # (0.2 + 0.1) / 2 for the first point, 0 for the second, the NaN one left out
    assert l1.item() == pytest.approx(0.15 / 2)
    mse = regression_loss(pred, target, loss="mse")
    assert mse.item() == pytest.approx((0.04 + 0.01) / 2 / 2)
    weighted = regression_loss(pred, target, torch.tensor([[0.0, 1.0, 1.0]]))
    assert weighted.item() == pytest.approx(0.0)
    l1.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[0, 2].abs().sum() == 0
    with pytest.raises(ValueError, match="unknown regression loss"):
        regression_loss(pred, target, loss="bce")


def test_make_loss_encodes_points_for_a_regression_codec():
    codec = RegressionCodec(image_size=64)
    loss_fn = make_loss(codec)
    assert loss_fn.name == "l1"
    points = torch.tensor([[[32.0, 16.0]]])
    assert loss_fn(torch.tensor([[[0.5, 0.25]]]), points).item() == pytest.approx(0.0)
    assert loss_fn(torch.tensor([[[0.5, 0.5]]]), points).item() == pytest.approx(0.125)
    assert make_loss(codec, "mse").name == "mse"
    assert resolve_loss("auto", "regression") == "l1"
    with pytest.raises(ValueError, match="does not fit the regression encoding"):
        resolve_loss("awing", "regression")
    with pytest.raises(ValueError, match="l1 is for the regression encoding"):
        resolve_loss("l1", "gaussian")


@pytest.mark.parametrize("changes,message", [
    (dict(model="resnet18_regression"), "use the regression encoding"),
    (dict(encoding="regression"), "needs a model that outputs points"),
    (dict(model="resnet18_regression", encoding="regression", loss="awing"), "coordinates use l1 or mse"),
    (dict(loss="l1"), "l1 is for the regression encoding"),
])
def test_config_pairs_the_regression_model_with_its_encoding(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_config_accepts_the_regression_pair():
    config = TrainConfig(model="resnet18_regression", encoding="regression")
    assert config.loss_name == "l1"
    assert TrainConfig.from_json(config.to_json()) == config


def test_a_regression_run_trains_validates_and_saves(tmp_path):
    run = train(tiny_config(model="resnet18_regression", encoding="regression", epochs=1),
                run_dir=tmp_path / "run", progress_bar=False)
    folder = RunFolder(run)
    assert folder.status()["state"] == "done"
    _, epochs = folder.history()
    assert list(epochs[-1]["val_nme"]) == ["direct"] and math.isfinite(epochs[-1]["val_nme"]["direct"])
    preview = folder.preview()
    assert "heatmaps" not in preview and preview["pred_direct"].shape == (2, 68, 2)
    info = ckpt.describe(folder.best_path)
    assert (info.model, info.codec, info.heatmap_size) == ("resnet18_regression", "regression", None)

    from lmkviz.evaluation import evaluate

    result = evaluate(str(folder.best_path), "synthetic", "val", limit=2)
    assert [row["decoder"] for row in result.table()] == ["direct"]
    with pytest.raises(ValueError, match="flip test mirrors heatmaps"):
        evaluate(str(folder.best_path), "synthetic", "val", limit=2, flip_test=True)
