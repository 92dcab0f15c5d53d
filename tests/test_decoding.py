import math

import pytest
import torch
import torch.nn.functional as F

from lmkviz.decoding import DECODERS, decode, flip_heatmaps, gaussian_blur, modulate
from lmkviz.encoding import binary_heatmaps, gaussian_heatmaps


def random_points(n, k, size, seed=0, margin=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, k, 2, generator=g) * (size - 2 * margin) + margin


def mean_error(a, b):
    return (a - b).norm(dim=-1).mean().item()


# Round-trip accuracy on 64x64 maps, sigma = 2, random sub-pixel points (heatmap px).
@pytest.fixture(scope="module")
def gaussian_case():
    points = random_points(32, 68, 64, seed=0, margin=2.0)
    return points, gaussian_heatmaps(points, 64, 2.0)


def test_dark_round_trip_on_subpixel_gaussians_within_0_02(gaussian_case):
    points, maps = gaussian_case
    assert mean_error(decode(maps, "dark"), points) <= 0.02


def test_argmax_round_trip_is_quantised_between_0_3_and_0_45(gaussian_case):
    points, maps = gaussian_case
    assert 0.3 <= mean_error(decode(maps, "argmax"), points) <= 0.45


def test_quarter_beats_argmax(gaussian_case):
    points, maps = gaussian_case
    assert mean_error(decode(maps, "quarter"), points) < mean_error(decode(maps, "argmax"), points)


def test_topk_on_scores_beats_argmax(gaussian_case):
    points, maps = gaussian_case
    assert mean_error(decode(maps, "topk", logits=False), points) < mean_error(decode(maps, "argmax"), points)


def test_argmax_lands_on_the_cell_centre_within_half_a_cell():
    points = random_points(8, 68, 64, seed=3)
    maps = gaussian_heatmaps(points, 64, 1.5)
    out = decode(maps, "argmax")
    assert (out - points).abs().max() <= 0.5 + 1e-4
    assert torch.equal(out - 0.5, torch.floor(out))


def test_mean_argmax_of_2000_binary_draws_is_the_point():
    points = random_points(1, 20, 64, seed=4, margin=1.0)
    maps = binary_heatmaps(points.expand(2000, -1, -1), 64, generator=torch.Generator().manual_seed(0))
    assert (decode(maps, "argmax").mean(0) - points[0]).norm(dim=-1).max() <= 0.05


def test_dark_is_exact_on_the_border_cells_with_a_one_sided_stencil():
    points = torch.tensor([[[0.3, 10.2], [20.4, 63.8], [63.6, 0.2], [0.05, 63.95]]])
    maps = gaussian_heatmaps(points, 64, 2.0)
    torch.testing.assert_close(decode(maps, "dark"), points, atol=1e-4, rtol=0)
    assert not torch.equal(decode(maps, "dark"), decode(maps, "argmax"))


def test_dark_keeps_the_peak_cell_where_the_hessian_is_not_negative_definite():
    saddle = torch.zeros(1, 1, 16, 16)
    saddle[0, 0, 8, :] = 1.0  # ridge along x: flat direction
    saddle[0, 0, 8, 5] = 1.01
    out = decode(saddle, "dark")
    assert torch.isfinite(out).all()
    assert abs(out[0, 0, 0].item() - 5.5) <= 1.0
    saddle = torch.full((1, 1, 16, 16), 0.05)  # strong cross term: det(H) < 0 at the peak
    saddle[0, 0, 7:10, 7:10] = torch.tensor([[0.1, 0.9, 0.95], [0.8, 1.0, 0.9], [0.95, 0.9, 0.1]])
    assert torch.equal(decode(saddle, "dark"), decode(saddle, "argmax"))


def test_dark_uses_the_cross_term_on_correlated_gaussians():
    # anisotropic, rotated Gaussian centred at a sub-pixel point
    cx, cy = 20.3, 30.7
    ys, xs = torch.meshgrid(torch.arange(64.0) + 0.5, torch.arange(64.0) + 0.5, indexing="ij")
    dx, dy = xs - cx, ys - cy
    cov_inv = torch.linalg.inv(torch.tensor([[6.0, 3.5], [3.5, 4.0]]))
    q = cov_inv[0, 0] * dx**2 + 2 * cov_inv[0, 1] * dx * dy + cov_inv[1, 1] * dy**2
    maps = torch.exp(-0.5 * q)[None, None]
    out = decode(maps, "dark")[0, 0]
    assert (out - torch.tensor([cx, cy])).norm() < 1e-3


def test_dark_modulation_helps_on_noisy_maps():
    points = random_points(16, 68, 64, seed=5, margin=6)
    g = torch.Generator().manual_seed(1)
    maps = gaussian_heatmaps(points, 64, 2.0) + 0.05 * torch.randn(16, 68, 64, 64, generator=g)
    raw = mean_error(decode(maps, "dark"), points)
    blurred = mean_error(decode(maps, "dark", blur=1.5), points)
    assert blurred < raw / 2


def test_modulate_keeps_the_peak_height_and_blur_keeps_mass():
    points = random_points(2, 3, 32, seed=6, margin=8)
    maps = gaussian_heatmaps(points, 32, 1.0)
    mod = modulate(maps, 1.0)
    torch.testing.assert_close(mod.amax(dim=(-1, -2)), maps.amax(dim=(-1, -2)))
    torch.testing.assert_close(gaussian_blur(maps, 1.0).sum(dim=(-1, -2)), maps.sum(dim=(-1, -2)), rtol=1e-4, atol=1e-4)


def test_topk_with_logits_is_the_h3r_softmax():
    maps = torch.full((1, 1, 8, 8), -10.0)
    maps[0, 0, 2, 3] = 5.0
    maps[0, 0, 2, 4] = 5.0  # two equal logits: the mean of their centres
    out = decode(maps, "topk", k=2, logits=True)
    torch.testing.assert_close(out, torch.tensor([[[4.0, 2.5]]]))


def test_topk_on_binary_logits_recovers_subpixel_point():
    # a model that learned the randomized-rounding probabilities outputs
    # log-odds proportional to the bilinear weights; top-4 softmax of the
    # log-probabilities is the bilinear mean, which is the point.
    points = random_points(4, 10, 32, seed=8, margin=2)
    u = points - 0.5
    base, frac = torch.floor(u), u - torch.floor(u)
    probs = torch.zeros(4, 10, 32, 32)
    for dy in (0, 1):
        for dx in (0, 1):
            w = (frac[..., 0] if dx else 1 - frac[..., 0]) * (frac[..., 1] if dy else 1 - frac[..., 1])
            r = (base[..., 1] + dy).long()
            c = (base[..., 0] + dx).long()
            probs.view(4, 10, -1).scatter_add_(-1, (r * 32 + c)[..., None], w[..., None])
    out = decode(torch.log(probs.clamp_min(1e-12)), "topk", k=4, logits=True)
    assert mean_error(out, points) < 1e-4


@pytest.mark.parametrize("method", DECODERS)
def test_decoders_are_batched_and_match_per_map_decoding(method):
    points = random_points(3, 5, 32, seed=9, margin=1)
    maps = gaussian_heatmaps(points, (32, 40), 2.0)
    batched = decode(maps, method)
    single = torch.stack([torch.stack([decode(maps[i, j][None, None], method)[0, 0] for j in range(5)]) for i in range(3)])
    torch.testing.assert_close(batched, single)
    assert batched.shape == (3, 5, 2)


@pytest.mark.parametrize("method", DECODERS)
def test_confidence_is_the_peak(method):
    maps = gaussian_heatmaps(random_points(2, 4, 16, seed=10), 16, 2.0) * 0.7
    _, conf = decode(maps, method, return_confidence=True)
    torch.testing.assert_close(conf, maps.amax(dim=(-1, -2)))
    _, conf_logits = decode(maps, method, logits=True, return_confidence=True)
    torch.testing.assert_close(conf_logits, torch.sigmoid(maps.amax(dim=(-1, -2))))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_decoders_follow_dtype(dtype):
    maps = gaussian_heatmaps(random_points(2, 4, 16, seed=12, margin=2), 16, 2.0).to(dtype)
    for method in DECODERS:
        assert decode(maps, method).dtype == dtype


def test_unknown_decoder_and_bad_shape():
    with pytest.raises(ValueError, match="unknown decoder"):
        decode(torch.zeros(1, 1, 4, 4), "mean")
    with pytest.raises(ValueError, match="H, W"):
        decode(torch.zeros(4), "argmax")


def test_flip_heatmaps_mirrors_points_as_w_minus_x():
    points = torch.tensor([[[5.25, 7.5], [20.0, 3.0]]])
    maps = gaussian_heatmaps(points, 32, 2.0)
    flipped = flip_heatmaps(maps, torch.tensor([1, 0]))
    out = decode(flipped, "dark")
    expected = torch.stack([32 - points[..., 0], points[..., 1]], -1)[:, [1, 0]]
    torch.testing.assert_close(out, expected, atol=1e-3, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", DECODERS)
def test_cuda_matches_cpu(method):
    maps = gaussian_heatmaps(random_points(4, 20, 64, seed=13), 64, 2.0)
    torch.testing.assert_close(decode(maps.cuda(), method).cpu(), decode(maps, method), atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape,sigma", [((3, 5, 20, 33), 1.5), ((40, 17), 4.0), ((1, 2, 300, 280), 2.0)])
def test_gaussian_blur_matches_a_zero_padded_depthwise_convolution(shape, sigma):
    maps = torch.rand(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    radius = math.ceil(3 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    taps = taps / taps.sum()
    kernel = (taps[:, None] * taps[None, :]).view(1, 1, 2 * radius + 1, 2 * radius + 1)
    ref = F.conv2d(maps.reshape(-1, 1, *shape[-2:]), kernel, padding=radius).reshape(shape)
    torch.testing.assert_close(gaussian_blur(maps, sigma), ref)


# --------------------------------------------------------------------------- issue 11: bugs


BORDER_XS = [0.05, 0.3, 0.6, 0.9, 1.2, 1.6, 2.0, 2.4]


@pytest.mark.parametrize("sigma", [2.0, 3.0])
def test_dark_with_modulation_does_not_drift_inward_at_the_border(sigma):
    """Bug 1: the peak and the Newton step were taken on a zero-padded blurred map."""
    points = torch.tensor([[[x, 32.3] for x in BORDER_XS]])
    maps = gaussian_heatmaps(points, 64, sigma)
    for blur in (0.0, sigma):
        found = decode(maps, "dark", blur=blur)
        err = (found - points).abs()[0]
        assert err.max() <= 0.05, (blur, found[0, :, 0].tolist())
    # the same sweep along y, and from the far borders
    flipped = torch.stack([64 - points[..., 1], 64 - points[..., 0]], -1)
    found = decode(gaussian_heatmaps(flipped, 64, sigma), "dark", blur=sigma)
    assert (found - flipped).abs().max() <= 0.05


def test_dark_with_modulation_keeps_an_all_negative_map():
    """Bug 2: negative values were clipped to zero before the blur, flattening the map."""
    points = torch.tensor([[[7.5, 9.5], [20.3, 11.8]]])
    maps = 0.05 * gaussian_heatmaps(points, 32, 2.0) - 0.1  # every cell negative, peak -0.05
    for blur in (0.0, 2.0):
        found, conf = decode(maps, "dark", blur=blur, return_confidence=True)
        assert (found - points).norm(dim=-1).max() <= 0.1, (blur, found)
        torch.testing.assert_close(conf, maps.amax(dim=(-1, -2)))


def test_dark_with_modulation_stays_on_the_highest_peak():
    """Bug 3: a 1.0 spike next to a broad 0.8 blob; the blur moved the peak onto the blob."""
    maps = 0.8 * gaussian_heatmaps(torch.tensor([[[22.5, 16.5]]]), 32, 4.0)
    maps[0, 0, 16, 10] = 1.0  # spike at (10.5, 16.5)
    for blur in (0.0, 1.0, 2.0):
        found, conf = decode(maps, "dark", blur=blur, return_confidence=True)
        assert abs(found[0, 0, 0].item() - 10.5) <= 1.0 and abs(found[0, 0, 1].item() - 16.5) <= 1.0, (blur, found)
        assert conf.item() == 1.0


def test_topk_is_local_to_the_highest_peak_by_default():
    """Bug 4: the k best cells of the whole map can belong to two peaks (or to a flat background)."""
    two = gaussian_heatmaps(torch.tensor([[[8.3, 16.5]]]), 32, 1.5) \
        + 0.95 * gaussian_heatmaps(torch.tensor([[[24.2, 16.5]]]), 32, 1.5)
    found = decode(two, "topk")
    assert abs(found[0, 0, 0].item() - 8.3) <= 0.3, found
    background = torch.full((1, 1, 32, 32), 0.3)
    background[0, 0, 20, 12] = 1.0
    torch.testing.assert_close(decode(background, "topk"), torch.tensor([[[12.5, 20.5]]]))
    # H3R's global top-k stays available: it averages the two peaks / the background
    assert 12.0 <= decode(two, "topk", local=False)[0, 0, 0].item() <= 20.0
    assert (decode(background, "topk", local=False) - torch.tensor([[[12.5, 20.5]]])).norm() > 5


def test_dark_modulation_reads_only_a_window_around_the_peak(monkeypatch):
    """Bug 6: the modulation blurred whole maps (113 ms for 3,392 maps against 7.9 ms without).

    Cells beyond the modulation window cannot change the estimate, not even a NaN,
    and no whole-map blur runs (bench/codecs.py times it)."""
    from lmkviz import decoding

    points = torch.tensor([[[20.3, 30.7], [40.6, 12.2]]])
    maps = gaussian_heatmaps(points, 64, 2.0)
    reference = decode(maps, "dark", blur=1.0)
    corrupted = maps.clone()
    corrupted[0, 0, 2, 60] = float("nan")
    corrupted[0, 1, 60, 2] = -1e6
    monkeypatch.setattr(decoding, "gaussian_blur", lambda *a, **k: pytest.fail("whole-map blur"))
    torch.testing.assert_close(decode(corrupted, "dark", blur=1.0), reference)
    assert (reference - points).norm(dim=-1).max() <= 0.02


# --------------------------------------------------------------------------- edge cases, every decoder

from lmkviz.decoding import VECTOR_DECODERS, decode_vectors, soft_argmax  # noqa: E402

NAN = float("nan")


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("method", DECODERS)
def test_empty_maps_decode_to_nan_with_zero_confidence(method, logits):
    maps = torch.stack([torch.zeros(16, 16), torch.full((16, 16), 0.3), torch.full((16, 16), -2.0),
                        torch.full((16, 16), NAN), torch.full((16, 16), float("inf"))])[None]
    points, conf = decode(maps, method, logits=logits, return_confidence=True)
    assert torch.isnan(points).all(), points
    assert torch.equal(conf, torch.zeros(1, 5))


@pytest.mark.parametrize("method", DECODERS)
def test_all_negative_logits_still_decode_the_peak(method):
    points = torch.tensor([[[5.3, 9.6], [12.5, 3.5]]])
    maps = 3.0 * gaussian_heatmaps(points, 16, 1.5) - 5.0  # logits in [-5, -2]
    for logits in (True, False):  # as logits, and as (negative) scores of an MSE network
        found, conf = decode(maps, method, logits=logits, return_confidence=True)
        assert torch.isfinite(found).all()
        if not (method == "softargmax" and logits):  # a softmax over 256 cells of -5 vs a peak of -2:
            assert (found - points).norm(dim=-1).max() <= 0.75, (logits, found)  # the background wins
        peak = maps.amax(dim=(-1, -2))
        torch.testing.assert_close(conf, torch.sigmoid(peak) if logits else peak)


@pytest.mark.parametrize("method", DECODERS)
def test_a_nan_or_inf_cell_is_ignored(method):
    points = torch.tensor([[[10.3, 20.6], [30.2, 8.7]]])
    maps = gaussian_heatmaps(points, 40, 2.0)
    clean = decode(maps, method)
    far = maps.clone()
    far[0, 0, 35, 3] = NAN
    far[0, 1, 30, 30] = float("inf")
    found, conf = decode(far, method, return_confidence=True)
    tol = 1e-3 if method != "softargmax" else 1e-2
    torch.testing.assert_close(found, clean, atol=tol, rtol=0)
    torch.testing.assert_close(conf, maps.amax(dim=(-1, -2)))
    near = maps.clone()
    near[0, 0, 20, 11] = NAN  # next to the peak cell (20, 10)
    found = decode(near, method)
    assert torch.isfinite(found).all() and (found - points).norm(dim=-1).max() <= 1.0


BORDER_POINTS = torch.tensor([[[0.3, 16.2], [31.7, 16.2], [16.2, 0.3], [16.2, 31.7],
                               [0.3, 0.3], [31.7, 0.3], [0.3, 31.7], [31.7, 31.7]]])


@pytest.mark.parametrize("method", DECODERS)
def test_peaks_on_every_border_and_corner(method):
    maps = gaussian_heatmaps(BORDER_POINTS, 32, 2.0)
    found, conf = decode(maps, method, return_confidence=True)
    assert torch.isfinite(found).all() and (conf > 0.9).all()
    err = (found - BORDER_POINTS).norm(dim=-1)
    if method == "dark":
        assert err.max() <= 1e-3  # one-sided stencil: exact on the border cells
        assert (decode(maps, method, blur=2.0) - BORDER_POINTS).norm(dim=-1).max() <= 1e-3
    elif method == "softargmax":  # half the blob is cut off: pulled inward, but stays near
        inward = torch.where(BORDER_POINTS < 16, found - BORDER_POINTS, BORDER_POINTS - found)
        assert (inward >= -1e-4).all() and err.max() <= 2.5
    elif method == "topk":  # a centre of mass of cells that all lie inside: pulled inward (global too)
        assert err.max() <= 1.5
        torch.testing.assert_close(found, decode(maps, method, local=False))
    else:
        assert err.max() <= 2 ** 0.5 / 2 + 1e-4


@pytest.mark.parametrize("method", DECODERS)
def test_tiny_and_thin_maps(method):
    for shape in ((1, 1), (1, 7), (7, 1), (2, 2)):
        maps = torch.rand(3, 2, *shape, generator=torch.Generator().manual_seed(1))
        found = decode(maps, method)
        assert found.shape == (3, 2, 2)
        finite = torch.isfinite(found).all(-1)
        if shape != (1, 1):  # a one-cell map holds no position: empty
            assert finite.all()
            assert (found[..., 0] >= 0).all() and (found[..., 0] <= shape[1]).all()
            assert (found[..., 1] >= 0).all() and (found[..., 1] <= shape[0]).all()


# --------------------------------------------------------------------------- 1-D vectors (SimCC)


def vectors_of(positions, length, sigma):
    bins = torch.arange(length) + 0.5
    return torch.exp(-((bins - positions[..., None]) ** 2) / (2 * sigma**2))


@pytest.mark.parametrize("method", VECTOR_DECODERS)
def test_vector_decoders_edge_cases(method):
    empty = torch.stack([torch.zeros(20), torch.full((20,), 0.3), torch.full((20,), NAN)])
    found, conf = decode_vectors(empty, method, return_confidence=True)
    assert torch.isnan(found).all() and torch.equal(conf, torch.zeros(3))
    found, conf = decode_vectors(torch.full((2, 20), 4.0), method, logits=True, return_confidence=True)
    assert torch.isnan(found).all() and torch.equal(conf, torch.zeros(2))
    positions = torch.tensor([0.2, 19.8, 7.3, 12.6])
    vectors = vectors_of(positions, 20, 1.5)
    vectors[2, 15] = NAN
    found = decode_vectors(vectors, method)
    assert torch.isfinite(found).all()
    tol = {"argmax": 0.5 + 1e-5, "dark": 1e-3, "softargmax": 1.5}[method]
    assert (found - positions).abs().max() <= tol
    negative = decode_vectors(vectors_of(positions[2:], 20, 1.5) - 2.0, method)  # every entry negative
    assert (negative - positions[2:]).abs().max() <= 0.75


def test_vector_dark_reads_logits_as_log_probabilities():
    positions = torch.rand(6, 4, generator=torch.Generator().manual_seed(2)) * 380 + 2
    labels = vectors_of(positions, 384, 6.0)
    logits = torch.log(labels.clamp_min(1e-30)) - 7.0
    for method, tol in (("dark", 1e-3), ("argmax", 0.5 + 1e-4)):
        found = decode_vectors(logits, method, logits=True)
        assert (found - positions).abs().max() <= tol
    found, conf = decode_vectors(logits, "dark", logits=True, blur=6.0, return_confidence=True)
    assert (found - positions).abs().max() <= 1e-3
    torch.testing.assert_close(conf, torch.softmax(logits, -1).amax(-1))


# --------------------------------------------------------------------------- soft-argmax


def test_soft_argmax_round_trip_and_logits_match_scores():
    points = random_points(8, 68, 64, seed=14, margin=6.0)  # 3 sigma inside the map
    maps = gaussian_heatmaps(points, 64, 2.0)
    assert (decode(maps, "softargmax") - points).norm(dim=-1).max() <= 0.02
    # softmax(log g) is g normalised: the same estimate from logits
    torch.testing.assert_close(soft_argmax(torch.log(maps.clamp_min(1e-30)), logits=True),
                               soft_argmax(maps), atol=1e-4, rtol=0)
    # temperature < 1 sharpens: g ** (1/T) is a narrower Gaussian at the same place
    assert (soft_argmax(maps, temperature=0.5) - points).norm(dim=-1).max() <= 0.02


def test_soft_argmax_is_differentiable():
    g = torch.Generator().manual_seed(15)
    for logits in (True, False):
        maps = torch.randn(2, 3, 6, 5, generator=g, dtype=torch.float64).abs().requires_grad_()
        assert torch.autograd.gradcheck(lambda m: soft_argmax(m, temperature=0.7, logits=logits), (maps,))
    # a zero map (no positive score) gives a finite gradient, not NaN
    maps = torch.zeros(1, 1, 8, 8, requires_grad=True)
    soft_argmax(maps).sum().backward()
    assert torch.isfinite(maps.grad).all()
    # moving the blob moves the estimate: d x / d (shift) is about 1
    shift = torch.tensor(0.0, requires_grad=True)
    centre = torch.stack([20.3 + shift, torch.tensor(10.0)])[None, None]
    ys, xs = torch.meshgrid(torch.arange(32.0) + 0.5, torch.arange(32.0) + 0.5, indexing="ij")
    blob = torch.exp(-((xs - centre[..., 0, None, None]) ** 2 + (ys - centre[..., 1, None, None]) ** 2) / 8)
    soft_argmax(blob)[0, 0, 0].backward()
    assert shift.grad.item() == pytest.approx(1.0, abs=1e-3)
