import math

import pytest
import torch

from lmkviz.decoding import decode
from lmkviz.encoding import (ENCODINGS, HeatmapCodec, binary_heatmaps, encode, gaussian_heatmaps,
                             keypoint_weights)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def random_points(n, k, size, seed=0, margin=0.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, k, 2, generator=g, dtype=dtype) * (size - 2 * margin) + margin)


def loop_gaussian(points, size, sigma):
    """Reference: one map at a time, straight from the formula at cell centres."""
    n, k, _ = points.shape
    out = torch.zeros(n, k, size, size, dtype=torch.float64)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    for i in range(n):
        for j in range(k):
            x, y = points[i, j].double()
            reach = 3 * sigma  # the 3 sigma box must hold a cell centre
            if -reach + 0.5 <= x <= size - 0.5 + reach and -reach + 0.5 <= y <= size - 0.5 + reach:
                out[i, j] = torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return out


def test_gaussian_matches_the_formula_at_cell_centres():
    points = random_points(3, 7, 32, seed=3)
    points[0, 0] = torch.tensor([float("nan"), 4.0])
    points[1, 1] = torch.tensor([33.0, 4.0])
    maps = gaussian_heatmaps(points, 32, 1.7)
    assert maps.shape == (3, 7, 32, 32)
    torch.testing.assert_close(maps.double(), loop_gaussian(points, 32, 1.7), atol=1e-6, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_gaussian_follows_device_and_dtype(device, dtype):
    points = random_points(2, 5, 16).to(device=device, dtype=dtype)
    maps = gaussian_heatmaps(points, (16, 24), 2.0)
    assert maps.device.type == device and maps.dtype == dtype and maps.shape == (2, 5, 16, 24)
    assert maps.max() <= 1 and maps.min() >= 0


def test_gaussian_peak_is_one_at_cell_centres_and_subpixel_centre_is_the_point():
    points = torch.tensor([[[10.5, 20.5], [10.2, 20.7]]])
    maps = gaussian_heatmaps(points, 32, 2.0)
    assert maps[0, 0].max() == 1.0 and maps[0, 0, 20, 10] == 1.0
    # sub-pixel: the continuous centroid of the map is the point
    xs = torch.arange(32) + 0.5
    m = maps[0, 1].double()
    cx = (m.sum(0) * xs).sum() / m.sum()
    cy = (m.sum(1) * xs).sum() / m.sum()
    assert abs(cx - 10.2) < 1e-4 and abs(cy - 20.7) < 1e-4


def test_integer_centre_reproduces_the_blog_rounding():
    points = random_points(4, 9, 64, seed=5)
    rounded = gaussian_heatmaps(points, 64, 2.0, subpixel=False)
    exact = gaussian_heatmaps(torch.floor(points) + 0.5, 64, 2.0)
    assert torch.equal(rounded, exact)
    assert not torch.allclose(rounded, gaussian_heatmaps(points, 64, 2.0))


@pytest.mark.parametrize("encoder", ["gaussian", "gaussian_int", "binary"])
def test_invalid_points_give_all_zero_maps_and_near_ones_a_partial_gaussian(encoder):
    pts = torch.tensor([[[float("nan"), 3.0], [3.0, float("nan")], [float("inf"), 1.0], [-1e9, 1e9],
                         [-9.6, 5.0], [25.7, 2.0], [15.99, 15.99],
                         [-0.001, 5.0], [16.0, 2.0], [2.0, 16.0], [-8.2, 5.0]]])
    maps = encode(pts, 16, encoder, sigma=3.0)
    assert torch.isfinite(maps).all()
    sums = maps.sum(dim=(-1, -2))[0]
    assert torch.all(sums[:6] == 0) and sums[6] > 0
    weights = keypoint_weights(pts, 16, encoder, sigma=3.0)[0]
    assert torch.equal(weights > 0, sums > 0)
    if encoder == "binary":  # a single 1 cannot be partly inside: outside points get nothing
        assert torch.all(sums[7:] == 0)
    else:  # within 3 sigma of a cell centre: the part of the Gaussian inside the map
        assert torch.all(sums[7:] > 0)
        ref = torch.exp(-((torch.arange(16) + 0.5 - pts[0, 7, 0]) ** 2) / 18)
        if encoder == "gaussian":
            torch.testing.assert_close(maps[0, 7].sum(0) / maps[0, 7].sum(0).max(), ref / ref.max())


def test_keypoint_weights_follow_visibility_and_check_its_shape():
    pts = random_points(2, 4, 16, seed=4)
    vis = torch.tensor([[1.0, 0.0, 0.7, 0.2], [1.0, 1.0, 1.0, 1.0]])
    assert torch.equal(keypoint_weights(pts, 16, visibility=vis), (vis >= 0.5).float())
    assert torch.equal(keypoint_weights(pts, 16, visibility=vis > 0.5), (vis > 0.5).float())
    with pytest.raises(ValueError, match="visibility must have shape"):
        keypoint_weights(pts, 16, visibility=torch.ones(4))


def test_binary_has_exactly_one_one_at_one_of_the_four_surrounding_cells():
    points = random_points(20, 30, 48, seed=7)
    maps = binary_heatmaps(points, 48, generator=torch.Generator().manual_seed(0))
    assert maps.shape == (20, 30, 48, 48)
    assert torch.all(maps.sum(dim=(-1, -2)) == 1) and torch.all((maps == 0) | (maps == 1))
    idx = maps.flatten(-2).argmax(-1)
    centre = torch.stack([idx % 48, idx // 48], -1).float() + 0.5
    assert ((centre - points).abs() <= 1.0).all()
    # the chosen cells are those whose centres surround the point (or the clamped border cell)
    lo = torch.floor(points - 0.5).clamp(0, 47) + 0.5
    hi = (torch.floor(points - 0.5) + 1).clamp(0, 47) + 0.5
    assert (((centre == lo) | (centre == hi))).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_mean_argmax_converges_on_the_exact_point(seed):
    points = random_points(1, 12, 64, seed=seed, margin=1.0)
    draws = points.expand(2000, -1, -1)
    maps = binary_heatmaps(draws, 64, generator=torch.Generator().manual_seed(seed))
    mean = decode(maps, "argmax").mean(0)
    assert (mean - points[0]).norm(dim=-1).max() < 0.05


def test_binary_generator_makes_draws_reproducible_and_different_seeds_differ():
    points = random_points(8, 10, 32, seed=1)
    a = binary_heatmaps(points, 32, generator=torch.Generator().manual_seed(42))
    b = binary_heatmaps(points, 32, generator=torch.Generator().manual_seed(42))
    c = binary_heatmaps(points, 32, generator=torch.Generator().manual_seed(43))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool, torch.float16])
def test_binary_dtype_option_gives_the_same_draws(dtype):
    points = random_points(4, 6, 32, seed=2)
    points[0, 0] = float("nan")
    ref = binary_heatmaps(points, 32, generator=torch.Generator().manual_seed(5))
    out = binary_heatmaps(points, 32, generator=torch.Generator().manual_seed(5), dtype=dtype)
    assert out.dtype == dtype and torch.equal(out.float(), ref)


def test_binary_out_buffer_is_reused_and_checked():
    points = random_points(4, 6, 32, seed=3)
    ref = binary_heatmaps(points, 32, generator=torch.Generator().manual_seed(1))
    buffer = torch.full((4, 6, 32, 32), 7.0)  # stale values must be cleared
    got = binary_heatmaps(points, 32, generator=torch.Generator().manual_seed(1), out=buffer)
    assert got.data_ptr() == buffer.data_ptr() and torch.equal(got, ref)
    with pytest.raises(ValueError, match="out must be"):
        binary_heatmaps(points, 32, out=torch.zeros(4, 6, 16, 16))


def test_non_square_maps_put_x_on_columns():
    pts = torch.tensor([[[30.5, 3.5]]])
    for enc in ENCODINGS:
        m = encode(pts, (8, 40), enc, sigma=1.0, generator=torch.Generator().manual_seed(0))
        assert m.shape == (1, 1, 8, 40)
        r, c = divmod(int(m.flatten().argmax()), 40)
        assert (r, c) == (3, 30)


def test_encoders_do_not_mutate_their_input():
    points = random_points(2, 3, 16)
    before = points.clone()
    for enc in ENCODINGS:
        encode(points, 16, enc)
    assert torch.equal(points, before)


def test_codec_round_trips_image_points_and_serialises():
    codec = HeatmapCodec(image_size=256, heatmap_size=64, encoding="gaussian", sigma=2.0)
    points = random_points(4, 68, 256, seed=11, margin=8)
    maps, weights = codec.encode(points)
    assert maps.shape == (4, 68, 64, 64) and weights.shape == (4, 68) and torch.all(weights == 1)
    back = codec.decode(maps, "dark")
    assert (back - points).norm(dim=-1).mean() < 0.02 * codec.stride
    assert HeatmapCodec.from_dict(codec.to_dict()) == codec
    with pytest.raises(ValueError, match="unknown codec field"):
        HeatmapCodec.from_dict({**codec.to_dict(), "sigmaa": 2})
    with pytest.raises(ValueError, match="unknown encoding"):
        HeatmapCodec(encoding="gauss")
    assert HeatmapCodec(encoding="binary").outputs_logits and not codec.outputs_logits


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="sigma"):
        gaussian_heatmaps(torch.zeros(1, 1, 2), 8, 0.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., K, 2\)"):
        gaussian_heatmaps(torch.zeros(1, 3), 8, 1.0)
    with pytest.raises(ValueError, match="unknown encoding"):
        encode(torch.zeros(1, 1, 2), 8, "gauss")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    points = random_points(4, 20, 64, seed=9)
    cpu = gaussian_heatmaps(points, 64, 2.0)
    gpu = gaussian_heatmaps(points.cuda(), 64, 2.0).cpu()
    torch.testing.assert_close(cpu, gpu, atol=1e-6, rtol=0)
    g = torch.Generator().manual_seed(0)
    assert binary_heatmaps(points.cuda(), 64, generator=g).sum() == 80


def test_gaussian_maps_hold_no_subnormal_numbers():
    """Subnormal floats make every later pass over the maps slow on CPUs; they are 9 sigma out."""
    maps = gaussian_heatmaps(random_points(4, 30, 64, seed=12), 64, 2.0)
    nonzero = maps[maps > 0]
    assert nonzero.min() >= torch.finfo(maps.dtype).tiny
    assert (maps > 0).float().mean() > 0.2  # only the far tails are cut


def test_gaussian_vectors_are_the_1d_labels():
    from lmkviz.encoding import gaussian_vectors

    positions = torch.tensor([[3.25, float("nan"), -2.0, 40.0]])
    vectors = gaussian_vectors(positions, 40, 1.5)
    assert vectors.shape == (1, 4, 40)
    bins = torch.arange(40) + 0.5
    torch.testing.assert_close(vectors[0, 0], torch.exp(-((bins - 3.25) ** 2) / 4.5))
    assert vectors[0, 1].abs().sum() == 0  # NaN: nothing
    assert 0 < vectors[0, 2].max() < 0.5 and vectors[0, 2].argmax() == 0  # partly inside
    assert vectors[0, 3].argmax() == 39
