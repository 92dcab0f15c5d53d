import pytest
import torch

from lmkviz import coords


@pytest.mark.parametrize("image_size,heatmap_size", [(256, 64), ((512, 256), (128, 64)), (128, 128), (64, 256)])
def test_image_heatmap_round_trip_is_exact_for_power_of_two_strides(image_size, heatmap_size):
    g = torch.Generator().manual_seed(0)
    h, w = coords.as_hw(image_size)
    points = torch.rand(16, 68, 2, generator=g) * torch.tensor([w, h])
    back = coords.heatmap_to_image(coords.image_to_heatmap(points, image_size, heatmap_size), heatmap_size, image_size)
    assert torch.equal(back, points)


@pytest.mark.parametrize("image_size,heatmap_size", [(320, 64), ((300, 200), (48, 40))])
def test_image_heatmap_round_trip_other_strides_to_float_precision(image_size, heatmap_size):
    g = torch.Generator().manual_seed(1)
    h, w = coords.as_hw(image_size)
    points = torch.rand(4, 10, 2, generator=g, dtype=torch.float64) * torch.tensor([w, h])
    back = coords.heatmap_to_image(coords.image_to_heatmap(points, image_size, heatmap_size), heatmap_size, image_size)
    torch.testing.assert_close(back, points, rtol=1e-14, atol=0)


def test_image_to_heatmap_is_a_pure_scale_with_pixel_centres_mapping_to_cell_centres():
    # pixel 3 of a 256 image spans [3, 4); heatmap cell 0 of a 64 map spans image [0, 4)
    p = torch.tensor([[0.0, 0.0], [256.0, 256.0], [2.0, 2.0], [130.0, 66.0]])
    hm = coords.image_to_heatmap(p, 256, 64)
    assert torch.equal(hm, torch.tensor([[0.0, 0.0], [64.0, 64.0], [0.5, 0.5], [32.5, 16.5]]))
    assert torch.equal(coords.rescale_points(torch.tensor([[10.0, 10.0]]), (100, 200), (50, 50)), torch.tensor([[2.5, 5.0]]))


def test_inside_and_nan():
    p = torch.tensor([[0.0, 0.0], [63.999, 10], [64.0, 10], [-0.01, 3], [float("nan"), 2]])
    assert coords.inside(p, 64).tolist() == [True, True, False, False, False]


def test_bad_size_is_a_clear_error():
    with pytest.raises(ValueError, match="positive"):
        coords.as_hw((0, 5))
    with pytest.raises(ValueError, match="int or"):
        coords.as_hw((1, 2, 3))


def test_rescale_batch_scales_each_image_by_its_own_size():
    from lmkviz.coords import rescale_batch

    points = torch.tensor([[[8.0, 4.0]], [[8.0, 4.0]]])  # (2, 1, 2) in a 16 x 16 input
    sizes = torch.tensor([[32, 64], [16, 8]])  # (H, W) per image
    out = rescale_batch(points, 16, sizes)
    assert out.tolist() == [[[32.0, 8.0]], [[4.0, 4.0]]]
    torch.testing.assert_close(rescale_batch(out, sizes, (16, 16)), points)
    with pytest.raises(ValueError, match=r"\(2, 2\) rows"):
        rescale_batch(points, 16, torch.tensor([[1, 2]]))
