"""Export (lmkviz.export, ``lmkviz export``) and bring-your-own models (lmkviz.imported): ONNX and
TorchScript parity with PyTorch, the sidecar, and a model built outside lmkviz (BGR, 0-255)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from lmkviz import checkpoint as ckpt
from lmkviz import models
from lmkviz.cli import main
from lmkviz.codecs import HeatmapCodec
from lmkviz.data.schemes import IBUG68
from lmkviz.decoding import DECODERS
from lmkviz.evaluation import evaluate
from lmkviz.export import export_checkpoint, sidecar_path
from lmkviz.imported import ImportedPredictor, ModelSettings, load_model
from lmkviz.inference import Predictor
from lmkviz.training import TrainConfig


def make_checkpoint(tmp_path, name: str, size: int = 64, seed: int = 0, indices=None) -> tuple:
    """A checkpoint of architecture ``name`` with random weights (perturbed so that the heatmaps
    have distinct peaks); returns (path, model in eval mode, codec)."""
    torch.manual_seed(seed)
    indices = list(range(68)) if indices is None else list(indices)
    net = models.create(name, len(indices), pretrained=False).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
        head = [m for m in net.modules() if isinstance(m, nn.Conv2d)][-1]  # effnet's starts near zero
        nn.init.normal_(head.weight, std=head.weight[0].numel() ** -0.5)
    codec = HeatmapCodec(image_size=(size, size), heatmap_size=(size // net.stride,) * 2, sigma=1.5)
    payload = ckpt.checkpoint_payload(net, TrainConfig(model=name, input_size=size), {}, codec, IBUG68, indices,
                                      {"epoch": 1})
    path = tmp_path / f"{name}.pt"
    ckpt.save(payload, path)
    return path, net, codec


def _assert_parity(reference: torch.Tensor, got: torch.Tensor, codec, clear_peaks_only: bool = False) -> None:
    """Heatmaps within 1e-4, points of every decoder within 0.01 px. With random weights some
    maps are nearly flat or have two nearly equal maxima, where any decoder may jump by pixels
    for a 1e-6 change: ``clear_peaks_only`` compares the points of the maps whose range is at
    least 5 % of the largest value and whose maximum beats the second highest cell by 1 % of
    that range (at least 10 maps), and for DARK
    those where its refinement stays within one heatmap cell of the argmax (a random map is no
    Gaussian blob: DARK's Hessian there can be nearly singular)."""
    assert got.shape == reference.shape
    assert (got - reference).abs().max().item() <= 1e-4
    assert reference.std() > 1e-3  # maps with structure, not a constant
    flat = reference.flatten(2)
    top, span = flat.topk(2, dim=-1).values, flat.amax(-1) - flat.amin(-1)
    clear = torch.ones(top.shape[:2], dtype=torch.bool)
    if clear_peaks_only:
        clear = (top[..., 0] - top[..., 1] > 0.01 * span) & (span > 0.05 * reference.abs().max())
        assert clear.sum() >= 10
    peak = codec.decode(reference, "argmax")
    for m in DECODERS:
        a, b = codec.decode(reference, m), codec.decode(got, m)
        keep = clear
        if clear_peaks_only and m == "dark":  # DARK's Newton step on a map that is no blob can leap
            keep = clear & ((a - peak).abs().amax(-1) <= codec.stride)  # away: keep steps within one cell
        assert (a - b)[keep].abs().max().item() <= 0.01, m


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hrnet18_small", "effnet_lite0_fpn"])
def test_onnx_export_reproduces_pytorch(tmp_path, name):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path, net, codec = make_checkpoint(tmp_path, name)
    result = export_checkpoint(path, "onnx")
    assert result.model_path == tmp_path / f"{name}.onnx" and result.sidecar_path == tmp_path / f"{name}.onnx.json"
    session = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))  # a batch size not exported
    with torch.no_grad():
        reference = net(images)
    got = torch.from_numpy(session.run(None, {"image": images.numpy()})[0])
    _assert_parity(reference, got, codec, clear_peaks_only=True)


def test_sidecar_says_how_to_feed_and_read_the_model(tmp_path):
    path, net, codec = make_checkpoint(tmp_path, "hrnet18_small", indices=[36, 45, 30, 48, 54])
    result = export_checkpoint(path, "torchscript", out=tmp_path / "out" / "m.pt")
    side = json.loads(sidecar_path(result.model_path).read_text())
    assert side == result.sidecar
    assert side["format"] == "lmkviz-model" and side["version"] == 1 and side["runtime"] == "torchscript"
    assert side["model_file"] == "m.pt"
    assert side["input"] == {"name": "image", "layout": "NCHW", "size": [64, 64], "channel_order": "RGB",
                             "value_range": [0.0, 1.0], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                             "normalization": "inside the model"}
    assert side["output"] == {"name": "heatmaps", "layout": "NKHW", "heatmap_size": [16, 16], "values": "heatmaps"}
    assert side["codec"] == codec.to_dict()
    assert side["scheme"]["name"] == "ibug68" and side["scheme"]["indices"] == [36, 45, 30, 48, 54]
    assert side["scheme"]["landmark_names"] == [IBUG68.names[i] for i in (36, 45, 30, 48, 54)]
    assert side["scheme"]["flip_perm"] == [1, 0, 2, 4, 3]  # the eye corners and mouth corners swap
    assert side["source"]["architecture"] == "hrnet18_small"


@pytest.mark.parametrize("name", ["hrnet18_small", "effnet_lite0_fpn"])
def test_torchscript_export_reproduces_pytorch_and_loads_back(tmp_path, name):
    path, net, codec = make_checkpoint(tmp_path, name)
    result = export_checkpoint(path, "torchscript")
    assert result.model_path.name == f"{name}.torchscript.pt"
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = net(images)
    predictor = load_model(result.model_path)  # finds the sidecar beside it
    assert isinstance(predictor, Predictor) and predictor.codec == codec and predictor.num_points == 68
    _assert_parity(reference, predictor.heatmaps(images), codec, clear_peaks_only=True)


@pytest.mark.slow
def test_shipped_checkpoint_exported_to_onnx_predicts_and_evaluates_like_pytorch(tmp_path, make_lapa_folder):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from skimage import data

    assert main(["export", "default", "--format", "onnx", "--out", str(tmp_path / "default.onnx")]) == 0
    reference, imported = Predictor("default"), load_model(tmp_path / "default.onnx")
    side = reference.input_size
    crops = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(3))
    _assert_parity(reference.heatmaps(crops), imported.heatmaps(crops), reference.codec)
    a, b = reference.predict(data.astronaut()), imported.predict(data.astronaut())
    for m in DECODERS:
        assert np.abs(a.points[m] - b.points[m]).max() <= 0.01, m
    folder = make_lapa_folder(bad_files=False, n_per_split=3, size=96)
    ra, rb = evaluate(reference, str(folder.root), "val"), evaluate(imported, str(folder.root), "val")
    assert rb.n == 3 and rb.checkpoint.endswith("default.onnx")
    for m in DECODERS:
        np.testing.assert_allclose(rb.pred[m], ra.pred[m], atol=0.01)


# ----------------------------------------------------------------- a model built outside lmkviz


class TinyBGRNet(nn.Module):
    """Takes BGR images normalised from 0-255 (as OpenCV-based tools do), returns K heatmaps at stride 4."""

    def __init__(self, k: int = 68):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Conv2d(8, k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(nn.functional.avg_pool2d(x, 4))))


MEAN, STD = (103.5, 116.3, 123.7), (57.4, 57.1, 58.4)


pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*deprecated:FutureWarning",
                                        "ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning")


def _tiny(tmp_path, layout: str = "NKHW"):
    torch.manual_seed(0)
    net = TinyBGRNet().eval()
    if layout == "NHWK":
        class Last(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner(x).permute(0, 2, 3, 1)

        scripted = torch.jit.script(Last(net))
    else:
        scripted = torch.jit.script(net)
    path = tmp_path / f"tiny_{layout}.pt"
    scripted.save(str(path))
    settings = ModelSettings(input_size=(32, 32), channel_order="BGR", value_range=(0, 255), mean=MEAN, std=STD,
                             output_layout=layout, num_points=68, sigma=1.0)
    return net, path, settings


def _by_hand(net, images):
    """What the tiny net must be given for lmkviz's RGB [0, 1] images."""
    bgr = images.flip(1) * 255
    x = (bgr - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return net(x)


def test_a_scripted_bgr_0_255_model_with_a_sidecar(tmp_path, make_lapa_folder):
    net, path, settings = _tiny(tmp_path)
    sidecar_path(path).write_text(json.dumps(settings.to_sidecar(path.name, "torchscript")))
    predictor = load_model(path)
    assert isinstance(predictor, ImportedPredictor) and predictor.codec.heatmap_size == (8, 8)
    assert predictor.loaded.scheme_name == "ibug68" and predictor.loaded.indices == list(range(68))
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    expected = _by_hand(net, images)
    assert torch.allclose(predictor.heatmaps(images), expected, atol=1e-5)
    # the same model fed RGB in [0, 1] would give other maps: the settings are applied
    with torch.no_grad():
        assert not torch.allclose(net(images), expected, atol=1e-2)
    folder = make_lapa_folder(bad_files=False, n_per_split=2, size=64)
    result = evaluate(predictor, str(folder.root), "val")
    assert result.n == 2 and set(result.nme) == set(DECODERS) and np.isfinite(result.pred["dark"]).all()
    crop_points, raw, _ = predictor.predict_crops(np.zeros((1, 64, 64, 3), np.uint8))
    assert raw.shape == (1, 68, 8, 8) and crop_points["argmax"].shape == (1, 68, 2)
    flipped = load_model(path, flip_test=True)  # the iBUG scheme's flip permutation
    assert flipped.flip_perm == list(IBUG68.flip_perm)


def test_explicit_settings_and_an_nhwk_output(tmp_path):
    net, path, settings = _tiny(tmp_path, "NHWK")
    predictor = load_model(path, settings=settings)  # no sidecar: the settings of a form
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(predictor.heatmaps(images), _by_hand(net, images), atol=1e-5)
    side = predictor.sidecar  # the settings, completed, to save beside the model
    assert side["output"] == {"name": "heatmaps", "layout": "NHWK", "heatmap_size": [8, 8], "values": "heatmaps"}
    assert side["input"]["channel_order"] == "BGR" and side["input"]["mean"] == list(MEAN)
    assert side["scheme"]["name"] == "ibug68" and side["codec"]["sigma"] == 1.0
    assert ModelSettings.from_sidecar(side) == predictor.settings


def test_imported_model_errors_say_what_to_fix(tmp_path):
    _, path, settings = _tiny(tmp_path)
    with pytest.raises(ValueError, match="no sidecar tiny_NKHW.pt.json beside the model; give the settings"):
        load_model(path)
    with pytest.raises(ValueError, match="outputs 68 heatmaps of 8 x 8 .*the settings say 5 points"):
        load_model(path, settings=settings.replace(num_points=5))
    with pytest.raises(ValueError, match="outputs 8 x 8 heatmaps .*the settings say 16 x 16"):
        load_model(path, settings=settings.replace(heatmap_size=(16, 16)))
    with pytest.raises(ValueError, match="channel_order must be RGB or BGR"):
        settings.replace(channel_order="RBG")
    sidecar_path(path).write_text("{not json")
    with pytest.raises(ValueError, match="the sidecar is not valid JSON"):
        load_model(path)
    sidecar_path(path).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not an lmkviz model sidecar"):
        load_model(path)
    checkpoint_file = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, checkpoint_file)
    with pytest.raises(ValueError, match="cannot be loaded as a TorchScript model"):
        load_model(checkpoint_file, settings=settings)


def test_onnx_input_size_is_checked(tmp_path):
    pytest.importorskip("onnxruntime")
    net = TinyBGRNet().eval()
    path = tmp_path / "fixed.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, 32, 32),), str(path), input_names=["x"], dynamo=False)
    with pytest.raises(ValueError, match="the model's input height is 32, the settings say 64"):
        load_model(path, settings=ModelSettings(input_size=(64, 64)))
    predictor = load_model(path, settings=ModelSettings(input_size=(32, 32)))  # batch fixed at 1: image by image
    images = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(predictor.heatmaps(images), net(images), atol=1e-5)


def test_export_cli_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.pt"), "--format", "torchscript"]) == 1
    assert "no such checkpoint file" in capsys.readouterr().err


def test_an_uploaded_model_is_stored_with_its_sidecar_or_its_settings(tmp_path):
    from lmkviz.imported import settings_from_form, store_model

    net, path, settings = _tiny(tmp_path)
    side = json.dumps(settings.to_sidecar(path.name, "torchscript")).encode()
    stored = store_model(path.read_bytes(), "../../evil/" + path.name, tmp_path / "models", sidecar=side)
    assert stored.parent.parent == tmp_path / "models" and stored.name == path.name  # no way out of the folder
    assert torch.allclose(load_model(stored).heatmaps(torch.zeros(1, 3, 32, 32)),
                          load_model(path, settings=settings).heatmaps(torch.zeros(1, 3, 32, 32)))
    assert store_model(path.read_bytes(), path.name, tmp_path / "models", sidecar=side) == stored  # same upload
    typed = settings_from_form(32, 32, "BGR", "0, 255", ", ".join(map(str, MEAN)), " ".join(map(str, STD)),
                               "NKHW", num_points=68, sigma=1.0)
    assert typed == settings.replace(scheme_points=68)
    by_form = store_model(path.read_bytes(), path.name, tmp_path / "models", settings=typed)
    images = torch.rand(1, 3, 32, 32)
    assert torch.allclose(load_model(by_form).heatmaps(images), _by_hand(net, images), atol=1e-5)
    with pytest.raises(ValueError, match="mean: give 3 numbers"):
        settings_from_form(32, 32, mean="1, 2")
    with pytest.raises(ValueError, match=r"the sidecar describes tiny_NKHW.pt \(torchscript\), not model.onnx \(onnx\)"):
        store_model(b"x", "model.onnx", tmp_path / "models", sidecar=side)
    with pytest.raises(ValueError, match="must end in .onnx"):
        store_model(b"x", "model.bin", tmp_path / "models", settings=typed)
    with pytest.raises(ValueError, match="the sidecar is not valid JSON"):
        store_model(b"x", "model.onnx", tmp_path / "models", sidecar=b"{oops")
