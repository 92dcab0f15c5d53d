"""Codecs: encode/decode pairs over one set of parameters (lmkviz.codecs)."""

import inspect

import pytest
import torch

from lmkviz.decoding import decode
from lmkviz.encoding import HeatmapCodec, gaussian_heatmaps


def random_points(n, k, size, seed=0, margin=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, k, 2, generator=g) * (size - 2 * margin) + margin


# --------------------------------------------------------------------------- issue 11: bugs


@pytest.mark.parametrize("encoding", ["gaussian", "binary"])
def test_encode_takes_visibility_second_and_generator_only_by_keyword(encoding):
    """Bug 5: ``encode(points, visibility)`` bound visibility to ``generator``."""
    codec = HeatmapCodec(image_size=64, heatmap_size=16, encoding=encoding, sigma=1.5)
    points = random_points(2, 3, 64, seed=1, margin=8)
    visibility = torch.tensor([[True, False, True], [False, True, True]])
    maps, weights = codec.encode(points, visibility)
    assert torch.equal(weights, visibility.float())
    assert torch.equal(maps.flatten(-2).amax(-1) > 0, visibility)
    kind = inspect.signature(HeatmapCodec.encode).parameters["generator"].kind
    assert kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(TypeError):
        codec.encode(points, None, torch.Generator())


def test_default_decoding_options_come_from_the_codec():
    """Bug 7: DARK's modulation defaults to the codec's training sigma, not a constant 0."""
    codec = HeatmapCodec(image_size=256, heatmap_size=64, encoding="gaussian", sigma=2.0)
    points = random_points(4, 20, 64, seed=2, margin=8)
    g = torch.Generator().manual_seed(0)
    maps = gaussian_heatmaps(points, 64, 2.0) + 0.05 * torch.randn(4, 20, 64, 64, generator=g)
    expected = decode(maps, "dark", blur=2.0) * codec.stride
    torch.testing.assert_close(codec.decode(maps, "dark"), expected)
    torch.testing.assert_close(codec.decode(maps, "dark", blur=0.0), decode(maps, "dark") * codec.stride)
    assert codec.decode_options("dark") == {"blur": 2.0}
    # a checkpoint's codec dict from before the option existed still loads, with the new default
    old = {"image_size": [256, 256], "heatmap_size": [64, 64], "encoding": "gaussian", "sigma": 3.0}
    loaded = HeatmapCodec.from_dict(old)
    assert loaded.decode_options("dark") == {"blur": 3.0}
    assert HeatmapCodec.from_dict(codec.with_(blur=1.0).to_dict()).decode_options("dark") == {"blur": 1.0}
    assert HeatmapCodec(encoding="binary").decode_options("dark") == {"blur": 0.0}
    # soft-argmax's temperature likewise: squared scores for Gaussian codecs, plain softmax for logits
    assert loaded.decode_options("softargmax") == {"temperature": 0.5}
    assert HeatmapCodec(encoding="binary").decode_options("softargmax") == {"temperature": 1.0}
    torch.testing.assert_close(codec.decode(maps, "softargmax"),
                               decode(maps, "softargmax", temperature=0.5) * codec.stride)
    assert codec.decode_options("argmax") == {}


# --------------------------------------------------------------------------- shared helpers

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def image_points(n, k, size_hw, seed=0, margin=0.0):
    """(n, k, 2) uniform sub-pixel image points, ``margin`` px from every border."""
    h, w = size_hw
    g = torch.Generator().manual_seed(seed)
    unit = torch.rand(n, k, 2, generator=g, dtype=torch.float64)
    span = torch.tensor([w - 2 * margin, h - 2 * margin], dtype=torch.float64)
    return (unit * span + margin).float()


# --------------------------------------------------------------------------- ported from mmpose's
# tests/test_codecs/test_msra_heatmap.py, test_udp_heatmap.py, test_simcc_label.py and
# test_integral_regression_label.py, restated for lmkviz: (N, K, ...) batches, image size
# (H, W) = (256, 192), keypoints in [0.1, 0.9] of the image (mmpose: "the bbox is usually
# padded"), but sub-pixel (mmpose rounds them) and with tolerances far below mmpose's 5 px.

from lmkviz.codecs import CODECS, SimCCCodec, UDPHeatmapCodec, codec_from_dict, simcc_loss  # noqa: E402
from lmkviz.decoding import DECODERS, VECTOR_DECODERS  # noqa: E402

MMPOSE_IMAGE = (256, 192)  # mmpose's input_size (w, h) = (192, 256)
MMPOSE_HEATMAP = (64, 48)

HEATMAP_CASES = {
    "msra": lambda: HeatmapCodec(MMPOSE_IMAGE, MMPOSE_HEATMAP, "gaussian_int", sigma=2.0),
    "msra+dark": lambda: HeatmapCodec(MMPOSE_IMAGE, MMPOSE_HEATMAP, "gaussian", sigma=2.0),
    "udp gaussian": lambda: UDPHeatmapCodec(MMPOSE_IMAGE, MMPOSE_HEATMAP, "gaussian", sigma=2.0),
    "integral": lambda: HeatmapCodec(MMPOSE_IMAGE, MMPOSE_HEATMAP, "gaussian", sigma=2.0),
}
SIMCC_CASES = {
    "simcc gaussian": lambda: SimCCCodec(MMPOSE_IMAGE, ratio=2.0, sigma=6.0),
    "simcc ratio 3": lambda: SimCCCodec(MMPOSE_IMAGE, ratio=3.0, sigma=5.0),
}


def mmpose_keypoints(n=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (0.1 + 0.8 * torch.rand(n, 17, 2, generator=g)) * torch.tensor([192.0, 256.0])


@pytest.mark.parametrize("name", list(HEATMAP_CASES))
def test_heatmap_encode_shapes(name):
    codec = HEATMAP_CASES[name]()
    maps, weights = codec.encode(mmpose_keypoints(), torch.ones(1, 17))
    assert maps.shape == (1, 17, 64, 48) and weights.shape == (1, 17)
    assert torch.all(weights == 1) and torch.all(maps.flatten(-2).amax(-1) > 0.5)
    maps, weights = codec.encode(mmpose_keypoints(3, seed=1))  # lmkviz encodes batches, not one instance
    assert maps.shape == (3, 17, 64, 48) and weights.shape == (3, 17)


@pytest.mark.parametrize("name", list(HEATMAP_CASES))
def test_heatmap_decode_shapes_on_random_maps(name):
    codec = HEATMAP_CASES[name]()
    maps = torch.rand(1, 17, 64, 48, generator=torch.Generator().manual_seed(2))
    for method in codec.decoders:
        points, scores = codec.decode(maps, method, return_confidence=True)
        assert points.shape == (1, 17, 2) and scores.shape == (1, 17), method
        assert torch.isfinite(points).all() and torch.equal(scores, maps.flatten(-2).amax(-1))


@pytest.mark.parametrize("name", list(HEATMAP_CASES))
def test_heatmap_circular_verification(name):
    """mmpose: allclose(atol=5 px). lmkviz: per decoder, a bound it provably meets."""
    codec = HEATMAP_CASES[name]()
    keypoints = mmpose_keypoints(4, seed=3)
    maps, _ = codec.encode(keypoints)
    stride = codec.stride
    bounds = {"argmax": 0.5 * 2 ** 0.5 * stride + 1e-3, "quarter": 0.5 * 2 ** 0.5 * stride,
              "topk": 0.5 * 2 ** 0.5 * stride, "dark": 0.02 * stride,
              # points 0.1 x the image from a border are 2.4 sigma from it: the cut blob pulls
              # soft-argmax inward by up to 0.04 cell (3 sigma inside it is exact, see below)
              "softargmax": 0.1 * stride}
    if name == "msra":  # the integer centre: every decoder finds the cell centre, up to half a cell off
        bounds = {m: 0.5 * 2 ** 0.5 * stride + 1e-3 for m in codec.decoders}
    for method in codec.decoders:
        found = codec.decode(maps, method)
        assert (found - keypoints).norm(dim=-1).max() <= bounds[method], method


def test_simcc_encode_shapes():
    for name, make in SIMCC_CASES.items():
        codec = make()
        (x_labels, y_labels), weights = codec.encode(mmpose_keypoints(), torch.ones(1, 17))
        assert x_labels.shape == (1, 17, int(192 * codec.ratio)), name
        assert y_labels.shape == (1, 17, int(256 * codec.ratio)), name
        assert weights.shape == (1, 17) and torch.all(weights == 1)
        assert x_labels.amax(-1).min() > 0.98 and y_labels.amax(-1).min() > 0.98  # peak 1 at the point


def test_simcc_decode_shapes_on_random_vectors():
    for name, make in SIMCC_CASES.items():
        codec = make()
        g = torch.Generator().manual_seed(4)
        outputs = (torch.rand(1, 17, int(192 * codec.ratio), generator=g),
                   torch.rand(1, 17, int(256 * codec.ratio), generator=g))
        for method in codec.decoders:
            points, scores = codec.decode(outputs, method, return_confidence=True)
            assert points.shape == (1, 17, 2) and scores.shape == (1, 17), (name, method)
            assert torch.isfinite(points).all()


def test_simcc_circular_verification():
    for name, make in SIMCC_CASES.items():
        codec = make()
        keypoints = mmpose_keypoints(4, seed=5)
        labels, _ = codec.encode(keypoints)
        bounds = {"argmax": 0.5 * 2 ** 0.5 / codec.ratio + 1e-4, "dark": 0.02, "softargmax": 0.02}
        for method in codec.decoders:
            found = codec.decode(labels, method, logits=False)
            assert (found - keypoints).norm(dim=-1).max() <= bounds[method], (name, method)


def test_codec_errors():
    with pytest.raises(ValueError, match="unknown encoding"):
        UDPHeatmapCodec(encoding="combined")
    with pytest.raises(ValueError, match="at least 2"):
        UDPHeatmapCodec(image_size=64, heatmap_size=1)
    with pytest.raises(ValueError, match="ratio"):
        SimCCCodec(ratio=0.0)
    with pytest.raises(ValueError, match="sigma"):
        SimCCCodec(sigma=-1.0)
    with pytest.raises(ValueError, match="blur"):
        HeatmapCodec(blur=-1.0)
    codec = SimCCCodec(MMPOSE_IMAGE)
    with pytest.raises(ValueError, match="pair"):
        codec.decode(torch.zeros(1, 17, 384))
    with pytest.raises(ValueError, match=r"\(N, K, 384\)"):
        codec.decode((torch.zeros(1, 17, 100), torch.zeros(1, 17, 512)))
    with pytest.raises(ValueError, match="visibility must have shape"):
        HeatmapCodec().encode(torch.zeros(2, 3, 2), torch.ones(3))


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make", [lambda: HeatmapCodec(256, 64, "gaussian", 2.0),
                                  lambda: UDPHeatmapCodec(256, 64, "gaussian", 2.0)],
                         ids=["heatmap", "udp"])
def test_heatmap_codecs_round_trip_random_subpixel_points(make, device):
    """DARK (plain and modulated, UDP's DARK variant) <= 0.02 heatmap px everywhere, even on
    the border cells; soft-argmax <= 0.02 heatmap px wherever the 3 sigma disc is inside."""
    codec = make()
    anywhere = image_points(16, 106, (256, 256), seed=6).to(device)
    inside = image_points(16, 106, (256, 256), seed=7, margin=3 * codec.sigma * codec.stride).to(device)
    tol = 0.02 * codec.stride  # image px
    for points in (anywhere, inside):
        maps, weights = codec.encode(points)
        assert maps.device.type == device and torch.all(weights == 1)
        for blur in (0.0, None):  # None: the codec's default, blur = sigma
            options = {} if blur is None else {"blur": blur}
            found = codec.decode(maps, "dark", **options)
            assert found.device.type == device
            assert (found - points).norm(dim=-1).max() <= tol, blur
    found = codec.decode(codec.encode(inside)[0], "softargmax")
    assert (found - inside).norm(dim=-1).max() <= tol
    assert (found - inside).norm(dim=-1).mean() <= 0.02  # image px


@pytest.mark.parametrize("device", DEVICES)
def test_simcc_round_trips_labels_and_perfect_logits(device):
    codec = SimCCCodec(256, ratio=2.0, sigma=6.0)
    points = image_points(16, 106, (256, 256), seed=8).to(device)
    labels, weights = codec.encode(points)
    assert labels[0].device.type == device and torch.all(weights == 1)
    for method in ("dark", "softargmax"):
        found = codec.decode(labels, method, logits=False)
        errors = (found - points).norm(dim=-1)
        if method == "softargmax":  # the label is cut at the border: judge it 3 sigma inside
            keep = ((points > 9) & (points < 256 - 9)).all(-1)
            errors = errors[keep]
        assert errors.max() <= 0.02, method
    # a head that learned the labels perfectly outputs log(labels) + c: its softmax is the label
    logits = tuple(torch.log(v.clamp_min(1e-30)) + 3.0 for v in labels)
    found, conf = codec.decode(logits, "dark", return_confidence=True)
    assert (found - points).norm(dim=-1).max() <= 0.02
    assert torch.all((conf > 0) & (conf < 1))


def test_udp_scaling_is_corner_aligned():
    codec = UDPHeatmapCodec(image_size=256, heatmap_size=64)
    pixel_centres = torch.tensor([[[0.5, 0.5], [255.5, 255.5], [128.0, 128.0]]])
    torch.testing.assert_close(codec.image_to_heatmap(pixel_centres),
                               torch.tensor([[[0.5, 0.5], [63.5, 63.5], [32.0, 32.0]]]))
    quarter = torch.tensor([[[64.0, 192.0]]])  # between the centre and the borders the two differ
    torch.testing.assert_close(codec.image_to_heatmap(quarter), (quarter - 0.5) * 63 / 255 + 0.5)
    assert codec.image_to_heatmap(quarter)[0, 0, 0].item() == pytest.approx(16.19, abs=0.005)
    edge = HeatmapCodec(image_size=256, heatmap_size=64)
    torch.testing.assert_close(edge.image_to_heatmap(pixel_centres),
                               torch.tensor([[[0.125, 0.125], [63.875, 63.875], [32.0, 32.0]]]))
    assert edge.image_to_heatmap(quarter)[0, 0, 0].item() == 16.0
    points = image_points(2, 10, (256, 256), seed=9)
    torch.testing.assert_close(codec.heatmap_to_image(codec.image_to_heatmap(points)), points)
    assert codec.stride == pytest.approx(255 / 63)
    # same maps as the edge-aligned codec fed the corner-aligned points
    maps, _ = codec.encode(points)
    torch.testing.assert_close(maps, gaussian_heatmaps(codec.image_to_heatmap(points), 64, 2.0))


def test_points_just_outside_get_a_partial_target_and_count():
    codec = HeatmapCodec(256, 64, "gaussian", 2.0)
    points = torch.tensor([[[-3.0, 100.0], [100.0, 259.0], [-30.0, 100.0], [100.0, 300.0]]])
    maps, weights = codec.encode(points)
    assert weights.tolist() == [[1.0, 1.0, 0.0, 0.0]]
    assert maps[0, 0].amax() > 0.5 and maps[0, 1].amax() > 0.5 and maps[0, 2:].amax() == 0
    found = codec.decode(maps[:, :2], "dark")  # DARK follows the partial blob outside the map
    torch.testing.assert_close(found, points[:, :2], atol=0.02, rtol=0)
    binary = HeatmapCodec(256, 64, "binary")
    _, weights = binary.encode(points, generator=torch.Generator().manual_seed(0))
    assert weights.tolist() == [[0.0, 0.0, 0.0, 0.0]]
    simcc = SimCCCodec(256, ratio=2.0, sigma=6.0)
    (x_labels, _), weights = simcc.encode(points)
    assert weights.tolist() == [[1.0, 1.0, 0.0, 0.0]] and x_labels[0, 2].amax() == 0


@pytest.mark.parametrize("name", ["heatmap", "udp_heatmap", "simcc"])
def test_nan_and_invisible_points_weigh_zero_and_have_empty_targets(name):
    codec = CODECS[name]()
    points = image_points(2, 5, (256, 256), seed=10, margin=20)
    points[0, 1] = float("nan")
    visibility = torch.ones(2, 5, dtype=torch.bool)
    visibility[1, 3] = False
    targets, weights = codec.encode(points, visibility)
    expected = torch.ones(2, 5)
    expected[0, 1] = expected[1, 3] = 0
    assert torch.equal(weights, expected)
    parts = targets if isinstance(targets, tuple) else (targets.flatten(-2),)
    for part in parts:
        assert torch.equal(part.amax(-1) > 0, expected > 0)
    # an empty target decodes to NaN with confidence 0, never a made-up point
    found, conf = codec.decode(targets, codec.decoders[0], logits=False, return_confidence=True)
    assert torch.isnan(found[0, 1]).all() and torch.isnan(found[1, 3]).all() and conf[0, 1] == 0
    assert torch.isfinite(found[expected > 0]).all()


def test_decoders_of_each_codec_are_listed_with_labels():
    from lmkviz.decoding import DECODER_LABELS

    assert HeatmapCodec().decoders == DECODERS and UDPHeatmapCodec().decoders == DECODERS
    assert SimCCCodec().decoders == VECTOR_DECODERS
    assert "softargmax" in DECODERS and set(VECTOR_DECODERS) <= set(DECODERS)
    assert set(DECODER_LABELS) == set(DECODERS)


@pytest.mark.parametrize("codec", [HeatmapCodec(), HeatmapCodec(encoding="binary", blur=0.5),
                                   UDPHeatmapCodec(image_size=(256, 192), heatmap_size=(64, 48), sigma=1.5),
                                   SimCCCodec(image_size=(256, 192), ratio=3.0, sigma=4.0)],
                         ids=["heatmap", "binary", "udp", "simcc"])
def test_codec_dicts_round_trip_and_dispatch_on_type(codec):
    import json

    data = json.loads(json.dumps(codec.to_dict()))
    assert data["type"] == codec.codec_type
    assert codec_from_dict(data) == codec and type(codec).from_dict(data) == codec
    with pytest.raises(ValueError, match="unknown codec field"):
        codec_from_dict({**data, "sigmaa": 1})


def test_old_codec_dicts_load_and_types_do_not_mix():
    old = {"image_size": [128, 128], "heatmap_size": [32, 32], "encoding": "gaussian", "sigma": 1.5}
    assert codec_from_dict(old) == HeatmapCodec(128, 32, "gaussian", 1.5) == HeatmapCodec.from_dict(old)
    udp = UDPHeatmapCodec().to_dict()
    assert type(HeatmapCodec.from_dict(udp)) is UDPHeatmapCodec  # a heatmap codec too
    with pytest.raises(ValueError, match="codec_from_dict"):
        HeatmapCodec.from_dict(SimCCCodec().to_dict())
    with pytest.raises(ValueError, match="codec_from_dict"):
        UDPHeatmapCodec.from_dict(HeatmapCodec().to_dict())
    with pytest.raises(ValueError, match="unknown codec type"):
        codec_from_dict({"type": "nope"})


# --------------------------------------------------------------------------- SimCC loss


def test_simcc_loss_is_zero_for_the_labels_own_logits_and_masks_by_weight():
    codec = SimCCCodec(image_size=64, ratio=2.0, sigma=3.0)
    points = image_points(2, 4, (64, 64), seed=11, margin=4)
    (tx, ty), weights = codec.encode(points)
    perfect_x, perfect_y = torch.log(tx.clamp_min(1e-30)), torch.log(ty.clamp_min(1e-30))
    assert simcc_loss(perfect_x, perfect_y, tx, ty, weights).item() == pytest.approx(0.0, abs=1e-5)
    g = torch.Generator().manual_seed(12)
    px = torch.randn(tx.shape, generator=g, requires_grad=True)
    py = torch.randn(ty.shape, generator=g, requires_grad=True)
    loss = simcc_loss(px, py, tx, ty, weights)
    assert loss.item() > 1.0
    loss.backward()
    assert torch.isfinite(px.grad).all() and px.grad.abs().sum() > 0
    # a point with weight 0 does not count, however wrong its prediction
    masked = weights.clone()
    masked[0, 0] = 0
    worse = px.detach().clone()
    worse[0, 0] = 50 * torch.randn(worse.shape[-1], generator=g)
    a = simcc_loss(px.detach(), py.detach(), tx, ty, masked)
    b = simcc_loss(worse, py.detach(), tx, ty, masked)
    assert a.item() == pytest.approx(b.item())
    zero = simcc_loss(px, py, tx, ty, torch.zeros_like(weights))
    assert zero.item() == 0.0
    with pytest.raises(ValueError, match="do not match"):
        simcc_loss(px[..., :-1], py, tx, ty, weights)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["heatmap", "udp_heatmap", "simcc"])
def test_codecs_on_cuda_match_cpu(name):
    codec = CODECS[name]()
    points = image_points(4, 20, (256, 256), seed=13)
    cpu_targets, cpu_weights = codec.encode(points)
    gpu_targets, gpu_weights = codec.encode(points.cuda())
    assert torch.equal(gpu_weights.cpu(), cpu_weights)
    for method in codec.decoders:
        a = codec.decode(cpu_targets, method, logits=False)
        b = codec.decode(gpu_targets, method, logits=False)
        assert b.device.type == "cuda"
        torch.testing.assert_close(b.cpu(), a, atol=2e-3, rtol=0)


def test_a_codec_class_refuses_another_codecs_dict_naming_the_way_to_load_it():
    from lmkviz.codecs import HeatmapCodec, RegressionCodec, SimCCCodec, codec_from_dict

    heat = HeatmapCodec(image_size=64, heatmap_size=16).to_dict()
    for cls in (SimCCCodec, RegressionCodec):
        with pytest.raises(ValueError, match=f"is not a {cls.__name__}.*codec_from_dict"):
            cls.from_dict(heat)
        own = cls(image_size=64).to_dict()
        assert cls.from_dict(own) == codec_from_dict(own)
