"""lmkviz.labs: the computations behind the Encoding lab and the Dataset browser."""

import math

import numpy as np
import pytest
import torch

from lmkviz import labs
from lmkviz.decoding import decode
from lmkviz.encoding import encode


def test_blog_quantisation_example_matches_the_blog_and_our_convention():
    point_hm, rows = labs.quantisation_example((2500, 2500), (64, 64), (1822, 412))
    assert point_hm == pytest.approx((46.6432, 10.5472))
    arithmetic, code, ours = rows
    assert arithmetic.decoded == pytest.approx((1835.9375, 429.6875))  # the blog's printed result
    assert code.decoded == pytest.approx((46 * 39.0625, 10 * 39.0625))  # int() then index * stride
    assert ours.decoded == pytest.approx((46.5 * 39.0625, 10.5 * 39.0625))  # cell centre
    assert max(abs(e) for e in ours.error) <= 39.0625 / 2


def test_rounding_probabilities_are_bilinear_and_unbiased():
    g = np.random.default_rng(0)
    for _ in range(20):
        p = tuple(g.uniform(1, 63, 2))
        cells = labs.rounding_probabilities(p, (64, 64))
        assert sum(c[2] for c in cells) == pytest.approx(1.0)
        mean = np.sum([[(c + 0.5) * w, (r + 0.5) * w] for c, r, w in cells], axis=0)
        assert mean == pytest.approx(p)


def test_randomized_rounding_draws_converge_on_the_point():
    point = (46.6432, 10.5472)
    found = labs.randomized_rounding_draws(point, (64, 64), 20000, seed=1)
    assert set(map(tuple, np.floor(found).astype(int))) <= {(46, 10), (47, 10), (46, 11), (47, 11)}
    mean = labs.running_mean(found)[-1]
    spread = labs.rounding_spread(point)
    assert np.hypot(*(mean - point)) < 4 * spread / math.sqrt(20000)


@pytest.mark.parametrize("encoding", ["gaussian", "gaussian_int", "binary"])
def test_windowed_roundtrip_equals_full_maps_without_noise(encoding):
    """Decoding in a window around each point gives the full map's answer (no noise)."""
    size, sigma = 64, 2.0
    result = labs.roundtrip(256, size, sigma, encoding, n=64, seed=3)
    points = labs.random_positions(64, size, labs.default_margin(encoding, sigma), seed=3)[None]
    maps = encode(points, size, encoding, sigma=sigma, generator=torch.Generator().manual_seed(4))
    for name, value in result.mean.items():
        full = (decode(maps, name, logits=False) - points).norm(dim=-1).mean().item() * 256 / size
        assert value == pytest.approx(full, abs=1e-4)


def test_roundtrip_tells_the_decoders_apart():
    clean = labs.roundtrip(256, 64, 2.0, "gaussian")
    assert clean.mean["dark"] < 0.01 < clean.mean["topk"] < clean.mean["argmax"]
    integer = labs.roundtrip(256, 64, 2.0, "gaussian_int")
    # all stuck on the cell centre (soft-argmax: up to float32 rounding of its expectation)
    assert max(integer.mean.values()) - min(integer.mean.values()) < 1e-3
    noisy = labs.roundtrip(256, 64, 2.0, "gaussian", noise=0.05)
    blurred = labs.roundtrip(256, 64, 2.0, "gaussian", noise=0.05, blur=1.5)
    assert blurred.mean["dark"] < noisy.mean["dark"]


def test_sweeps_follow_the_stride():
    sweep = labs.sweep_heatmap_size(256, [16, 32, 64], 1.0, "gaussian_int", n=128)
    ratios = np.array(sweep["argmax"][:-1]) / np.array(sweep["argmax"][1:])
    assert ratios == pytest.approx([2, 2], rel=0.25)  # halving the map doubles the argmax error


def test_augment_draws_follow_the_image_and_report_flips():
    from lmkviz.data import IBUG68, AugmentConfig
    from lmkviz.data.synthetic import SyntheticSplit

    sample = SyntheticSplit("val", n=1, size=96)[0]
    plain = labs.augment_draws(sample.image, sample.points, IBUG68.flip_perm,
                               AugmentConfig(input_size=96, strength=0.0), n=2)
    assert not any(d.flipped for d in plain)
    assert np.allclose(plain[0].points, sample.points, atol=1e-3)
    state = torch.random.get_rng_state()
    draws = labs.augment_draws(sample.image, sample.points, IBUG68.flip_perm,
                               AugmentConfig(input_size=96, rotation=0, scale=(1, 1), translate=0, color=0),
                               n=12, seed=0)
    assert {d.flipped for d in draws} == {True, False}
    for d in draws:  # a flip mirrors x and swaps left/right partners: the right eye stays image-left
        assert d.points[36, 0] < d.points[45, 0]
        if d.flipped:
            assert np.allclose(d.points[36], [96 - sample.points[45, 0], sample.points[45, 1]], atol=1e-3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left alone


def test_density_and_mean_shape():
    pts = np.array([[[0.25, 0.5], [0.75, 0.5]], [[0.25, 0.5], [np.nan, np.nan]]])
    counts = labs.density(pts, bins=4)
    assert counts.sum() == 3 and counts[2, 1] == 2
    assert labs.mean_shape(pts) == pytest.approx(np.array([[0.25, 0.5], [0.75, 0.5]]))
    assert labs.normalised(np.array([[[50.0, 25.0]]]), np.array([[50, 100]])) == pytest.approx(
        np.array([[[0.5, 0.5]]]))


def test_grid_encode_sample_and_decoder_estimates():
    grid = labs.Grid((2500.0, 1250.0), (64, 32))
    assert grid.stride == (2500 / 64, 1250 / 32) and grid.half_cell == (2500 / 128, 1250 / 64)
    assert grid.to_heatmap([[1822.0, 412.0]]).tolist() == [[1822 * 64 / 2500, 412 * 32 / 1250]]
    assert np.allclose(grid.to_image(grid.to_heatmap([[10.0, 20.0]])), [[10, 20]])

    points = np.array([[100.0, 120.0], [30.0, 60.0], [200.0, 60.0]])
    sample = labs.encode_sample(points, [0, 2], 256, 64, "gaussian", 2.0, eye_corners=(1, 2))
    assert sample.grid.stride == (4, 4) and sample.sigma_px == 8.0 and sample.interocular == 170.0
    assert sample.points_hm[0].tolist() == [25, 30] and sample.maps.shape == (2, 64, 64)
    assert np.unravel_index(sample.maps[0].argmax(), (64, 64)) in ((29, 24), (29, 25), (30, 24), (30, 25))
    assert labs.encode_sample(points, [0], 256, 64, "binary", 2.0).sigma_px is None
    assert labs.encode_sample(points, [0], 256, 64, "gaussian", 2.0).interocular is None

    rows = labs.decoder_estimates({"argmax": (25.5, 30.5), "dark": (25.0, 30.0)}, (25.0, 30.0), sample.grid, 170.0)
    assert rows[0]["x"] == 102 and rows[0]["y"] == 122 and rows[0]["error_px"] == pytest.approx(math.hypot(2, 2))
    assert rows[0]["error_iod"] == pytest.approx(100 * math.hypot(2, 2) / 170)
    assert rows[1]["error_px"] == 0 and labs.decoder_estimates({"dark": (1, 1)}, (1, 1), grid)[0]["error_iod"] is None
    assert labs.percent_of(1.7, 170.0) == pytest.approx(1.0) and labs.percent_of(1.0, None) is None


def test_argmax_floor_is_the_mean_distance_to_the_cell_centre():
    rng = np.random.default_rng(0)
    u = rng.random((200_000, 2))
    assert labs.ARGMAX_FLOOR == pytest.approx(np.hypot(*(u - 0.5).T).mean(), abs=2e-3)
    assert labs.argmax_floor(256, [64, 32]) == pytest.approx([4 * labs.ARGMAX_FLOOR, 8 * labs.ARGMAX_FLOOR])


def test_rounding_summary_in_image_pixels():
    grid = labs.Grid((2500.0, 2500.0), (64, 64))
    point = (46.6432, 10.5472)
    found = labs.randomized_rounding_draws(point, (64, 64), 4000, seed=1)
    draws = labs.rounding_summary(found, point, grid)
    assert sum(draws.counts.values()) == 4000 and set(draws.counts) <= {(46, 10), (47, 10), (46, 11), (47, 11)}
    assert draws.mean_hm.shape == (4000, 2) and draws.error_px.shape == (4000,)
    stride = 2500 / 64
    assert draws.off_px == pytest.approx(draws.error_px[-1])
    assert draws.off_px < 0.05 * stride  # the mean of many draws is the point
    assert draws.mean_px == pytest.approx((point[0] * stride, point[1] * stride), abs=0.05 * stride)
    assert draws.spread_px == pytest.approx(labs.rounding_spread(point, (stride, stride)))
    assert labs.cell_counts(np.array([[0.5, 0.5], [0.7, 0.2], [3.5, 1.5]])) == {(0, 0): 2, (3, 1): 1}


def test_pipeline_example_errors_are_those_of_the_estimates():
    example = labs.pipeline_example()
    tx, ty = example["truth"]
    for m, (x, y) in example["estimates"].items():
        assert example["errors"][m] == pytest.approx(math.hypot(x - tx, y - ty))
    assert example["errors"]["argmax"] > 1.0 > example["errors"]["dark"]  # sub-pixel decoding helps
    assert example["stride"] == 8 and example["heatmap"].shape == (32, 32)


def test_decode_noisy_reads_the_clean_peak_and_keeps_the_noise_seeded():
    maps = encode(torch.tensor([[[10.25, 6.75]]]), 24, "gaussian", sigma=1.5)[0, 0].numpy()
    clean, found = labs.decode_noisy(maps)
    assert np.array_equal(clean, maps) and found["dark"] == pytest.approx([10.25, 6.75], abs=1e-3)
    assert found["argmax"] == [10.5, 6.5]
    noisy, _ = labs.decode_noisy(maps, noise=0.1)
    again, _ = labs.decode_noisy(maps, noise=0.1)
    assert np.array_equal(noisy, again) and (noisy - maps).std() == pytest.approx(0.1, rel=0.2)
    assert labs.visible(np.array([[1.0, 2.0], [np.nan, 3.0]]), 0) and not labs.visible(np.array([[np.nan, 1.0]]), 0)


def test_network_input_is_the_evaluation_resize():
    image = np.zeros((40, 80, 3), np.uint8)
    image[10:20, 40:60] = 200
    points = np.array([[50.0, 15.0], [100.0, 5.0]])
    rgb, pts = labs.network_input(image, points, 32)
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    assert pts[0].tolist() == [20.0, 12.0]  # x * 32/80, y * 32/40
    assert np.isnan(pts[1]).all()  # outside the image
    assert rgb[12, 20].min() > 150 and rgb[2, 2].max() == 0
    assert labs.Grid((2500.0, 400.0), (64, 64)).inside_max == (2499.999, 399.999)


# --------------------------------------------------------------------------- the codec family in the lab


def test_udp_and_simcc_round_trip_in_the_lab_through_the_codecs():
    from lmkviz.codecs import SimCCCodec, UDPHeatmapCodec

    for encoding in ("udp", "simcc"):
        result = labs.roundtrip(256, 64, 2.0, encoding, n=128)
        assert result.mean["dark"] <= 0.02 and result.mean["softargmax"] <= 0.02, (encoding, result.mean)
        assert result.mean["argmax"] > 0.1  # argmax still reads whole cells (bins)
    assert labs.roundtrip(256, 64, 2.0, "simcc", n=64).mean["argmax"] < 0.3  # 2 bins per pixel: a finer grid
    grid = labs.lab_grid("udp", 256, 64)
    assert grid.stride[0] == pytest.approx(255 / 63)
    pts = np.array([[0.5, 0.5], [128.0, 64.0], [255.5, 200.25]])
    expected = UDPHeatmapCodec(image_size=(256, 256), heatmap_size=(64, 64)).image_to_heatmap(torch.tensor(pts))
    np.testing.assert_allclose(grid.to_heatmap(pts), expected.numpy(), atol=1e-9)
    np.testing.assert_allclose(grid.to_image(grid.to_heatmap(pts)), pts, atol=1e-9)
    # the lab's SimCC targets are SimCCCodec's, and its decoders find the point again
    points = np.array([[40.3, 100.7], [200.1, 12.6]])
    sample = labs.encode_sample(points, [0, 1], 256, 64, "simcc", 3.0)
    (x_labels, y_labels), _ = SimCCCodec(image_size=(256, 256), ratio=2.0, sigma=3.0).encode(torch.tensor(points)[None])
    np.testing.assert_allclose(sample.vectors[0], x_labels[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(sample.vectors[1], y_labels[0].numpy(), atol=1e-6)
    _, _, found = labs.decode_vectors_noisy(sample.vectors[0][1], sample.vectors[1][1])
    np.testing.assert_allclose(np.array(found["dark"]) / 2.0, points[1], atol=0.02)  # bins -> px


def test_sweeps_use_the_same_sub_cell_offsets_so_the_integer_centre_curve_is_flat():
    sweep = labs.sweep_sigma(256, 64, (0.5, 1.0, 2.0, 4.0, 8.0), "gaussian_int", n=128)
    assert np.ptp(sweep["dark"]) < 1e-6 and np.ptp(sweep["argmax"]) < 1e-6
    assert all(0 < e < 0.2 for e in sweep["sem"]["dark"])  # and its uncertainty is reported
    a = labs.random_positions(64, 32, 2.0, seed=3)
    b = labs.random_positions(64, 128, 5.0, seed=3)
    np.testing.assert_allclose(a - a.floor(), b - b.floor(), atol=1e-5)
