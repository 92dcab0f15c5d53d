"""lmkviz.training.options (what the Train form offers, read from the library) and the LR finder's readings."""

from __future__ import annotations

import numpy as np
import pytest

from lmkviz.training import PRESETS, TrainConfig
from lmkviz.training import options
from lmkviz.training.lr_find import lr_suggestions


def test_losses_follow_the_configs_own_validation():
    assert options.losses_for("gaussian") == ["auto", "mse", "awing"]
    assert options.losses_for("binary") == ["auto", "bce"]
    for encoding in ("gaussian", "gaussian_int", "binary"):
        for loss in options.losses_for(encoding):
            TrainConfig(encoding=encoding, loss=loss)  # every offered pair is a valid config


def test_model_options_come_from_the_factories():
    assert options.model_options("effnet_lite0_fpn") == {"width": 64, "frozen_blocks": 0}
    assert options.model_options("hrnet18") == {}
    assert "stride" not in options.model_options("unet_resnet18")  # set through the heatmap size
    assert "freeze the encoder's stem" in options.model_option_help("effnet_lite0_fpn", "frozen_blocks")
    assert options.model_option_help("effnet_lite0_fpn", "width") == "decoder channels."
    assert options.has_pretrained_weights("effnet_lite0_fpn") and options.has_pretrained_weights("unet_resnet18")
    assert not options.has_pretrained_weights("hrnet18_small")


def test_only_presets_made_for_real_faces_name_their_data():
    assert options.preset_data("effnet-faces") == ("face68", "ytf68")
    for name in ("quick-demo", "blog-unet", "blog-hrnet"):
        assert options.preset_data(name) is None


def test_config_differences_list_only_what_differs():
    a = PRESETS["quick-demo"]
    b = a.replace(name="other", lr=1e-3, data=("face68", "ytf68"), model_kwargs={"frozen_blocks": 3})
    unreadable = options.config_differences([a, b, None])  # a run without a readable config
    assert all(values[2] == "?" for values in unreadable.values()) and "lr" in unreadable
    two = options.config_differences([a, b])
    assert list(two) == ["data", "model_kwargs", "lr"]  # in the config's order
    assert two == {"data": ["synthetic", "face68, ytf68"], "model_kwargs": ["—", "frozen_blocks=3"], "lr": [0.003, 0.001]}
    assert "name" not in options.config_differences([a, b], all_fields=True)
    assert len(options.config_differences([a, a], all_fields=True)) > 30 and options.config_differences([a, a]) == {}


def test_lr_finder_readings():
    lrs = list(np.geomspace(1e-6, 1, 60))
    loss = [1.0 - 0.5 / (1 + (1e-3 / lr) ** 2) + (3.0 * lr if lr > 0.05 else 0) for lr in lrs]
    found = lr_suggestions(lrs, loss)
    assert found["steepest"] == pytest.approx(1e-3, rel=0.3)
    lowest = lrs[int(np.argmin(loss))]
    assert found["minimum"] == lowest and found["min_over_10"] == pytest.approx(lowest / 10)
    assert found["min_over_10"] > found["steepest"]
    assert lr_suggestions([1e-3, 1e-2], [1.0, 0.5]) == {}
