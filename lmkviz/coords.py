"""Coordinate helpers for the one convention of lmkviz.

Pixel ``j`` spans ``[j, j + 1)`` with its centre at ``j + 0.5``, in image and
heatmap space alike (see :mod:`lmkviz`). Converting between two rasters of the
same field of view is then a pure per-axis scale.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch

Size = Union[int, Sequence[int]]


def as_hw(size: Size) -> tuple[int, int]:
    """Normalise ``size`` (an int for square, or ``(H, W)``) to a tuple of two ints."""
    if isinstance(size, int):
        h = w = size
    else:
        if len(size) != 2:
            raise ValueError(f"size must be an int or (H, W), got {tuple(size)!r}")
        h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got (H, W) = ({h}, {w})")
    return h, w


def rescale_points(points: torch.Tensor, from_size: Size, to_size: Size) -> torch.Tensor:
    """Map points between two rasters covering the same field of view.

    points: (..., 2) float xy in pixels of a raster of size ``from_size`` (H, W).
    Returns a new tensor (..., 2) in pixels of a raster of size ``to_size``:
    ``x * W_to / W_from`` and ``y * H_to / H_from``. NaNs stay NaN.

    When the two sizes differ by a power of two (e.g. 256 <-> 64) the round trip
    ``rescale_points(rescale_points(p, a, b), b, a)`` is bit-exact.
    """
    fh, fw = as_hw(from_size)
    th, tw = as_hw(to_size)
    if not points.is_floating_point():
        points = points.to(torch.get_default_dtype())
    scale = points.new_tensor([tw / fw, th / fh])
    return points * scale


def _wh(size, n: int, like: torch.Tensor) -> torch.Tensor:
    """(N or 1, 2) tensor of (W, H): from a Size (int or (H, W) pair), or from an (N, 2)
    tensor / array of per-image (H, W) rows."""
    if not hasattr(size, "shape"):
        h, w = as_hw(size)
        return like.new_tensor([[w, h]])
    hw = torch.as_tensor(size).to(device=like.device, dtype=like.dtype)
    if hw.shape != (n, 2):
        raise ValueError(f"per-image sizes must be ({n}, 2) rows of (H, W), got shape {tuple(hw.shape)}")
    if (hw <= 0).any():
        raise ValueError("per-image sizes must be positive")
    return hw.flip(-1)


def rescale_batch(points: torch.Tensor, from_size, to_size) -> torch.Tensor:
    """:func:`rescale_points` for a batch whose images have their own sizes.

    points: (N, K, 2) float xy. from_size, to_size: each a :data:`Size` (int or
    (H, W) tuple) shared by all images, or an (N, 2) tensor/array of per-image (H, W). Returns (N, K, 2) with
    ``x * W_to[n] / W_from[n]`` and ``y * H_to[n] / H_from[n]``; NaNs stay NaN.
    Example: network-input predictions of images resized to S x S back to each
    original image, ``rescale_batch(pred, S, original_sizes)``.
    """
    if not points.is_floating_point():
        points = points.to(torch.get_default_dtype())
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must be (N, K, 2), got shape {tuple(points.shape)}")
    n = points.shape[0]
    scale = _wh(to_size, n, points) / _wh(from_size, n, points)
    return points * scale[:, None, :]


def image_to_heatmap(points: torch.Tensor, image_size: Size, heatmap_size: Size) -> torch.Tensor:
    """(..., 2) image pixels -> (..., 2) heatmap pixels (a pure scale)."""
    return rescale_points(points, image_size, heatmap_size)


def heatmap_to_image(points: torch.Tensor, heatmap_size: Size, image_size: Size) -> torch.Tensor:
    """(..., 2) heatmap pixels -> (..., 2) image pixels (a pure scale)."""
    return rescale_points(points, heatmap_size, image_size)


def inside(points: torch.Tensor, size: Size) -> torch.Tensor:
    """(..., 2) points -> (...) bool: finite and within ``[0, W) x [0, H)``."""
    h, w = as_hw(size)
    x, y = points[..., 0], points[..., 1]
    return torch.isfinite(x) & torch.isfinite(y) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
