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
