"""Decoding heatmaps into points (heatmaps -> points), batched and vectorised.

``decode(heatmaps, method)`` turns (N, K, H, W) heatmaps into (N, K, 2) float xy
in heatmap pixels, in the lmkviz convention: pixel j spans [j, j+1) with its
centre at j + 0.5, so a plain argmax decodes cell (i, j) to (j + 0.5, i + 0.5).
Multiply by the stride (:func:`lmkviz.coords.heatmap_to_image`) for image pixels.

Every method starts from the same peak: the maximal cell of the raw map (cells
that are NaN or infinite are ignored). Methods (:data:`DECODERS`):

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
    ``softmax(log p) = p / sum(p)``, a local centre of mass (negative scores
    weigh 0). ``local=True`` (default) takes the ``k`` best cells of a window
    around the peak: the smallest odd square holding ``k`` cells plus one ring
    (5 x 5 for ``k = 9``), and cells tied with the k-th best share the slots
    left, so a second peak or a flat background elsewhere cannot pull the
    estimate away and ties stay symmetric. ``local=False`` is H3R's global
    top-k over the whole map: with two similar peaks it lands between them, and
    on a flat background ``torch.topk`` picks arbitrary tied cells.
``dark``
    DARK (Zhang et al. 2020): on the log of the map around the peak, gradient
    and full 2x2 Hessian (cross term included) by central differences from the
    3 x 3 stencil, and one Newton step ``-H^-1 g``. At the border the stencil
    moves inside the map (one-sided differences: the log of a Gaussian is a
    parabola, fitted exactly by any three cells per axis), so a peak on the
    outermost cells is refined too. Where a stencil cell is not positive (an
    MSE output can be negative) the step is taken on the map itself instead of
    its log (a plain quadratic fit). It keeps the peak cell's centre where the
    Hessian is not negative definite, the estimate would land more than one
    cell from the peak cell's centre (1.5 cells with modulation), or a stencil
    cell is not finite.

    *Modulation* (``blur`` = Gaussian kernel sigma in heatmap pixels, 0 = off):
    the stencil is read from the map blurred by the kernel, computed only in a
    window of ``2 * ceil(3 blur) + 3`` cells around the peak, never on the whole
    map. The blur never reads outside the map: near a border its radius along
    that axis shrinks to the cells the map holds on both sides of the stencil
    (down to no blur on the outermost cells), so no mass is pulled in from
    outside and a symmetric peak stays where it is. With modulation the step is
    repeated once from the cell the first step landed in, since the blurred
    peak can sit a cell away from the raw maximum on a noisy map.
``softargmax``
    Integral regression / soft-argmax (Sun et al. 2018; DSNT): the expectation
    of the cell centres under a distribution made from the whole map:
    ``softmax(maps / temperature)`` for logits, ``relu(maps) ** (1 / temperature)``
    normalised for scores (``temperature = 1``: the map's centre of mass, exact
    for a Gaussian whose 3 sigma disc lies inside the map; a blob cut by a
    border is pulled inward by the part that is missing). It is differentiable:
    :func:`soft_argmax` is the same computation for a loss, without the
    empty-map sentinel. Every cell counts, so background noise of a network
    not trained for it pulls the estimate towards the map centre.

Confidence (``return_confidence=True``) is the value of the raw map at its
maximum: ``sigmoid`` of it for logits, the raw value otherwise.

Empty maps: a map with no finite cell, or whose finite cells all hold the same
value (an all-zero map, a flat map), carries no position. Every decoder returns
the point ``(NaN, NaN)`` with confidence 0 for it, never a made-up cell centre.
A map with a peak always decodes to a finite point, even when every cell is
negative. NaN or infinite cells are ignored when looking for the peak; a
refinement that would read one falls back to the peak cell's centre.

1-D vectors (SimCC's x and y label vectors) decode with :func:`decode_vectors`.
All functions work on any device and floating dtype, without Python loops over
images or points.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

# DECODERS (2-D heatmaps, for :func:`decode`), VECTOR_DECODERS (1-D vectors, for
# :func:`decode_vectors`) and DECODER_LABELS are defined without torch in lmkviz.names.
from lmkviz.names import DECODER_LABELS, DECODERS, VECTOR_DECODERS  # noqa: E402,F401

_EPS = 1e-10


def _check(heatmaps: torch.Tensor) -> torch.Tensor:
    if heatmaps.ndim < 2:
        raise ValueError(f"heatmaps must have shape (..., H, W), got {tuple(heatmaps.shape)}")
    if not heatmaps.is_floating_point():
        heatmaps = heatmaps.to(torch.get_default_dtype())
    return heatmaps


def _gather(flat: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, w: int) -> torch.Tensor:
    """Values of flat maps (..., H*W) at (rows, cols) of shape (..., M) -> (..., M)."""
    return flat.gather(-1, rows * w + cols)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _peaks(heatmaps: torch.Tensor):
    """Find the peak of every map and flag the empty ones.

    heatmaps: (..., H, W). Returns ``flat`` (..., H*W) (non-finite cells replaced
    by -inf where a map has any), ``row``, ``col``, ``value`` (...) of the maximal
    cell, and ``empty`` (...) bool: no finite cell, or all finite cells equal.
    The maps are read once; a second pass runs only when some map holds a
    non-finite cell or a plateau around its maximum.
    """
    h, w = heatmaps.shape[-2:]
    flat = heatmaps.flatten(-2)
    value, index = flat.max(dim=-1)  # NaN propagates: a map with a NaN cell has a NaN maximum
    if not bool(torch.isfinite(value).all()):
        flat = torch.where(torch.isfinite(flat), flat, torch.full((), -math.inf, dtype=flat.dtype, device=flat.device))
        value, index = flat.max(dim=-1)
    row, col = index // w, index % w
    offsets = torch.tensor([-1, 0, 1], device=flat.device)
    r = (row[..., None, None] + offsets[:, None]).clamp(0, h - 1)
    c = (col[..., None, None] + offsets[None, :]).clamp(0, w - 1)
    r, c = torch.broadcast_tensors(r, c)
    around = _gather(flat, r.flatten(-2), c.flatten(-2), w)
    plateau = (around == value[..., None]).all(-1)
    empty = torch.zeros_like(plateau)
    if bool(plateau.any()):
        inf = torch.full((), math.inf, dtype=flat.dtype, device=flat.device)
        lowest = torch.where(torch.isfinite(flat), flat, inf).amin(dim=-1)
        empty = plateau & (lowest >= value)
    return flat, row, col, value, empty


def _quarter(flat, row, col, h, w, dtype):
    rows = torch.stack([row, row, (row - 1).clamp_min(0), (row + 1).clamp_max(h - 1)], -1)
    cols = torch.stack([(col - 1).clamp_min(0), (col + 1).clamp_max(w - 1), col, col], -1)
    left, right, up, down = _gather(flat, rows, cols, w).unbind(-1)
    dx = torch.sign(right - left) * 0.25
    dy = torch.sign(down - up) * 0.25
    zero = torch.zeros((), dtype=dx.dtype, device=dx.device)
    dx = torch.where((col > 0) & (col < w - 1) & torch.isfinite(dx), dx, zero)
    dy = torch.where((row > 0) & (row < h - 1) & torch.isfinite(dy), dy, zero)
    return torch.stack([dx, dy], -1).to(dtype)


def _topk(flat, row, col, h, w, k, logits, local, dtype):
    work = _work_dtype(dtype)
    k = max(1, int(k))
    if local:
        radius = math.ceil((math.sqrt(k) - 1) / 2) + 1
        offsets = torch.arange(-radius, radius + 1, device=flat.device)
        r = row[:, None, None] + offsets[:, None]
        c = col[:, None, None] + offsets[None, :]
        r, c = torch.broadcast_tensors(r, c)
        r, c = r.flatten(1), c.flatten(1)
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        scores = _gather(flat, r.clamp(0, h - 1), c.clamp(0, w - 1), w).to(work)
        scores = torch.where(inside, scores, torch.full((), -math.inf, dtype=work, device=flat.device))
        # the k best cells of the window; cells tied with the k-th share the slots left
        kth = scores.topk(k, dim=-1).values[:, -1:]
        above, tied = scores > kth, scores == kth
        left = k - above.sum(-1, keepdim=True)
        share = above.to(work) + tied.to(work) * (left / tied.sum(-1, keepdim=True).clamp_min(1)).to(work)
    else:  # H3R: the k best cells of the whole map (ties broken by torch.topk)
        scores, index = flat.topk(min(k, flat.shape[-1]), dim=-1)
        scores = scores.to(work)
        r, c = index // w, index % w
        share = torch.ones_like(scores)
    if logits:  # softmax over the chosen cells
        base = torch.exp(scores - scores.amax(-1, keepdim=True))
    else:  # scores weigh themselves (softmax of their log); negative ones weigh 0
        base = torch.where(torch.isfinite(scores), scores, torch.zeros((), dtype=work, device=flat.device))
        base = base.clamp_min(0)
    weights = share * base
    total = weights.sum(-1)
    safe = torch.where(total > 0, total, torch.ones_like(total))
    x = (weights * (c.to(work) + 0.5)).sum(-1) / safe
    y = (weights * (r.to(work) + 0.5)).sum(-1) / safe
    # no positive score to weigh (an all-negative map read as scores): the peak cell
    x = torch.where(total > 0, x, col.to(work) + 0.5)
    y = torch.where(total > 0, y, row.to(work) + 0.5)
    return torch.stack([x, y], -1).to(dtype)


def _taps(offsets: torch.Tensor, radius: torch.Tensor, blur: float, work: torch.dtype) -> torch.Tensor:
    """Blur taps (M, 3, S) from a window of S cells at ``offsets`` to the 3 stencil cells.

    Tap ``[m, i, s]`` is the Gaussian kernel at ``offsets[s] - (i - 1)``, zero beyond
    map m's ``radius`` (M,), normalised to sum to 1 per stencil cell.
    """
    d = offsets[None, :] - torch.arange(-1, 2, device=offsets.device)[:, None]  # (3, S)
    taps = torch.exp(-0.5 * (d.to(work) / blur) ** 2)
    taps = torch.where(d.abs() <= radius[:, None, None], taps, torch.zeros((), dtype=work, device=taps.device))
    return taps / taps.sum(-1, keepdim=True)


def _dark_step(flat, which, row, col, h, w, blur, logits, work):
    """One DARK Newton step for maps ``flat[which]`` (flat: (M, H*W); which, row, col: (P,)).

    The 3 x 3 stencil is centred on (row, col) moved inside the map; with
    ``blur`` its cells are read from the map blurred in a window around it.
    Returns x, y (P,) in heatmap pixels and ok (P,): the step was taken.
    """
    device = flat.device
    use_x, use_y = w >= 3, h >= 3
    reach = int(math.ceil(3 * blur)) if blur > 0 else 0

    def axis(index, n, usable):
        if not usable:
            return index, torch.zeros_like(index), torch.zeros(1, dtype=index.dtype, device=device)
        centre = index.clamp(1, n - 2)
        radius = torch.minimum(centre - 1, n - 2 - centre).clamp_max(reach)
        return centre, radius, torch.arange(-(reach + 1), reach + 2, device=device)

    cx, rad_x, off_x = axis(col, w, use_x)
    cy, rad_y, off_y = axis(row, h, use_y)
    sy, sx = off_y.numel(), off_x.numel()
    rows = (cy[:, None] + off_y).clamp(0, h - 1)  # (P, Sy)
    cols = (cx[:, None] + off_x).clamp(0, w - 1)  # (P, Sx)
    cells = which[:, None, None] * (h * w) + rows[:, :, None] * w + cols[:, None, :]
    window = flat.reshape(-1)[cells].to(work)  # (P, Sy, Sx)
    if logits:
        window = torch.sigmoid(window)
    finite = torch.isfinite(window)
    tx = ty = None  # blur taps (P, 3, S) per axis; none without modulation
    if use_x and reach > 0:
        tx = _taps(off_x, rad_x, blur, work)
    if use_y and reach > 0:
        ty = _taps(off_y, rad_y, blur, work)
    if tx is None and ty is None:
        bad = ~finite.flatten(1).all(-1)
        stencil = window
    else:
        if bool(finite.all()):  # the common case: nothing to mask
            bad = torch.zeros(len(which), dtype=torch.bool, device=device)
        else:  # a non-finite cell spoils the step only where a tap reads it
            ones = torch.ones((), dtype=torch.bool, device=device)
            used_x = tx.sum(-2) > 0 if tx is not None else ones.expand(len(which), sx)
            used_y = ty.sum(-2) > 0 if ty is not None else ones.expand(len(which), sy)
            bad = (~finite & used_y[:, :, None] & used_x[:, None, :]).flatten(1).any(-1)
            window = torch.where(finite, window, torch.zeros((), dtype=work, device=device))
        stencil = window
        if ty is not None:
            stencil = ty @ stencil
        if tx is not None:
            stencil = stencil @ tx.transpose(-1, -2)
    positive = (stencil > 0).flatten(1).all(-1)
    values = torch.where(positive[:, None, None], torch.log(stencil.clamp_min(_EPS)), stencil)
    my, mx = (1 if use_y else 0), (1 if use_x else 0)
    zero = torch.zeros((), dtype=work, device=device)
    ox = oy = torch.zeros(len(which), dtype=work, device=device)
    ok = ~bad
    if use_x:
        dx = 0.5 * (values[:, my, 2] - values[:, my, 0])
        dxx = values[:, my, 2] - 2 * values[:, my, 1] + values[:, my, 0]
    if use_y:
        dy = 0.5 * (values[:, 2, mx] - values[:, 0, mx])
        dyy = values[:, 2, mx] - 2 * values[:, 1, mx] + values[:, 0, mx]
    if use_x and use_y:
        dxy = 0.25 * (values[:, 2, 2] - values[:, 2, 0] - values[:, 0, 2] + values[:, 0, 0])
        det = dxx * dyy - dxy * dxy
        ok = ok & (dxx < 0) & (det > 0)
        safe = torch.where(det > 0, det, torch.ones_like(det))
        # offset = -H^-1 g with H^-1 = [[dyy, -dxy], [-dxy, dxx]] / det
        ox = -(dyy * dx - dxy * dy) / safe
        oy = -(dxx * dy - dxy * dx) / safe
    elif use_x:
        ok = ok & (dxx < 0)
        ox = -dx / torch.where(dxx < 0, dxx, -torch.ones_like(dxx))
    elif use_y:
        ok = ok & (dyy < 0)
        oy = -dy / torch.where(dyy < 0, dyy, -torch.ones_like(dyy))
    ok = ok & torch.isfinite(ox) & torch.isfinite(oy)
    x = cx.to(work) + 0.5 + torch.where(ok, ox, zero)
    y = cy.to(work) + 0.5 + torch.where(ok, oy, zero)
    return x, y, ok


def _dark(flat, row, col, h, w, blur, logits, dtype):
    """DARK estimates (M, 2) from the peaks (row, col) of flat maps (M, H*W)."""
    work = _work_dtype(dtype)
    px, py = col.to(work) + 0.5, row.to(work) + 0.5
    which = torch.arange(len(row), device=flat.device)
    x, y, ok = _dark_step(flat, which, row, col, h, w, blur, logits, work)
    bound = 1.0
    if blur > 0:
        # the blurred peak may sit in a neighbouring cell of the raw maximum (noisy
        # maps): step again from the cell the first step landed in
        bound = 1.5
        row2 = torch.floor(y).long().clamp(0, h - 1)
        col2 = torch.floor(x).long().clamp(0, w - 1)
        moved = (ok & ((row2 != row) | (col2 != col))).nonzero().squeeze(-1)
        if moved.numel():
            x2, y2, ok2 = _dark_step(flat, moved, row2[moved], col2[moved], h, w, blur, logits, work)
            x[moved] = torch.where(ok2, x2, x[moved])
            y[moved] = torch.where(ok2, y2, y[moved])
    ok = ok & ((x - px).abs() <= bound) & ((y - py).abs() <= bound)
    return torch.stack([torch.where(ok, x, px), torch.where(ok, y, py)], -1).to(dtype)


_CHUNK = 1 << 20
"""Cells per chunk of :func:`_expectation` (4 MB of float32: reused memory, not fresh pages)."""


def _expectation(flat: torch.Tensor, h: int, w: int, temperature: float, logits: bool):
    """(M, H*W) -> points (M, 2) and total positive mass (M,) (1 for logits).

    The weights are made and reduced a few thousand maps at a time: a full-size
    temporary would cost more in fresh memory than the arithmetic.
    """
    work = _work_dtype(flat.dtype)
    device = flat.device
    xs = torch.arange(w, dtype=work, device=device) + 0.5
    ys = torch.arange(h, dtype=work, device=device) + 0.5
    step = max(1, _CHUNK // (h * w)) if device.type == "cpu" else max(1, flat.shape[0])
    parts = []
    for chunk in flat.split(step):
        chunk = chunk.to(work)
        if logits:
            weights = torch.softmax(chunk / temperature if temperature != 1.0 else chunk, dim=-1)
        elif temperature == 1.0:
            weights = chunk.clamp_min(0)
        else:  # pow on a safe base: no infinite gradient at 0
            positive = chunk > 0
            base = torch.where(positive, chunk, torch.ones((), dtype=work, device=device))
            weights = torch.where(positive, base ** (1.0 / temperature), torch.zeros((), dtype=work, device=device))
        weights = weights.view(-1, h, w)
        parts.append(torch.stack([weights.sum(-1), weights @ xs], -1))  # (m, H, 2): row sums, x moments
    moments = torch.cat(parts) if len(parts) != 1 else parts[0]
    rows = moments[..., 0]
    total = rows.sum(-1)
    safe = torch.where(total > 0, total, torch.ones_like(total))
    x = moments[..., 1].sum(-1) / safe
    y = (rows * ys).sum(-1) / safe
    centre = torch.tensor([w / 2, h / 2], dtype=work, device=device)
    points = torch.where((total > 0)[:, None], torch.stack([x, y], -1), centre)
    return points, total


def soft_argmax(heatmaps: torch.Tensor, temperature: float = 1.0, logits: bool = False) -> torch.Tensor:
    """Differentiable expectation of the cell centres (integral regression, DSNT).

    heatmaps: (..., H, W) float. logits=True: the distribution is
    ``softmax(maps / temperature)`` over all cells; logits=False (scores, e.g.
    Gaussian targets or MSE outputs): ``relu(maps) ** (1 / temperature)``
    normalised, so temperature 1 is the centre of mass of the positive part.
    Returns (..., 2) xy in heatmap pixels (cell j's centre at j + 0.5).

    Gradients flow to every cell (to the positive ones for scores). No sentinel:
    a map without a positive score decodes to the map centre ``(W/2, H/2)``;
    :func:`decode` with ``"softargmax"`` flags empty maps instead. Cells must be
    finite or -inf (weight 0).
    """
    heatmaps = _check(heatmaps)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    h, w = heatmaps.shape[-2:]
    points, _ = _expectation(heatmaps.reshape(-1, h * w), h, w, float(temperature), logits)
    return points.view(*heatmaps.shape[:-2], 2).to(heatmaps.dtype)


def _softargmax(flat, row, col, h, w, temperature, logits, dtype):
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    points, total = _expectation(flat, h, w, temperature, logits)
    # scores without a positive cell (an all-negative map still has a peak): the peak cell
    peak = torch.stack([col, row], -1).to(points.dtype) + 0.5
    return torch.where((total > 0)[:, None], points, peak).to(dtype)


def decode(
    heatmaps: torch.Tensor,
    method: str = "argmax",
    *,
    k: int = 9,
    local: bool = True,
    blur: float = 0.0,
    temperature: float = 1.0,
    logits: bool = False,
    return_confidence: bool = False,
):
    """Decode heatmaps into points.

    heatmaps: (N, K, H, W) float (any leading shape (..., H, W) works).
    method: one of :data:`DECODERS` (see the module docstring).
    k: number of cells for ``topk``; local: ``topk`` only within a window around
        the peak (True) or over the whole map as H3R does (False).
    blur: DARK modulation kernel sigma in heatmap pixels (0 = no modulation);
        only used by ``dark``.
    temperature: ``softargmax`` temperature (> 0; smaller is sharper).
    logits: True when the maps are raw logits (BCE-trained networks). ``topk``
        and ``softargmax`` then apply their softmax to them; ``dark`` works on
        ``sigmoid(maps)``. False (default) for scores such as Gaussian maps.
    return_confidence: also return the (N, K) peak confidence.

    Returns (N, K, 2) float xy in heatmap pixels (centre of cell j at j + 0.5),
    and the (N, K) confidence when asked. Empty maps (no finite cell, or all
    finite cells equal) give the point (NaN, NaN) and confidence 0.
    """
    heatmaps = _check(heatmaps)
    if method not in DECODERS:
        raise ValueError(f"unknown decoder {method!r}; choose one of {', '.join(DECODERS)}")
    if blur < 0:
        raise ValueError(f"blur must be >= 0 (heatmap pixels), got {blur}")
    h, w = heatmaps.shape[-2:]
    lead, dtype = heatmaps.shape[:-2], heatmaps.dtype
    flat, row, col, value, empty = _peaks(heatmaps.reshape(-1, h, w))
    if method == "argmax":
        points = torch.stack([col, row], -1).to(dtype) + 0.5
    elif method == "quarter":
        points = torch.stack([col, row], -1).to(dtype) + 0.5 + _quarter(flat, row, col, h, w, dtype)
    elif method == "topk":
        points = _topk(flat, row, col, h, w, k, logits, local, dtype)
    elif method == "dark":
        points = _dark(flat, row, col, h, w, float(blur), logits, dtype)
    else:
        points = _softargmax(flat, row, col, h, w, float(temperature), logits, dtype)
    nan = torch.full((), math.nan, dtype=dtype, device=points.device)
    points = torch.where(empty[:, None], nan, points).view(*lead, 2)
    if not return_confidence:
        return points
    confidence = torch.sigmoid(value) if logits else value
    confidence = torch.where(empty, torch.zeros((), dtype=confidence.dtype, device=confidence.device), confidence)
    return points, confidence.view(lead)


def decode_vectors(
    vectors: torch.Tensor,
    method: str = "dark",
    *,
    blur: float = 0.0,
    temperature: float = 1.0,
    logits: bool = False,
    return_confidence: bool = False,
):
    """Decode 1-D vectors (SimCC's per-axis label vectors) into positions.

    vectors: (N, K, L) float (any leading shape (..., L)); bin b spans [b, b+1)
    with its centre at b + 0.5. method: one of :data:`VECTOR_DECODERS`: ``argmax``
    (bin centre), ``dark`` (1-D Newton step on the log, with optional modulation
    ``blur`` in bins, as :func:`decode`), ``softargmax`` (expectation).
    logits: True for the raw output of a SimCC head, trained with a softmax over
    the bins: the decoders then read ``softmax(vectors)`` (so DARK's log is the
    logits up to a constant). False for label vectors (non-negative scores).

    Returns (N, K) float positions in bins, and the (N, K) confidence (the peak
    of the vector, of its softmax for logits) when asked. Empty vectors (no
    finite entry, or all equal) give NaN and confidence 0.
    """
    if vectors.ndim < 1:
        raise ValueError(f"vectors must have shape (..., L), got {tuple(vectors.shape)}")
    if not vectors.is_floating_point():
        vectors = vectors.to(torch.get_default_dtype())
    if method not in VECTOR_DECODERS:
        raise ValueError(f"unknown vector decoder {method!r}; choose one of {', '.join(VECTOR_DECODERS)}")
    maps = vectors
    if logits:
        if not bool(torch.isfinite(vectors).all()):  # NaN and inf entries are ignored, as in decode()
            vectors = torch.where(torch.isfinite(vectors), vectors,
                                  torch.full((), -math.inf, dtype=vectors.dtype, device=vectors.device))
        maps = torch.softmax(vectors, dim=-1)  # no finite entry: all NaN, which decode() flags empty
    points, confidence = decode(maps.unsqueeze(-2), method, blur=blur, temperature=temperature,
                                logits=False, return_confidence=True)
    positions = points[..., 0]
    return (positions, confidence) if return_confidence else positions


def decode_all(heatmaps: torch.Tensor, methods=DECODERS, **options) -> dict:
    """Decode the same maps with several methods: {method: (N, K, 2)}."""
    return {m: decode(heatmaps, m, **options) for m in methods}


def gaussian_blur(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (..., H, W) maps with kernel sigma in heatmap pixels.

    The kernel spans +-3 sigma and is normalised; borders are zero-padded. Each map
    is blurred independently. Maps up to 256 px a side are blurred as two matrix
    products with banded kernel matrices (``B_h @ maps @ B_w``), which is several
    times faster than a depthwise convolution on CPU; larger maps use the
    convolution. (:func:`decode` does not call it: DARK's modulation blurs only a
    window around each peak.)
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
    """DARK's distribution modulation of whole maps, for display: (..., H, W) -> (..., H, W).

    A Gaussian blur that does not pull mass in from outside the map (each cell is
    divided by the blurred all-ones map, i.e. the kernel is renormalised over the
    cells that exist), rescaled so that each map keeps its maximum where that
    maximum is positive. Negative values are kept (no clipping).
    """
    if sigma <= 0:
        return heatmaps
    ones = torch.ones(heatmaps.shape[-2:], dtype=heatmaps.dtype, device=heatmaps.device)
    blurred = gaussian_blur(heatmaps, sigma) / gaussian_blur(ones, sigma)
    peak = heatmaps.amax(dim=(-2, -1), keepdim=True)
    top = blurred.amax(dim=(-2, -1), keepdim=True)
    scale = torch.where((peak > 0) & (top > 0), peak / top.clamp_min(_EPS), torch.ones_like(peak))
    return blurred * scale


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


def flip_vectors(x_vectors: torch.Tensor, y_vectors: torch.Tensor, flip_perm: Optional[torch.Tensor]):
    """Mirror SimCC outputs left-right: (N, K, W_x), (N, K, H_y) -> the same shapes.

    The x-vectors' bins are reversed (bin b <-> W_x - 1 - b: in the continuous
    convention x -> W - x, exactly, since the bins tile the image width), the
    y-vectors are unchanged, and both are reordered by ``flip_perm`` (left/right
    landmarks swap), like :func:`flip_heatmaps`.
    """
    x, y = x_vectors.flip(-1), y_vectors
    if flip_perm is not None:
        perm = torch.as_tensor(flip_perm, device=x.device)
        x, y = x[..., perm, :], y[..., perm, :]
    return x, y


def flip_outputs(outputs, flip_perm: Optional[torch.Tensor]):
    """Mirror a model's output: (N, K, H, W) heatmaps (:func:`flip_heatmaps`) or a
    SimCC pair ``(x_vectors, y_vectors)`` (:func:`flip_vectors`)."""
    if isinstance(outputs, (tuple, list)):
        return flip_vectors(*outputs, flip_perm)
    return flip_heatmaps(outputs, flip_perm)
