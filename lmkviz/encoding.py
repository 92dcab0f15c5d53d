"""Encoding landmarks as heatmaps (points -> heatmaps), batched and vectorised.

Every function follows the lmkviz convention: points are continuous ``(x, y)``
in *heatmap* pixels, pixel ``j`` spans ``[j, j + 1)`` with its centre at
``j + 0.5`` (use :func:`lmkviz.coords.image_to_heatmap` to get there from image
pixels). Shapes: ``points`` (N, K, 2) -> heatmaps (N, K, H, W). Any leading
batch shape ``(..., K, 2)`` works too. The output follows the input's device;
its dtype is the input's floating dtype (float32 for integer input).

Which points get a map (never an error, never a wrapped index):

* Gaussians: a finite point whose 3 sigma box ``[x - 3 sigma, x + 3 sigma] x
  [y - 3 sigma, y + 3 sigma]`` holds at least one cell centre. A point just
  outside the map thus gets the part of its Gaussian that falls inside (as
  mmpose's codecs do); a point farther out, or NaN, gets an all-zero map.
* Binary: a finite point inside ``[0, W) x [0, H)``; others get an all-zero map.

:func:`keypoint_weights` gives the matching (N, K) weights: 1 where a point has
a map and is visible, 0 elsewhere, so a loss can leave missing points out
instead of training them as "nothing here". :func:`gaussian_vectors` renders
the 1-D Gaussian labels of SimCC.

The codecs (:class:`HeatmapCodec`, :class:`~lmkviz.codecs.UDPHeatmapCodec`,
:class:`~lmkviz.codecs.SimCCCodec`) pair each encoding with its decoding over one
set of parameters; they live in :mod:`lmkviz.codecs` and ``HeatmapCodec`` is
importable from here too.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from lmkviz import coords
from lmkviz.coords import Size, as_hw

# ENCODINGS (sub-pixel Gaussian, integer-centred Gaussian (the blog's), binary randomized
# rounding (H3R)) and ENCODING_LABELS are defined without torch in lmkviz.names.
from lmkviz.names import ENCODING_LABELS, ENCODINGS  # noqa: E402,F401


def _float_points(points: torch.Tensor) -> torch.Tensor:
    points = torch.as_tensor(points)
    if not points.is_floating_point():
        points = points.to(torch.get_default_dtype())
    if points.ndim < 1 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., K, 2), got {tuple(points.shape)}")
    return points


def _gaussian_reach(centre: torch.Tensor, h: int, w: int, sigma: float) -> torch.Tensor:
    """(..., 2) Gaussian centres -> (...) bool: finite, and the 3 sigma box holds a cell centre."""
    x, y = centre[..., 0], centre[..., 1]
    reach = 3.0 * float(sigma)
    return (torch.isfinite(x) & torch.isfinite(y) & (x + reach >= 0.5) & (x - reach <= w - 0.5)
            & (y + reach >= 0.5) & (y - reach <= h - 0.5))


def _gaussian_1d(centre: torch.Tensor, n: int, sigma: float) -> torch.Tensor:
    """(...,) centres -> (..., n) exp(-d^2 / 2 sigma^2) at cell centres j + 0.5.

    Values below the square root of the smallest normal float32 (or float64) are
    set to 0, so that products of two of them hold no subnormal numbers (slow on
    CPUs); they are more than 9 sigma (float64: 26 sigma) from the centre.
    """
    cells = torch.arange(n, dtype=centre.dtype, device=centre.device) + 0.5
    tiny = torch.finfo(torch.float32 if centre.dtype == torch.float16 else centre.dtype).tiny ** 0.5
    # exponents below log(tiny) give 0 anyway; clamping them keeps exp off its slow underflow path
    exponent = ((cells - centre[..., None]).square() * (-0.5 / float(sigma) ** 2)).clamp_min(math.log(tiny) - 1)
    values = torch.exp(exponent)
    return torch.where(values >= tiny, values, torch.zeros((), dtype=values.dtype, device=values.device))


def _gaussian(points: torch.Tensor, size: Size, sigma: float, subpixel: bool = True):
    """Gaussian maps (..., K, H, W) and which points have one (..., K)."""
    points = _float_points(points)
    h, w = as_hw(size)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 (heatmap pixels), got {sigma}")
    centre = points if subpixel else torch.floor(points) + 0.5
    valid = _gaussian_reach(centre, h, w, sigma)
    centre = torch.where(valid[..., None], centre, torch.zeros_like(centre))
    gx = _gaussian_1d(centre[..., 0], w, sigma)  # (..., K, W)
    gy = _gaussian_1d(centre[..., 1], h, sigma)  # (..., K, H)
    gy = gy * valid[..., None].to(gy.dtype)  # zero rows -> zero map for points without one
    return gy[..., :, None] * gx[..., None, :], valid


def gaussian_heatmaps(
    points: torch.Tensor, size: Size, sigma: float, subpixel: bool = True
) -> torch.Tensor:
    """Render one unnormalised 2-D Gaussian per point.

    points: (N, K, 2) float xy in heatmap pixels (pixel j spans [j, j+1),
        centre j + 0.5). Any leading shape (..., K, 2) is accepted.
    size: heatmap size, int or (H, W).
    sigma: standard deviation in heatmap pixels (> 0).
    subpixel: True centres the Gaussian at the exact point (unbiased, as DARK
        recommends). False centres it on the centre of the cell containing the
        point, ``floor(p) + 0.5``, reproducing the integer rounding of the blog
        post (kept for comparison: it biases every decoder by up to half a cell).

    Returns (N, K, H, W) with values in [0, 1]; the value is exp(-d^2 / 2 sigma^2)
    evaluated at cell centres, so the maximum is 1 only when the centre falls on
    a cell centre. A point outside the map whose 3 sigma box still holds a cell
    centre gets the part of its Gaussian inside the map; NaN or farther points
    give an all-zero map (see :func:`keypoint_weights`).

    The map is the outer product of two 1-D Gaussians, so the cost is one
    (H x W) multiply per map: close to the time needed to fill the output.
    """
    return _gaussian(points, size, sigma, subpixel)[0]


def gaussian_vectors(positions: torch.Tensor, length: int, sigma: float) -> torch.Tensor:
    """1-D Gaussian labels (SimCC): (...,) positions in bins -> (..., length).

    Bin b spans [b, b+1) with its centre at b + 0.5; the value at bin b is
    ``exp(-(b + 0.5 - position)^2 / 2 sigma^2)`` (peak 1 when the position is a
    bin centre). NaN positions give all-zero vectors; positions outside
    ``[0, length)`` give the part of the Gaussian that falls inside (whether it
    counts is up to the caller, see :func:`keypoint_weights`).
    """
    positions = torch.as_tensor(positions)
    if not positions.is_floating_point():
        positions = positions.to(torch.get_default_dtype())
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 (bins), got {sigma}")
    finite = torch.isfinite(positions)
    vectors = _gaussian_1d(torch.where(finite, positions, torch.zeros_like(positions)), int(length), sigma)
    return vectors * finite[..., None].to(vectors.dtype)


def binary_heatmaps(
    points: torch.Tensor, size: Size, *, generator: Optional[torch.Generator] = None,
    dtype: Optional[torch.dtype] = None, out: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Randomized-rounding binary heatmaps (H3R): exactly one 1 per map.

    points: (N, K, 2) float xy in heatmap pixels (any leading shape ``(..., K, 2)``).
    size: heatmap size, int or (H, W).
    generator: optional ``torch.Generator`` for reproducible draws. It may live on
        the CPU while the points are on another device.
    dtype: dtype of the maps (default: the points' float dtype). ``torch.uint8``
        or ``torch.bool`` maps take 4x less memory than float32 and are written
        faster; the time is dominated by zero-filling the output.
    out: optional (..., K, H, W) tensor to write the maps into (its dtype wins).
        Reusing one buffer across batches avoids allocating fresh memory, which
        on CPU costs more than the encoding itself.

    Returns (N, K, H, W) of zeros with a single 1 per valid point. The 1 lands on
    one of the four cells whose centres surround the point: per axis, with
    ``u = p - 0.5`` and ``f = u - floor(u)``, the cell ``floor(u) + 1`` is chosen
    with probability ``f`` and ``floor(u)`` otherwise. Since argmax decodes a cell
    to its centre, the expected decoded position is exactly the point: the mean
    argmax over many draws converges on it (bilinear weights, unbiased).

    Within half a cell of the border a neighbour would fall outside the map; it
    is clamped to the border cell (the only bias, limited to that half cell).
    NaN or outside points give an all-zero map.
    """
    points = _float_points(points)
    h, w = as_hw(size)
    valid = coords.inside(points, (h, w))
    u = torch.where(valid[..., None], points, torch.zeros_like(points)) - 0.5
    base = torch.floor(u)
    frac = u - base
    if generator is not None and generator.device != points.device:
        draw = torch.rand(frac.shape, generator=generator, device=generator.device)
        draw = draw.to(device=points.device, dtype=frac.dtype)
    else:
        draw = torch.rand(frac.shape, generator=generator, device=points.device, dtype=frac.dtype)
    cell = (base + (draw < frac).to(frac.dtype)).long()
    col = cell[..., 0].clamp(0, w - 1)
    row = cell[..., 1].clamp(0, h - 1)
    flat_index = (row * w + col).unsqueeze(-1)  # (..., K, 1)
    shape = (*points.shape[:-1], h, w)
    if out is not None:
        if tuple(out.shape) != shape or out.device != points.device or not out.is_contiguous():
            raise ValueError(f"out must be a contiguous tensor of shape {shape} on {points.device}, "
                             f"got {tuple(out.shape)} on {out.device}")
        maps = out.view(*points.shape[:-1], h * w).zero_()
    else:
        maps = torch.zeros(*points.shape[:-1], h * w, dtype=points.dtype if dtype is None else dtype,
                           device=points.device)
    maps.scatter_(-1, flat_index, valid.unsqueeze(-1).to(maps.dtype))
    return maps.view(shape)


def encode(
    points: torch.Tensor,
    size: Size,
    encoding: str = "gaussian",
    sigma: float = 2.0,
    *,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Dispatch to an encoder by name (see :data:`ENCODINGS`).

    points: (N, K, 2) in heatmap pixels -> (N, K, H, W). ``sigma`` is ignored
    by ``"binary"``, ``generator`` (keyword only) by the Gaussians.
    """
    if encoding == "gaussian":
        return gaussian_heatmaps(points, size, sigma, subpixel=True)
    if encoding == "gaussian_int":
        return gaussian_heatmaps(points, size, sigma, subpixel=False)
    if encoding == "binary":
        return binary_heatmaps(points, size, generator=generator)
    raise ValueError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")


def keypoint_weights(
    points: torch.Tensor,
    size: Size,
    encoding: str = "gaussian",
    sigma: float = 2.0,
    visibility: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Which points count: (N, K, 2) heatmap px -> (N, K) weights, 1 or 0.

    A point counts when it is visible (``visibility`` (N, K) bool, or numbers
    where >= 0.5 means visible; None: all visible) and its map is not empty
    under the rule of the encoding (:func:`encode`): for the Gaussians, finite
    with a cell centre inside its 3 sigma box (a point just outside the map
    counts: its partial Gaussian is a valid target); for ``binary``, finite and
    inside the map. The dtype is the points' float dtype.
    """
    points = _float_points(points)
    h, w = as_hw(size)
    if encoding in ("gaussian", "gaussian_int"):
        centre = points if encoding == "gaussian" else torch.floor(points) + 0.5
        valid = _gaussian_reach(centre, h, w, sigma)
    elif encoding == "binary":
        valid = coords.inside(points, (h, w))
    else:
        raise ValueError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    if visibility is not None:
        valid = valid & _visible(visibility, points)
    return valid.to(points.dtype)


def _visible(visibility, points: torch.Tensor) -> torch.Tensor:
    """(N, K) bool from a visibility tensor (bool, or numbers >= 0.5), checked against points."""
    visibility = torch.as_tensor(visibility, device=points.device)
    if tuple(visibility.shape) != tuple(points.shape[:-1]):
        raise ValueError(f"visibility must have shape {tuple(points.shape[:-1])} (one flag per point), "
                         f"got {tuple(visibility.shape)}")
    return visibility if visibility.dtype == torch.bool else visibility >= 0.5


def __getattr__(name: str):
    # HeatmapCodec lives in lmkviz.codecs (with the other codecs); it stays importable from here
    if name == "HeatmapCodec":
        from lmkviz.codecs import HeatmapCodec

        return HeatmapCodec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
