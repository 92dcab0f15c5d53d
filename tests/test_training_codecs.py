"""Training with every codec: UDP heatmaps, a SimCC head, the coordinate loss (integral
regression); SimCC outputs downstream (evaluator, flip test, Predictor, previews); old
configs and checkpoints keep their meaning."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from lmkviz import checkpoint as ckpt
from lmkviz import cli, coords, models
from lmkviz.codecs import HeatmapCodec, SimCCCodec, UDPHeatmapCodec, simcc_loss
from lmkviz.data import IBUG68, open_split
from lmkviz.decoding import DECODERS, VECTOR_DECODERS, decode, flip_outputs, flip_vectors
from lmkviz.evaluation import (
    Evaluator,
    evaluate,
    evaluate_model,
    evaluation_dataset,
    predict_heatmaps,
    primary_decoder,
)
from lmkviz.inference import Predictor
from lmkviz.losses import coordinate_loss, make_loss
from lmkviz.runs import RunFolder
from lmkviz.training import PRESETS, TrainConfig, build_model, lr_find, make_codec, make_run_loss, train
from tests.helpers import tiny_config


# ----------------------------------------------------------------------------- tiny runs


@pytest.fixture(scope="module")
def simcc_run(tmp_path_factory):
    """A tiny SimCC run: hrnet18_small, 64 px, synthetic faces, 2 epochs."""
    return train(tiny_config(encoding="simcc", sigma=3.0), runs_root=tmp_path_factory.mktemp("simcc"),
                 progress_bar=False)


@pytest.fixture(scope="module")
def udp_run(tmp_path_factory):
    return train(tiny_config(encoding="udp", sigma=1.5), runs_root=tmp_path_factory.mktemp("udp"),
                 progress_bar=False)


def _epochs(path):
    return [r for r in RunFolder(path).metrics() if r["kind"] == "epoch"]


def test_a_simcc_run_ends_done_scored_by_the_simcc_decoders(simcc_run):
    run = RunFolder(simcc_run)
    assert run.status()["state"] == "done"
    epochs = _epochs(simcc_run)
    assert [r["epoch"] for r in epochs] == [1, 2]
    for record in epochs:
        assert set(record["val_nme"]) == set(VECTOR_DECODERS)
        assert all(math.isfinite(v) for v in record["val_nme"].values())
        assert math.isfinite(record["val_loss"]) and record["val_loss"] > 0
    data = torch.load(simcc_run / "best.pt", weights_only=True)
    assert data["codec"]["type"] == "simcc" and data["codec"]["ratio"] == 2.0 and data["codec"]["sigma"] == 3.0
    assert data["model"]["kwargs"] == {"head": "simcc", "input_size": 64, "simcc_ratio": 2.0}
    assert data["summary"]["primary_decoder"] == "dark"
    # the preview: pseudo-heatmaps at the feature map's size and the two distributions
    preview = run.preview()
    assert preview["heatmaps"].shape == (2, 68, 16, 16)
    assert preview["simcc_x"].shape == (2, 68, 128) and preview["simcc_y"].shape == (2, 68, 128)
    np.testing.assert_allclose(preview["simcc_x"].astype(np.float32).sum(-1), 1.0, atol=2e-2)
    assert {f"pred_{m}" for m in VECTOR_DECODERS} <= set(preview) and "pred_quarter" not in preview
    # each epoch's preview is kept, small: the drawn maps and the points, not the distributions
    kept = run.epoch_preview(2)
    assert run.preview_epochs() == [1, 2] and kept["heatmaps"].shape == (2, 1, 16, 16) and "simcc_x" not in kept


def test_a_simcc_checkpoint_predicts_68_points_with_every_simcc_decoder(simcc_run):
    predictor = Predictor(simcc_run / "best.pt")
    assert isinstance(predictor.codec, SimCCCodec) and isinstance(predictor.model, models.SimCCHead)
    assert predictor.decoders == VECTOR_DECODERS
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    out = predictor.predict(image, detect=False)
    assert set(out.points) == set(VECTOR_DECODERS)
    for points in out.points.values():
        assert points.shape == (68, 2) and np.isfinite(points).all()
    # drawable: S x S pseudo-heatmaps with peak 1, and the two 1-D distributions
    assert out.heatmaps.shape == (68, 64, 64)
    np.testing.assert_allclose(out.heatmaps.max(axis=(1, 2)), 1.0, atol=1e-5)
    assert out.vectors[0].shape == (68, 128) and out.vectors[1].shape == (68, 128)
    np.testing.assert_allclose(out.vectors[0].sum(-1), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="quarter.*do not apply to a simcc model"):
        predictor.predict(image, detect=False, decoders=["quarter"])


def test_a_simcc_checkpoint_in_batch_prediction_and_export(simcc_run, tmp_path):
    from PIL import Image

    from lmkviz.batch import collect_inputs, predict_batch
    from lmkviz.export import export_checkpoint

    Image.fromarray(np.full((80, 80, 3), 100, np.uint8)).save(tmp_path / "a.png")
    inputs, failed = collect_inputs([tmp_path])
    (result,) = list(predict_batch(inputs, Predictor(simcc_run / "best.pt")))
    assert not failed and result.ok and set(result.prediction.points) == set(VECTOR_DECODERS)
    with pytest.raises(ValueError, match="SimCCCodec outputs no heatmaps"):
        export_checkpoint(simcc_run / "best.pt", "torchscript", tmp_path / "m.pt")


def test_a_simcc_checkpoint_evaluates_like_its_validation(simcc_run):
    """evaluate() on best.pt gives the NME the run logged for its best epoch, flip test included."""
    best = torch.load(simcc_run / "best.pt", weights_only=True)["summary"]["epoch"]
    logged = next(r for r in _epochs(simcc_run) if r["epoch"] == best)["val_nme"]
    result = evaluate(simcc_run / "best.pt", "synthetic", "val", limit=4, keep_heatmaps=True)
    assert result.decoders == list(VECTOR_DECODERS) and result.primary_decoder == "dark"
    for m, value in result.mean_nme().items():
        assert value == pytest.approx(logged[m], abs=1e-3)
    assert result.heatmaps is None and result.vectors[0].shape == (4, 68, 128)
    view = result.sample_view(1)  # drawable: pseudo-heatmaps over the input, points in input px
    assert view.maps.shape == (68, 64, 64) and view.heatmap_size == (64, 64) and view.stride == 1.0
    np.testing.assert_allclose(view.maps.max(axis=(1, 2)), 1.0, atol=1e-5)
    np.testing.assert_allclose(view.pred_hm["dark"], view.pred["dark"])
    on_input = coords.rescale_batch(torch.as_tensor(result.pred["dark"][1:2]), result.image_sizes[1:2], 64)[0]
    np.testing.assert_allclose(view.pred["dark"], on_input.numpy(), atol=1e-4)
    flipped = evaluate(simcc_run / "best.pt", "synthetic", "val", limit=4, flip_test=True)
    assert all(math.isfinite(v) for v in flipped.mean_nme().values())
    assert not np.allclose(flipped.pred["dark"], result.pred["dark"])


def test_a_udp_run_ends_done_and_its_checkpoint_decodes_the_udp_way(udp_run):
    assert RunFolder(udp_run).status()["state"] == "done"
    for record in _epochs(udp_run):
        assert set(record["val_nme"]) == set(DECODERS)
        assert all(math.isfinite(v) for v in record["val_nme"].values())
    predictor = Predictor(udp_run / "best.pt")
    codec = predictor.codec
    assert isinstance(codec, UDPHeatmapCodec) and codec.encoding == "gaussian" and codec.sigma == 1.5
    assert codec.primary_decoder == "dark"
    out = predictor.predict(np.zeros((64, 64, 3), np.uint8), detect=False)
    assert set(out.points) == set(DECODERS) and all(p.shape == (68, 2) for p in out.points.values())
    # the corner-aligned scaling is the one used: a cell centre decodes to UDP's image point
    maps = torch.zeros(1, 1, 16, 16)
    maps[0, 0, 0, 0] = 1.0
    assert codec.decode(maps, "argmax")[0, 0].tolist() == pytest.approx([0.5, 0.5])  # edge-aligned: 2.0


def test_cli_trains_a_simcc_model(tmp_path, capsys):
    code = cli.main(["train", "--encoding", "simcc", "--simcc-ratio", "1.5", "--sigma", "2", "--data", "synthetic",
                     "--model", "hrnet18_small", "--input-size", "64", "--epochs", "1", "--batch-size", "4",
                     "--limit-train", "4", "--limit-val", "2", "--workers", "0", "--runs-root", str(tmp_path)])
    assert code == 0
    (run,) = list(tmp_path.iterdir())
    config = RunFolder(run).config()
    assert config.encoding == "simcc" and config.simcc_ratio == 1.5
    data = torch.load(run / "last.pt", weights_only=True)
    assert data["codec"]["type"] == "simcc" and data["codec"]["ratio"] == 1.5
    assert data["state_dict"]["head_x.weight"].shape == (96, 16 * 16)  # 64 px x 1.5 bins, stride-4 features
    capsys.readouterr()
    image = tmp_path / "face.png"
    from PIL import Image

    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(image)
    assert cli.main(["predict", str(image), "--checkpoint", str(run / "last.pt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["points"]) == set(VECTOR_DECODERS) and len(out["points"]["dark"]) == 68


def test_lr_find_runs_with_a_simcc_model(tmp_path):
    result = lr_find(tiny_config(encoding="simcc", sigma=3.0), tmp_path / "find", steps=4)
    assert len(result["loss"]) == 4 and all(math.isfinite(v) for v in result["loss"])


def test_the_quick_simcc_demo_preset():
    config = PRESETS["quick-demo-simcc"]
    quick = PRESETS["quick-demo"]
    assert config.encoding == "simcc" and config.loss_name == "kl" and config.model == quick.model
    assert (config.input_size, config.epochs, config.limit_train) == (quick.input_size, quick.epochs,
                                                                       quick.limit_train)
    net, kwargs = build_model(config, 68)
    codec = make_codec(config, net.stride)
    x, y = net.eval()(torch.rand(1, 3, config.input_size, config.input_size))
    assert (x.shape[-1], y.shape[-1]) == codec.lengths == (256, 256)


# ----------------------------------------------------------------------------- config and build


def test_old_configs_keep_their_meaning():
    """A config.json written before the codec options existed builds the same heatmap codec
    and loss; an old checkpoint's codec entry (no type, no temperature) is a HeatmapCodec."""
    old = {"name": "old", "model": "hrnet18_small", "encoding": "gaussian_int", "sigma": 3.0, "input_size": 64,
           "loss": "auto"}
    config = TrainConfig.from_dict(old)
    assert (config.simcc_ratio, config.coord_loss, config.softargmax_temperature) == (2.0, 0.0, None)
    codec = make_codec(config, 4)
    assert type(codec) is HeatmapCodec
    assert codec == HeatmapCodec(image_size=64, heatmap_size=16, encoding="gaussian_int", sigma=3.0)
    assert make_run_loss(config, codec).name == "mse" and config.loss_name == "mse"
    binary = make_codec(TrainConfig.from_dict({**old, "encoding": "binary"}), 4)
    assert type(binary) is HeatmapCodec and primary_decoder(binary) == "topk"
    legacy = ckpt.codec_of({"codec": {"image_size": [64, 64], "heatmap_size": [16, 16], "encoding": "gaussian",
                                      "sigma": 2.0}})
    assert type(legacy) is HeatmapCodec and legacy.decoders == DECODERS and legacy.primary_decoder == "dark"
    net, kwargs = build_model(config, 68)
    assert kwargs == {} and isinstance(net, models.HRNet)


def test_new_config_fields_round_trip_and_are_checked():
    config = tiny_config(encoding="simcc", simcc_ratio=3.0, coord_loss=0.05, softargmax_temperature=0.7)
    assert TrainConfig.from_json(config.to_json()) == config
    codec = make_codec(config, 4)
    assert codec == SimCCCodec(image_size=64, ratio=3.0, sigma=2.0, temperature=0.7)
    assert make_codec(tiny_config(encoding="gaussian", softargmax_temperature=0.7), 4).temperature == 0.7
    for changes, phrase in [
        (dict(encoding="simcc", loss="mse"), "mse needs a Gaussian heatmap encoding"),
        (dict(encoding="gaussian", loss="kl"), "kl needs the simcc encoding"),
        (dict(encoding="udp", loss="bce"), "bce needs the binary encoding"),
        (dict(coord_loss=-1.0), "coord_loss"),
        (dict(softargmax_temperature=0.0), "softargmax_temperature"),
        (dict(simcc_ratio=0.0), "simcc_ratio"),
        (dict(encoding="laplace"), "encoding.*simcc"),
    ]:
        with pytest.raises(ValueError, match=phrase):
            tiny_config(**changes)
    with pytest.raises(ValueError, match="softargmax_temperature.*number"):
        TrainConfig.from_dict({"softargmax_temperature": "warm"})
    with pytest.raises(ValueError, match="head.*follow from the encoding"):
        build_model(tiny_config(model_kwargs={"head": "simcc"}), 68)


# ----------------------------------------------------------------------------- the SimCC head


@pytest.mark.parametrize("name", ["hrnet18_small", "effnet_lite0_fpn"])
def test_simcc_head_on_a_backbone_learns_a_batch(name):
    torch.manual_seed(0)
    net = models.create(name, 5, pretrained=False, head="simcc", input_size=64, simcc_ratio=2.0)
    codec = SimCCCodec(image_size=64, ratio=2.0, sigma=3.0)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, 64, 64, generator=g)
    points = torch.rand(2, 5, 2, generator=g) * 48 + 8
    (tx, ty), weights = codec.encode(points)
    x, y = net(images)
    assert x.shape == (2, 5, 128) and y.shape == (2, 5, 128)
    first = net.backbone.parameters().__next__()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = simcc_loss(*net(images), tx, ty, weights)
        opt.zero_grad()
        loss.backward()
        assert first.grad is not None and first.grad.abs().sum() > 0  # the backbone learns too
        opt.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < losses[0] - 0.05


def test_simcc_head_options_are_checked():
    with pytest.raises(ValueError, match="needs input_size"):
        models.create("hrnet18_small", 5, head="simcc")
    with pytest.raises(ValueError, match="head='simcc' only"):
        models.create("hrnet18_small", 5, input_size=64)
    with pytest.raises(ValueError, match="unknown head"):
        models.create("hrnet18_small", 5, head="dsnt")
    net = models.create("hrnet18_small", 5, head="simcc", input_size=64, pretrained=False)
    with pytest.raises(ValueError, match="takes 64x64 inputs"):
        net(torch.rand(1, 3, 96, 96))
    assert net.stride == 4 and net.num_points == 5


# ----------------------------------------------------------------------------- the flip test


def test_simcc_flip_reverses_x_bins_as_w_minus_x():
    """The mirrored twin of a point set, flipped back, gives the labels of the point set itself."""
    codec = SimCCCodec(image_size=(48, 64), ratio=2.0, sigma=2.0)
    g = torch.Generator().manual_seed(0)
    points = torch.rand(3, 4, 2, generator=g) * torch.tensor([64.0, 48.0])
    perm = [1, 0, 3, 2]
    mirrored = points[:, perm].clone()
    mirrored[..., 0] = 64 - mirrored[..., 0]
    (x, y), _ = codec.encode(points)
    (mx, my), _ = codec.encode(mirrored)
    fx, fy = flip_vectors(mx, my, perm)
    torch.testing.assert_close(fx, x, atol=1e-6, rtol=0)
    torch.testing.assert_close(fy, y, atol=1e-6, rtol=0)
    assert flip_outputs((mx, my), perm)[0].equal(fx)


class Twin(nn.Module):
    """Returns the logits of one point set for the image, of its mirrored twin for the mirrored image."""

    def __init__(self, plain, mirrored):
        super().__init__()
        self.plain, self.mirrored = plain, mirrored

    def forward(self, images):
        marked_left = images[:, 0, 0, 0] > 0.5  # the marker pixel sits at the top-left of the image
        return tuple(torch.where(marked_left[:, None, None], a, b) for a, b in zip(self.plain, self.mirrored))


def test_simcc_flip_test_decodes_a_point_set_and_its_mirrored_twin_to_the_same_points():
    codec = SimCCCodec(image_size=64, ratio=2.0, sigma=3.0)
    g = torch.Generator().manual_seed(3)
    points = torch.rand(2, 4, 2, generator=g) * 40 + 12
    perm = [1, 0, 3, 2]
    mirrored = points[:, perm].clone()
    mirrored[..., 0] = 64 - mirrored[..., 0]
    logits = tuple(torch.log(v + 1e-6) for v in codec.encode(points)[0])
    twin_logits = tuple(torch.log(v + 1e-6) for v in codec.encode(mirrored)[0])
    images = torch.zeros(2, 3, 64, 64)
    images[:, :, 0, 0] = 1.0
    model = Twin(logits, twin_logits)
    out = predict_heatmaps(model, images, flip_perm=perm)
    for m in VECTOR_DECODERS:
        torch.testing.assert_close(codec.decode(out, m), codec.decode(logits, m), atol=2e-3, rtol=0)
        tolerance = 0.25 if m == "argmax" else 0.02  # argmax: within half a bin (0.5 px / 2)
        torch.testing.assert_close(codec.decode(out, m), points, atol=tolerance, rtol=0)
    # averaged as distributions: the result's softmax is the mean of the two softmaxes
    mixed = predict_heatmaps(Twin(logits, tuple(torch.zeros_like(v) for v in logits)), images, flip_perm=perm)
    expected = (torch.softmax(logits[0], -1) + torch.full_like(logits[0], 1 / 128)) / 2
    torch.testing.assert_close(torch.softmax(mixed[0], -1), expected, atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------- coordinate loss


def _gaussian_codec():
    return HeatmapCodec(image_size=64, heatmap_size=16, encoding="gaussian", sigma=1.5)


def test_coordinate_loss_is_in_input_pixels_and_zero_on_clean_targets():
    for codec in (_gaussian_codec(), SimCCCodec(image_size=64, ratio=2.0, sigma=3.0)):
        points = torch.tensor([[[20.3, 30.7], [40.1, 25.5]]])
        targets, weights = codec.encode(points)
        outputs = targets if isinstance(codec, HeatmapCodec) else tuple(torch.log(v + 1e-9) for v in targets)
        soft = codec.soft_argmax(outputs)
        torch.testing.assert_close(soft, points, atol=0.02, rtol=0)
        assert coordinate_loss(soft, points, weights).item() < 0.02
        moved = points + torch.tensor([3.0, -1.0])
        assert coordinate_loss(soft, moved, weights).item() == pytest.approx(2.0, abs=0.02)  # (3 + 1) / 2


def test_coordinate_loss_is_added_with_its_weight_and_gradients_flow():
    codec = _gaussian_codec()
    g = torch.Generator().manual_seed(0)
    points = torch.rand(2, 3, 2, generator=g) * 48 + 8
    outputs = (torch.rand(2, 3, 16, 16, generator=g) * 0.5).requires_grad_(True)
    plain = make_loss(codec, "mse")(outputs, points)
    coord = coordinate_loss(codec.soft_argmax(outputs), points, codec.encode(points)[1])
    both = make_loss(codec, "mse", coord_loss=0.25)
    assert both.name == "mse+coord"
    total = both(outputs, points)
    assert total.item() == pytest.approx(plain.item() + 0.25 * coord.item(), rel=1e-6)
    total.backward()
    only_maps = torch.autograd.grad(make_loss(codec, "mse")(outputs, points), outputs)[0]
    assert (outputs.grad - only_maps).abs().sum() > 1e-4  # the coordinate term reaches the maps
    # SimCC: the same on the logits
    simcc = SimCCCodec(image_size=64, ratio=2.0, sigma=3.0)
    logits = tuple(torch.randn(2, 3, 128, generator=g).requires_grad_(True) for _ in range(2))
    loss = make_loss(simcc, "auto", coord_loss=1.0)
    assert loss.name == "kl+coord"
    loss(logits, points).backward()
    grads = [v.grad for v in logits]
    kl_only = torch.autograd.grad(make_loss(simcc)(logits, points), logits)
    assert all((a - b).abs().sum() > 1e-4 for a, b in zip(grads, kl_only))


def test_coordinate_loss_is_masked_by_keypoint_weights():
    codec = _gaussian_codec()
    points = torch.tensor([[[20.0, 30.0], [40.0, 25.0], [float("nan"), float("nan")], [200.0, 30.0]]])
    maps, weights = codec.encode(points)
    assert weights.tolist() == [[1.0, 1.0, 0.0, 0.0]]
    loss_fn = make_loss(codec, "mse", coord_loss=1.0)
    outputs = maps.clone().requires_grad_(True)
    base = loss_fn(outputs, points)
    base.backward()
    assert torch.isfinite(outputs.grad).all() and outputs.grad[0, 2:].abs().sum() == 0
    garbage = maps.clone()
    garbage[0, 2:] = torch.rand(2, 16, 16) * 5  # predictions where no point counts
    assert loss_fn(garbage, points).item() == pytest.approx(base.item(), abs=1e-6)
    moved = maps.clone()
    moved[0, 1] = codec.encode(points[:, 1:2] + torch.tensor([4.0, 0.0]))[0][0, 0]
    # a counted point moved by 4 px: the coordinate term grows by 4 / 2 px over 2 points
    grown = loss_fn(moved, points).item() - make_loss(codec, "mse")(moved, points).item()
    assert grown == pytest.approx(1.0, abs=0.05)
    assert coordinate_loss(torch.zeros(1, 2, 2), torch.ones(1, 2, 2), torch.zeros(1, 2)).item() == 0.0


@pytest.mark.parametrize("encoding", ["gaussian", "simcc"])
def test_train_step_back_propagates_the_run_loss_with_its_coordinate_term(encoding):
    from lmkviz.training import train_step

    config = tiny_config(encoding=encoding, sigma=3.0, coord_loss=0.5)
    torch.manual_seed(0)
    net, _ = build_model(config, 68)
    codec = make_codec(config, net.stride)
    g = torch.Generator().manual_seed(0)
    batch = {"image": torch.rand(2, 3, 64, 64, generator=g), "points": torch.rand(2, 68, 2, generator=g) * 48 + 8}
    net.train()
    with torch.no_grad():
        out = net(batch["image"])
        expected = make_run_loss(config, codec)(out, batch["points"]).item()
        without = make_run_loss(config.replace(coord_loss=0.0), codec)(out, batch["points"]).item()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    loss = train_step(net, optimizer, batch, codec, torch.arange(68), config, torch.device("cpu"))
    assert loss.item() == pytest.approx(expected, rel=1e-5) and expected > without + 0.1


def test_a_run_with_the_coordinate_loss_validates_with_the_same_loss(tmp_path):
    config = tiny_config(epochs=1, coord_loss=0.5, softargmax_temperature=0.8)
    path = train(config, runs_root=tmp_path, progress_bar=False)
    assert RunFolder(path).status()["state"] == "done"
    logged = _epochs(path)[-1]["val_loss"]
    loaded = ckpt.load_for_inference(path / "last.pt")
    assert loaded.codec.temperature == 0.8
    dataset = evaluation_dataset(open_split("synthetic", "val"), 64, limit=config.limit_val)

    def val_loss(loss_fn):
        return evaluate_model(loaded.model, loaded.codec, dataset, indices=range(68), scheme=IBUG68,
                              batch_size=config.batch_size, loss_fn=loss_fn).loss

    assert val_loss(make_run_loss(config, loaded.codec)) == pytest.approx(logged, rel=1e-5)
    assert val_loss(make_loss(loaded.codec, "mse")) < logged - 1e-3  # the coordinate term counted


# ----------------------------------------------------------------------------- drawing SimCC


def test_pseudo_heatmaps_are_the_outer_product_and_peak_at_the_point():
    codec = SimCCCodec(image_size=(48, 64), ratio=2.0, sigma=2.0)
    points = torch.tensor([[[20.3, 30.7], [50.6, 10.2]]])
    logits = tuple(torch.log(v + 1e-9) for v in codec.encode(points)[0])
    px, py = codec.probabilities(logits)
    full = codec.pseudo_heatmaps(logits, size=(96, 128), normalize=False)
    torch.testing.assert_close(full, py[..., :, None] * px[..., None, :])
    maps = codec.pseudo_heatmaps(logits, normalize=False)  # one cell per input pixel
    assert maps.shape == (1, 2, 48, 64)
    torch.testing.assert_close(maps.sum((-2, -1)), torch.ones(1, 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(decode(maps, "argmax"), torch.floor(points) + 0.5)
    coarse = codec.pseudo_heatmaps(logits, size=(12, 16))
    torch.testing.assert_close(coarse.amax((-2, -1)), torch.ones(1, 2))
    torch.testing.assert_close(decode(coarse, "dark", blur=0.0) * 4, points, atol=0.25, rtol=0)  # by area: no shift


def test_evaluator_takes_the_decoders_of_the_codec_and_refuses_others():
    simcc = SimCCCodec(image_size=64, ratio=2.0, sigma=3.0)
    heat = _gaussian_codec()
    kwargs = dict(indices=range(68), eye_corners=IBUG68.eye_corners, device="cpu")
    assert Evaluator(nn.Identity(), simcc, **kwargs).decoders == VECTOR_DECODERS
    assert Evaluator(nn.Identity(), heat, **kwargs).decoders == DECODERS
    with pytest.raises(ValueError, match="topk, quarter do not apply to a simcc model.*argmax, dark, softargmax"):
        Evaluator(nn.Identity(), simcc, decoders=["dark", "topk", "quarter"], **kwargs)
    assert primary_decoder(simcc) == "dark" and primary_decoder(heat) == "dark"
    assert primary_decoder(HeatmapCodec(encoding="binary")) == "topk" == primary_decoder("binary")
    assert primary_decoder(UDPHeatmapCodec()) == "dark"


# ----------------------------------------------------------------------------- the shipped checkpoint


def test_the_shipped_heatmap_checkpoint_evaluates_as_before():
    """checkpoints/default.pt (written before the codec options) is a heatmap model: every
    heatmap decoder, DARK primary, and the flip-tested points are those of the heatmap path
    written out by hand (mirror the image, mirror the maps back, swap left/right, average,
    decode with DARK modulated by the training sigma, scale to the original pixels)."""
    predictor = Predictor("default", flip_test=True)
    codec = predictor.codec
    assert type(codec) is HeatmapCodec and codec.primary_decoder == "dark"
    result = evaluate(predictor, "synthetic", "val", limit=4, flip_test=True)
    assert result.decoders == list(DECODERS) and result.primary_decoder == "dark"
    dataset = evaluation_dataset(open_split("synthetic", "val"), predictor.input_size, limit=4)
    images = torch.stack([dataset[i]["image"] for i in range(4)])
    sizes = torch.stack([dataset[i]["original_size"] for i in range(4)])
    with torch.no_grad():
        plain = predictor.model(images)
        mirrored = predictor.model(images.flip(-1)).flip(-1)[:, predictor.flip_perm]
    maps = (plain + mirrored) / 2
    hm = decode(maps, "dark", blur=codec.sigma)
    on_input = hm * (predictor.input_size / maps.shape[-1])
    expected = coords.rescale_batch(on_input.double(), predictor.input_size, sizes)
    np.testing.assert_allclose(result.pred["dark"], expected.numpy(), atol=2e-3)
