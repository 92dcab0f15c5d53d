"""Decoding heatmaps into points (heatmaps -> points), batched and vectorised.

``decode(heatmaps, method)`` turns (N, K, H, W) heatmaps into (N, K, 2) float xy
in heatmap pixels, in the lmkviz convention: pixel j spans [j, j+1) with its
centre at j + 0.5, so a plain argmax decodes cell (i, j) to (j + 0.5, i + 0.5).
Multiply by the stride (:func:`lmkviz.coords.heatmap_to_image`) for image pixels.

Methods (:data:`DECODERS`):

``argmax``
    Centre of the maximal cell. Quantised: up to half a cell off.
``quarter``
    The classic refinement: a quarter-cell shift from the maximum towards the
    larger of its two neighbours, per axis (none at the border or on ties).
``topk``
    H3R: a softmax-weighted mean of the centres of the ``k`` largest cells
    (``k = 9`` by default). The softmax is meant for **logits** (the raw output
    of a network trained with BCE-with-logits on binary maps). For maps of
    non-negative scores (Gaussian targets, MSE outputs, probabilities) pass
    ``logits=False``: the weights become the scores themselves,
    ``softmax(log p) = p / sum(p)``, a local centre of mass.
``dark``
    DARK (Zhang et al. 2020): optional Gaussian modulation (``blur`` = kernel
    sigma in heatmap pixels, 0 = off), then on the log of the map at the
    maximum: gradient and full 2x2 Hessian (cross term included) by central
    differences, and one Newton step ``-H^-1 g``. It falls back to argmax
    where the Hessian is not negative definite, the step is longer than one
    cell along an axis, or the maximum touches the border (no neighbours).
    The map is read once for the argmax; logs are taken only in the 3 x 3
    window around the peak.

Confidence (``return_confidence=True``) is the value of the map at its maximum:
``sigmoid`` of it for logits, the raw value otherwise. All methods work on any
device and floating dtype, without Python loops over images or points.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

DECODERS = ("argmax", "quarter", "topk", "dark")

DECODER_LABELS = {
    "argmax": "argmax",
    "quarter": "quarter offset",
    "topk": "top-k softmax (H3R)",
    "dark": "DARK",
}

_EPS = 1e-10


def _check(heatmaps: torch.Tensor) -> torch.Tensor:
    if heatmaps.ndim < 3:
        raise ValueError(f"heatmaps must have shape (..., H, W), got {tuple(heatmaps.shape)}")
    if not heatmaps.is_floating_point():
        heatmaps = heatmaps.to(torch.get_default_dtype())
    return heatmaps


def _argmax(heatmaps: torch.Tensor):
    """(..., H, W) -> flat index (...), row (...), col (...), max value (...)."""
    w = heatmaps.shape[-1]
    flat = heatmaps.flatten(-2)
    value, index = flat.max(dim=-1)  # one pass over the maps
    return flat, index, index // w, index % w, value


def _gather(flat: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, w: int) -> torch.Tensor:
    """Values of flat maps (..., H*W) at (rows, cols) of shape (..., M) -> (..., M)."""
    return flat.gather(-1, rows * w + cols)


def gaussian_blur(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (..., H, W) maps with kernel sigma in heatmap pixels.

    The kernel spans +-3 sigma and is normalised; borders are zero-padded (maps
    are ~0 there). Each map is blurred independently. Maps up to 256 px a side
    are blurred as two matrix products with banded kernel matrices
    (``B_h @ maps @ B_w``), which is several times faster than a depthwise
    convolution on CPU; larger maps use the convolution.
    """
    if sigma <= 0:
        return heatmaps
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=heatmaps.dtype, device=heatmaps.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    h, w = heatmaps.shape[-2:]
    if max(h, w) <= 256:
        return _band(kernel, h) @ heatmaps @ _band(kernel, w)
    shape = heatmaps.shape
    maps = heatmaps.reshape(-1, 1, h, w)
    maps = F.conv2d(maps, kernel.view(1, 1, 1, -1), padding=(0, radius))
    maps = F.conv2d(maps, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return maps.reshape(shape)


def _band(kernel: torch.Tensor, n: int) -> torch.Tensor:
    """(n, n) symmetric matrix B with B[i, j] = kernel[j - i + radius] (0 outside the band)."""
    radius = (kernel.numel() - 1) // 2
    i = torch.arange(n, device=kernel.device)
    offset = i[None, :] - i[:, None]
    taps = kernel[(offset + radius).clamp(0, 2 * radius)]
    return torch.where(offset.abs() <= radius, taps, torch.zeros((), dtype=kernel.dtype, device=kernel.device))


def modulate(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """DARK's distribution modulation: blur, then rescale each map to its former maximum.

    (..., H, W) -> (..., H, W). Negative values are clipped to zero first, so the
    log taken by the DARK step is defined around the peak.
    """
    maps = heatmaps.clamp_min(0)
    peak = maps.amax(dim=(-2, -1), keepdim=True)
    blurred = gaussian_blur(maps, sigma)
    return blurred * (peak / blurred.amax(dim=(-2, -1), keepdim=True).clamp_min(_EPS))


def _quarter(flat, row, col, h, w, dtype):
    rows = torch.stack([row, row, (row - 1).clamp_min(0), (row + 1).clamp_max(h - 1)], -1)
    cols = torch.stack([(col - 1).clamp_min(0), (col + 1).clamp_max(w - 1), col, col], -1)
    left, right, up, down = _gather(flat, rows, cols, w).unbind(-1)
    dx = torch.sign(right - left) * 0.25
    dy = torch.sign(down - up) * 0.25
    dx = torch.where((col > 0) & (col < w - 1), dx, torch.zeros_like(dx))
    dy = torch.where((row > 0) & (row < h - 1), dy, torch.zeros_like(dy))
    return torch.stack([dx, dy], -1).to(dtype)


def _topk(flat, w, k, logits, dtype):
    k = max(1, min(int(k), flat.shape[-1]))
    scores, index = flat.topk(k, dim=-1)
    if logits:
        weights = torch.softmax(scores, dim=-1)
    else:
        weights = scores.clamp_min(0)
        total = weights.sum(-1, keepdim=True)
        # all-zero tops (e.g. an empty map): equal weights
        weights = torch.where(total > 0, weights / total.clamp_min(_EPS), torch.full_like(weights, 1.0 / k))
    x = (index % w).to(dtype) + 0.5
    y = (index // w).to(dtype) + 0.5
    return torch.stack([(weights * x).sum(-1), (weights * y).sum(-1)], -1)


def _dark(flat, row, col, h, w, dtype):
    """Newton offsets (..., 2) at the argmax from the log of the 3x3 window."""
    offsets = torch.tensor([-1, 0, 1], device=flat.device)
    r = (row[..., None, None] + offsets[:, None]).clamp(0, h - 1)  # (..., 3, 1)
    c = (col[..., None, None] + offsets[None, :]).clamp(0, w - 1)  # (..., 1, 3)
    r, c = torch.broadcast_tensors(r, c)
    window = _gather(flat, r.flatten(-2), c.flatten(-2), w).view(*row.shape, 3, 3)
    work = torch.float64 if dtype == torch.float64 else torch.float32
    logw = torch.log(window.to(work).clamp_min(_EPS))
    # window[..., i, j]: i indexes rows (y), j columns (x); centre at [1, 1]
    dx = 0.5 * (logw[..., 1, 2] - logw[..., 1, 0])
    dy = 0.5 * (logw[..., 2, 1] - logw[..., 0, 1])
    dxx = logw[..., 1, 2] - 2 * logw[..., 1, 1] + logw[..., 1, 0]
    dyy = logw[..., 2, 1] - 2 * logw[..., 1, 1] + logw[..., 0, 1]
    dxy = 0.25 * (logw[..., 2, 2] - logw[..., 2, 0] - logw[..., 0, 2] + logw[..., 0, 0])
    det = dxx * dyy - dxy * dxy
    safe_det = torch.where(det.abs() > _EPS, det, torch.ones_like(det))
    # offset = -H^-1 g with H^-1 = [[dyy, -dxy], [-dxy, dxx]] / det
    ox = -(dyy * dx - dxy * dy) / safe_det
    oy = -(-dxy * dx + dxx * dy) / safe_det
    ok = (dxx < 0) & (det > _EPS)  # negative definite
    ok &= (ox.abs() <= 1) & (oy.abs() <= 1)
    ok &= (row > 0) & (row < h - 1) & (col > 0) & (col < w - 1)
    ok &= torch.isfinite(ox) & torch.isfinite(oy)
    ox = torch.where(ok, ox, torch.zeros_like(ox))
    oy = torch.where(ok, oy, torch.zeros_like(oy))
    return torch.stack([ox, oy], -1).to(dtype)


def decode(
    heatmaps: torch.Tensor,
    method: str = "argmax",
    *,
    k: int = 9,
    blur: float = 0.0,
    logits: bool = False,
    return_confidence: bool = False,
):
    """Decode heatmaps into points.

    heatmaps: (N, K, H, W) float (any leading shape (..., H, W) works).
    method: one of :data:`DECODERS` (see the module docstring).
    k: number of cells for ``topk``.
    blur: DARK modulation kernel sigma in heatmap pixels (0 = no modulation);
        only used by ``dark``.
    logits: True when the maps are raw logits (BCE-trained networks). ``topk``
        then applies its softmax to them; ``dark`` works on ``sigmoid(maps)``.
        False (default) for non-negative scores such as Gaussian maps.
    return_confidence: also return the (N, K) peak confidence.

    Returns (N, K, 2) float xy in heatmap pixels (centre of cell j at j + 0.5),
    and the (N, K) confidence when asked.
    """
    heatmaps = _check(heatmaps)
    if method not in DECODERS:
        raise ValueError(f"unknown decoder {method!r}; choose one of {', '.join(DECODERS)}")
    h, w = heatmaps.shape[-2:]
    dtype = heatmaps.dtype
    if method == "dark":
        maps = torch.sigmoid(heatmaps) if logits else heatmaps
        if blur > 0:
            maps = modulate(maps, blur)
        flat, _, row, col, _ = _argmax(maps)
    else:
        flat, _, row, col, _ = _argmax(heatmaps)
    if method == "topk":
        points = _topk(flat, w, k, logits, dtype)
    else:
        points = torch.stack([col, row], -1).to(dtype) + 0.5
        if method == "quarter":
            points = points + _quarter(flat, row, col, h, w, dtype)
        elif method == "dark":
            points = points + _dark(flat, row, col, h, w, dtype)
    if not return_confidence:
        return points
    raw_flat = heatmaps.flatten(-2)
    peak = raw_flat.gather(-1, (row * w + col).unsqueeze(-1)).squeeze(-1)
    confidence = torch.sigmoid(peak) if logits else peak
    return points, confidence


def decode_all(heatmaps: torch.Tensor, methods=DECODERS, **options) -> dict:
    """Decode the same maps with several methods: {method: (N, K, 2)}."""
    return {m: decode(heatmaps, m, **options) for m in methods}


def flip_heatmaps(heatmaps: torch.Tensor, flip_perm: Optional[torch.Tensor]) -> torch.Tensor:
    """Mirror (N, K, H, W) heatmaps left-right and reorder channels by ``flip_perm``.

    Used for flip-test averaging: ``flip_heatmaps(model(mirror(x)))`` is aligned
    with ``model(x)`` (in the continuous convention a mirror maps x to W - x,
    which on a raster is exactly reversing the columns).
    """
    maps = heatmaps.flip(-1)
    if flip_perm is not None:
        maps = maps[..., torch.as_tensor(flip_perm, device=maps.device), :, :]
    return maps
