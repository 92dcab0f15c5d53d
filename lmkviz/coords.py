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
