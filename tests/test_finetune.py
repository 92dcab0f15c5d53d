"""Fine-tuning: a run that starts from a checkpoint's weights (``init_from``, ``--init-from``)."""

from __future__ import annotations

import json

import pytest
import torch

from lmkviz import checkpoint as ckpt
from lmkviz import cli
from lmkviz.training import TrainConfig
from lmkviz.training.build import build_model
from tests.helpers import make_checkpoint


def weights(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_the_run_starts_from_every_weight_of_the_checkpoint(tmp_path):
    source = make_checkpoint(tmp_path / "source.pt", input_size=64, seed=1)
    # another input size is fine: the layers are convolutions
    net, _ = build_model(TrainConfig(model="hrnet18_small", input_size=128, init_from=str(source)), 68)
    expected = weights(source)
    assert set(net.state_dict()) == set(expected)
    for name, value in net.state_dict().items():
        assert torch.equal(value, expected[name]), name
    fresh, _ = build_model(TrainConfig(model="hrnet18_small", input_size=128), 68)
    assert not all(torch.equal(v, expected[k]) for k, v in fresh.state_dict().items())


def test_an_fp16_export_and_a_shipped_name_load_into_an_fp32_model(tmp_path):
    source = make_checkpoint(tmp_path / "source.pt", input_size=64, seed=2)
    half = tmp_path / "half.pt"
    ckpt.export(source, half, half=True)
    net, _ = build_model(TrainConfig(model="hrnet18_small", input_size=64, init_from=str(half)), 68)
    expected = weights(half)
    for name, value in net.state_dict().items():
        assert value.dtype == (torch.float32 if value.is_floating_point() else value.dtype)
        assert torch.equal(value, expected[name].to(value.dtype)), name
    shipped = ckpt.load("fast-cpu")  # a shipped checkpoint, by name
    net, _ = build_model(TrainConfig(model=shipped["config"]["model"], input_size=128, init_from="fast-cpu"), 68)
    for name, value in net.state_dict().items():
        assert torch.equal(value, shipped["state_dict"][name].to(value.dtype)), name


@pytest.mark.parametrize("config, message", [
    (dict(model="unet_resnet18_small"), "hrnet18_small"),  # another architecture: the checkpoint's is named
    (dict(model="hrnet18_small", encoding="simcc"), "SimCC head"),
    (dict(model="hrnet18_small", init_from="no-such-model"), "no-such-model"),
])
def test_a_checkpoint_that_does_not_fit_is_a_clear_error(tmp_path, config, message):
    source = make_checkpoint(tmp_path / "source.pt", input_size=64)
    config = {"input_size": 64, "init_from": str(source), **config}
    with pytest.raises(ValueError, match="init_from") as err:
        build_model(TrainConfig(**config), 68)
    assert message in str(err.value)


def test_another_landmark_count_is_refused(tmp_path):
    source = make_checkpoint(tmp_path / "source.pt", input_size=64)
    with pytest.raises(ValueError, match="init_from.*68"):
        build_model(TrainConfig(model="hrnet18_small", input_size=64, init_from=str(source)), 5)


def test_the_cli_fine_tunes_a_checkpoint_and_records_it(monkeypatch, tmp_path):
    monkeypatch.setenv("LMKVIZ_RUNS", str(tmp_path / "runs"))
    source = make_checkpoint(tmp_path / "source.pt", input_size=64, seed=3)
    code = cli.main(["train", "--data", "synthetic", "--epochs", "1", "--limit-train", "4", "--limit-val", "2",
                     "--input-size", "64", "--batch-size", "4", "--workers", "0", "--lr", "1e-9",
                     "--init-from", str(source), "--name", "tuned"])
    assert code == 0
    run = next((tmp_path / "runs").iterdir())
    assert json.loads((run / "config.json").read_text())["init_from"] == str(source)
    # one step at a learning rate of 1e-9 leaves the weights where the checkpoint had them
    tuned, start = weights(run / "last.pt"), weights(source)
    moved = max(float((tuned[k].float() - start[k].float()).abs().max()) for k in start
                if start[k].is_floating_point() and "running" not in k and "num_batches" not in k)
    assert moved < 1e-5
