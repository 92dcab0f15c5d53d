"""Computations behind the explorer's labs: plain numbers and arrays, no Streamlit.

Everything follows the lmkviz convention (pixel ``j`` spans ``[j, j + 1)``, centre
``j + 0.5``); heatmap coordinates times the stride give image coordinates.

* Round trips (:func:`roundtrip`, :func:`sweep_heatmap_size`, :func:`sweep_sigma`,
  :func:`sweep_simcc_ratio`): encode random sub-pixel points, optionally add noise,
  decode with every decoder, measure the error in image pixels, with its standard
  error. Every encoding of :data:`LAB_ENCODINGS`: the three heatmap encodings, UDP's
  corner-aligned Gaussians and SimCC's 1-D label vectors.
* The blog's quantisation example (:func:`quantisation_example`) and the
  randomized-rounding demo (:func:`rounding_probabilities`,
  :func:`randomized_rounding_draws`).
* Previews and statistics for the dataset browser (:func:`augment_draws`,
  :func:`split_geometry`, :func:`mean_shape`, :func:`density`).
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from lmkviz import coords
from lmkviz.decoding import DECODERS, VECTOR_DECODERS, decode, decode_vectors
from lmkviz.codecs import SimCCCodec, UDPHeatmapCodec
from lmkviz.encoding import ENCODING_LABELS, ENCODINGS, binary_heatmaps, encode

MAX_ROUNDTRIP_CELLS = 1 << 20
"""Cap on points x window cells per round trip (4 MB of float32; 256 points up to 64 x 64
windows, so that sweeps over sigma keep the same points throughout)."""

# LAB_ENCODINGS and LAB_ENCODING_LABELS: defined without torch in lmkviz.names (the figures use them).
from lmkviz.names import LAB_ENCODING_LABELS, LAB_ENCODINGS  # noqa: E402,F401

SIMCC_RATIO = 2.0
"""SimCC bins per input pixel in the lab (the splitting ratio most SimCC models use)."""


def lab_decoders(encoding: str) -> tuple[str, ...]:
    """The decoders that read ``encoding``'s targets: the five heatmap decoders, or SimCC's three."""
    return VECTOR_DECODERS if encoding == "simcc" else DECODERS


# --------------------------------------------------------------------------- grids and samples


ARGMAX_FLOOR = (math.sqrt(2) + math.asinh(1)) / 6
"""Mean distance (in cells) from a uniform random point in a cell to the cell's centre,
0.3826: what a perfect argmax achieves on average."""


@dataclass(frozen=True)
class Grid:
    """An image of ``image_wh`` = (W, H) px seen as a heatmap of ``heatmap_wh`` = (w, h)
    cells: the pure scale of the lmkviz convention (:mod:`lmkviz.coords`)."""

    image_wh: tuple[float, float]
    heatmap_wh: tuple[int, int]

    @property
    def stride(self) -> tuple[float, float]:
        """(image px per cell along x, along y)."""
        return self.image_wh[0] / self.heatmap_wh[0], self.image_wh[1] / self.heatmap_wh[1]

    @property
    def half_cell(self) -> tuple[float, float]:
        """Half a cell in image px, (x, y): the worst error of a perfect argmax per axis."""
        sx, sy = self.stride
        return sx / 2, sy / 2

    @property
    def inside_max(self) -> tuple[float, float]:
        """The largest (x, y) still inside the image, to a thousandth of a pixel: [0, W) x [0, H)."""
        return self.image_wh[0] - 1e-3, self.image_wh[1] - 1e-3

    def _convert(self, points, frm: tuple, to: tuple) -> np.ndarray:
        pts = torch.as_tensor(np.asarray(points, dtype=np.float64))
        return coords.rescale_points(pts, (frm[1], frm[0]), (to[1], to[0])).numpy()

    def to_image(self, points_hm) -> np.ndarray:
        """(..., 2) heatmap px -> (..., 2) image px."""
        return self._convert(points_hm, self.heatmap_wh, self.image_wh)

    def to_heatmap(self, points) -> np.ndarray:
        """(..., 2) image px -> (..., 2) heatmap px."""
        return self._convert(points, self.image_wh, self.heatmap_wh)


def square_grid(image_size: int, heatmap_size: int) -> Grid:
    """The :class:`Grid` of a square ``image_size`` input and ``heatmap_size`` heatmap."""
    return Grid((float(image_size), float(image_size)), (int(heatmap_size), int(heatmap_size)))


@dataclass(frozen=True)
class CornerGrid(Grid):
    """A :class:`Grid` with UDP's corner-aligned scaling, that of :class:`lmkviz.codecs.UDPHeatmapCodec`
    (which does the mapping): the centres of the first and last pixels sit on the centres of the
    first and last cells, ``x_hm = (x - 0.5) * (w - 1) / (W - 1) + 0.5``."""

    @property
    def codec(self) -> UDPHeatmapCodec:
        (iw, ih), (hw, hh) = self.image_wh, self.heatmap_wh
        return UDPHeatmapCodec(image_size=(int(ih), int(iw)), heatmap_size=(int(hh), int(hw)))

    @property
    def stride(self) -> tuple[float, float]:
        """(image px per cell along x, along y): (W - 1) / (w - 1)."""
        return ((self.image_wh[0] - 1) / (self.heatmap_wh[0] - 1), (self.image_wh[1] - 1) / (self.heatmap_wh[1] - 1))

    def to_image(self, points_hm) -> np.ndarray:
        return self.codec.heatmap_to_image(torch.as_tensor(np.asarray(points_hm, dtype=np.float64))).numpy()

    def to_heatmap(self, points) -> np.ndarray:
        return self.codec.image_to_heatmap(torch.as_tensor(np.asarray(points, dtype=np.float64))).numpy()


def map_placement(grid: Grid) -> tuple[float, float, float, float]:
    """(x of cell 0's centre, cell width, y of cell 0's centre, cell height) in image px: where
    a grid's heatmap lies over the image (:func:`lmkviz.viz.images.heatmap_overlay`)."""
    (x0, y0), (x1, y1) = grid.to_image([[0.5, 0.5], [1.5, 1.5]])
    return float(x0), float(x1 - x0), float(y0), float(y1 - y0)


def simcc_codec(image_size: int, sigma: float = 6.0, ratio: float = SIMCC_RATIO) -> SimCCCodec:
    """The :class:`lmkviz.codecs.SimCCCodec` of a square ``image_size`` input (sigma in bins)."""
    return SimCCCodec(image_size=(int(image_size), int(image_size)), ratio=float(ratio), sigma=float(sigma))


def simcc_bins(image_size: int, ratio: float = SIMCC_RATIO) -> int:
    """Number of SimCC bins along a side of ``image_size`` px (:attr:`lmkviz.codecs.SimCCCodec.lengths`)."""
    return simcc_codec(image_size, ratio=ratio).lengths[0]


def simcc_zoom_bins(zoom: int) -> int:
    """Bins shown on each side of the point in the lab's SimCC zoom for a zoom setting of ``zoom``
    (the heatmap zoom's cells): three bins per step, a bin being far finer than a cell."""
    return 3 * int(zoom)


def lab_grid(encoding: str, image_size: int, heatmap_size: int, ratio: float = SIMCC_RATIO) -> Grid:
    """The grid an encoding draws on: the heatmap (edge-aligned, or corner-aligned for "udp"),
    or SimCC's bins (``ratio`` per pixel; bin b spans [b / r, (b + 1) / r), a pure scale)."""
    if encoding == "simcc":
        return square_grid(image_size, simcc_bins(image_size, ratio))
    if encoding == "udp":
        return CornerGrid((float(image_size), float(image_size)), (int(heatmap_size), int(heatmap_size)))
    return square_grid(image_size, heatmap_size)


def interocular_distance(points, eye_corners: Optional[Sequence[int]]) -> Optional[float]:
    """Distance between the outer eye corners of (K, 2) points (px), or None without eye
    corners or when they are missing or coincide."""
    from lmkviz import metrics

    if eye_corners is None:
        return None
    d = float(metrics.interocular(np.asarray(points, dtype=np.float64)[None], eye_corners)[0])
    return d if math.isfinite(d) and d > 0 else None


def percent_of(value: float, reference: Optional[float]) -> Optional[float]:
    """``value`` in % of ``reference`` (e.g. an error in % of the inter-ocular distance), or None."""
    return 100.0 * value / reference if reference else None


@dataclass(frozen=True)
class EncodedSample:
    """One sample's landmarks encoded as the Encoding lab shows them.

    grid: the input / heatmap grid (:func:`lab_grid`; SimCC: the bins). points_hm: (K, 2)
    every point on that grid (heatmap px, or bins). maps: (k, h, w) target heatmaps of
    the selected points (None for SimCC). vectors: SimCC only, (x labels (k, W_x), y labels
    (k, H_y)). sigma_px: sigma in input px (None for binary maps). interocular: in input
    px, or None.
    """

    grid: Grid
    points_hm: np.ndarray
    maps: Optional[np.ndarray]
    sigma_px: Optional[float]
    interocular: Optional[float]
    vectors: Optional[tuple] = None


def encode_sample(points, indices: Sequence[int], image_size: int, heatmap_size: int, encoding: str,
                  sigma: float, *, eye_corners: Optional[Sequence[int]] = None, seed: int = 0) -> EncodedSample:
    """Encode the ``indices`` of (K, 2) input-px ``points`` of a square ``image_size`` input
    into ``heatmap_size`` maps (:func:`lmkviz.encoding.encode`; ``seed`` draws binary maps),
    UDP's corner-aligned Gaussians, or SimCC's label vectors (sigma in bins,
    :data:`SIMCC_RATIO` bins per pixel; ``heatmap_size`` unused)."""
    grid = lab_grid(encoding, image_size, heatmap_size)
    points_hm = grid.to_heatmap(points)
    chosen = torch.as_tensor(points_hm[list(indices)], dtype=torch.float32)
    maps = vectors = None
    if encoding == "simcc":
        picked = torch.as_tensor(np.asarray(points, dtype=np.float64)[list(indices)])[None]
        (x_labels, y_labels), _ = simcc_codec(image_size, sigma).encode(picked)
        vectors = (x_labels[0].float().numpy(), y_labels[0].float().numpy())
    elif encoding == "udp":
        picked = torch.as_tensor(np.asarray(points, dtype=np.float64)[list(indices)])[None]
        codec = UDPHeatmapCodec(image_size=(image_size, image_size), heatmap_size=(heatmap_size, heatmap_size),
                                encoding="gaussian", sigma=float(sigma))
        maps = codec.encode(picked)[0][0].float().numpy()
    else:
        maps = encode(chosen[None], heatmap_size, encoding, sigma=sigma,
                      generator=torch.Generator().manual_seed(int(seed)))[0].numpy()
    return EncodedSample(grid=grid, points_hm=points_hm, maps=maps,
                         sigma_px=None if encoding == "binary" else sigma * grid.stride[0],
                         interocular=interocular_distance(points, eye_corners), vectors=vectors)


def decoder_estimates(found_hm: dict, truth_hm, grid: Grid, interocular: Optional[float] = None) -> list[dict]:
    """Each decoder's estimate of one point: [{"decoder", "x", "y" (image px), "error_px",
    "error_iod" (% of ``interocular``, None without it)}] from ``found_hm``
    ({decoder: (x, y) heatmap px}) and the true point ``truth_hm`` (heatmap px)."""
    truth = grid.to_image(truth_hm)
    rows = []
    for m, point in found_hm.items():
        x, y = grid.to_image(point)
        error = float(np.hypot(x - truth[0], y - truth[1]))
        rows.append({"decoder": m, "x": float(x), "y": float(y), "error_px": error,
                     "error_iod": percent_of(error, interocular)})
    return rows


def visible(points, index: int) -> bool:
    """True when point ``index`` of (K, 2) ``points`` is annotated (finite)."""
    return bool(np.isfinite(np.asarray(points, dtype=np.float64)[index]).all())


def argmax_floor(image_size: float, heatmap_sizes: Sequence[int]) -> list[float]:
    """A perfect argmax's mean error in image px for each heatmap size (:data:`ARGMAX_FLOOR` cells)."""
    return [ARGMAX_FLOOR * image_size / s for s in heatmap_sizes]


# --------------------------------------------------------------------------- decoding


def add_noise(heatmaps: torch.Tensor, noise: float, seed: int = 0) -> torch.Tensor:
    """(..., H, W) maps plus Gaussian noise of standard deviation ``noise`` (a new tensor).

    The maps peak at (about) 1, so ``noise`` is relative to the peak; 0 returns the input.
    """
    if noise <= 0:
        return heatmaps
    g = torch.Generator().manual_seed(int(seed))
    return heatmaps + noise * torch.randn(heatmaps.shape, generator=g, dtype=heatmaps.dtype)


def decode_every(heatmaps: torch.Tensor, blur: float = 0.0, k: int = 9,
                 decoders: Sequence[str] = DECODERS) -> dict[str, torch.Tensor]:
    """Decode (..., H, W) non-negative score maps with each decoder: {name: (..., 2) heatmap px}.

    ``top-k`` weighs the ``k`` best cells by their scores (``logits=False``: these are
    targets or noisy targets, not logits); ``blur`` is DARK's modulation sigma.
    """
    return {m: decode(heatmaps, m, k=k, blur=blur if m == "dark" else 0.0, logits=False) for m in decoders}


def decode_noisy(heatmap, noise: float = 0.0, blur: float = 0.0, k: int = 9,
                 seed: int = 7) -> tuple[np.ndarray, dict[str, list[float]]]:
    """One (h, w) map with :func:`add_noise` and what each decoder reads from it:
    (noisy map (h, w), {decoder: [x, y] heatmap px}); small work, run on one thread."""
    with torch_threads(1):
        noisy = add_noise(torch.as_tensor(np.asarray(heatmap))[None, None], noise, seed=seed)
        found = {m: p[0, 0].tolist() for m, p in decode_every(noisy, blur=blur, k=k).items()}
    return noisy[0, 0].numpy(), found


def decode_vectors_noisy(x_vector, y_vector, noise: float = 0.0, blur: float = 0.0,
                         seed: int = 7) -> tuple[np.ndarray, np.ndarray, dict[str, list[float]]]:
    """SimCC's two (L,) label vectors of one point with :func:`add_noise`, and what each
    vector decoder reads from them: (noisy x, noisy y, {decoder: [x, y] in bins})."""
    with torch_threads(1):
        pair = add_noise(torch.as_tensor(np.stack([np.asarray(x_vector), np.asarray(y_vector)])), noise, seed=seed)
        found = {m: decode_vectors(pair, m, blur=blur if m == "dark" else 0.0).tolist() for m in VECTOR_DECODERS}
    return pair[0].numpy(), pair[1].numpy(), found


# --------------------------------------------------------------------------- round trips


def random_positions(n: int, size: int, margin: float, seed: int = 0) -> torch.Tensor:
    """(n, 2) uniform sub-pixel positions in ``[margin, size - margin)`` (heatmap px), seeded.

    Common random numbers: the same seed gives the same *sub-cell offsets* (each point's
    position inside its cell) for every ``size`` and ``margin``, drawn apart from the cell,
    so that a sweep compares like with like and an encoding whose error depends only on
    the offset (the integer-centred Gaussian) gives a flat curve, not sampling noise.
    The cells are uniform among those whose span lies in ``[margin, size - margin)``
    (with the margin capped at size / 4, or the whole map when none fits).
    """
    g = torch.Generator().manual_seed(int(seed))
    offsets = torch.rand(n, 2, generator=g, dtype=torch.float64)
    cells = torch.rand(n, 2, generator=g, dtype=torch.float64)
    margin = min(float(margin), size / 4)
    first, last = math.ceil(margin), math.floor(size - margin) - 1  # cells [first, last] lie inside
    if last < first:
        first, last = 0, size - 1
    cell = first + torch.floor(cells * (last - first + 1)).clamp(max=last - first)
    return (cell + offsets).to(torch.float32)


def default_margin(encoding: str, sigma: float) -> float:
    """Cells kept free at the border: 2, or 3 sigma for wide Gaussians (capped at size / 4 later)."""
    return 2.0 if encoding == "binary" else max(2.0, 3.0 * float(sigma))


@dataclass(frozen=True)
class RoundTrip:
    """Round-trip errors in image pixels: ``mean[decoder]``, ``max[decoder]`` and ``sem[decoder]``
    (the standard error of the mean: its uncertainty from sampling ``n`` points); ``n``
    points decoded in windows of ``window`` x ``window`` cells (SimCC: vectors of ``window`` bins)."""

    mean: dict
    max: dict
    n: int
    window: int
    sem: dict = None  # type: ignore[assignment]

    def nearly_exact(self, decoder: str, fraction: float = 0.05) -> bool:
        """True when ``decoder``'s mean error is below ``fraction`` of argmax's."""
        return self.mean[decoder] < fraction * self.mean["argmax"]


def window_size(heatmap_size: int, encoding: str, sigma: float, blur: float = 0.0) -> int:
    """Side of the window decoded around each point: the Gaussian (3 sigma), the DARK
    blur (3 blur) and 4 cells of slack on each side of the point's cell (an odd side,
    so that the window is symmetric about that cell), at most the whole map."""
    spread = (0.0 if encoding == "binary" else 3.0 * float(sigma)) + 3.0 * float(blur)
    return int(min(heatmap_size, 2 * (math.ceil(spread) + 4) + 1))


def _summarise(errors: dict, n: int, window: int) -> RoundTrip:
    """RoundTrip of {decoder: (n,) errors in image px}."""
    mean, worst, sem = {}, {}, {}
    for name, err in errors.items():
        mean[name], worst[name] = float(err.mean()), float(err.max())
        sem[name] = float(err.std(unbiased=True) / math.sqrt(len(err))) if len(err) > 1 else 0.0
    return RoundTrip(mean=mean, max=worst, n=n, window=window, sem=sem)


def roundtrip(image_size: int, heatmap_size: int, sigma: float, encoding: str, *, noise: float = 0.0,
              blur: float = 0.0, n: int = 256, margin: Optional[float] = None, k: int = 9,
              seed: int = 0, ratio: float = SIMCC_RATIO) -> RoundTrip:
    """Encode ``n`` random sub-pixel points, add noise, decode, compare.

    image_size, heatmap_size: sides of the square input and heatmap; stride =
    image_size / heatmap_size. sigma: heatmap px (ignored by "binary", whose maps
    are single random draws; bins for "simcc"). noise: standard deviation of Gaussian
    noise added to the maps (peak 1). blur: DARK's modulation sigma. margin: cells kept
    free at the border (default :func:`default_margin`; 0 lets points touch the border).
    encoding: one of :data:`LAB_ENCODINGS`. "udp" draws the same Gaussians as "gaussian"
    with UDP's corner-aligned scaling: in heatmap px the round trip is the same, and
    image px are (W - 1) / (w - 1) of them instead of W / w. "simcc" encodes each point
    as two 1-D label vectors of ``image_size * ratio`` bins (``heatmap_size`` unused) and
    decodes them with :data:`lmkviz.decoding.VECTOR_DECODERS`.

    Each point is encoded and decoded in its own window of :func:`window_size`
    cells cut from the full map (integer offset, clamped to the map, so borders
    behave as on the full map). The encoding is exact; noise outside the window,
    which could only matter when it beats the peak, is left out. ``n`` shrinks so
    that ``n * window**2 <= MAX_ROUNDTRIP_CELLS``. Points are drawn by
    :func:`random_positions` (the same sub-cell offsets for every setting).

    Returns a :class:`RoundTrip` with errors in image px.
    """
    if encoding == "simcc":
        return _roundtrip_simcc(image_size, sigma, noise=noise, blur=blur, n=n, margin=margin, seed=seed,
                                ratio=ratio)
    if encoding not in LAB_ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; choose one of {', '.join(LAB_ENCODINGS)}")
    base = "gaussian" if encoding == "udp" else encoding
    win = window_size(heatmap_size, base, sigma, blur)
    n = int(max(16, min(n, MAX_ROUNDTRIP_CELLS // (win * win))))
    margin = default_margin(base, sigma) if margin is None else margin
    points = random_positions(n, heatmap_size, margin, seed)  # (n, 2)
    origin = (torch.floor(points) - win // 2).clamp(0, heatmap_size - win)
    local = (points - origin)[None]  # (1, n, 2)
    g = torch.Generator().manual_seed(int(seed) + 1)
    maps = encode(local, win, base, sigma=float(sigma), generator=g)
    maps = add_noise(maps, noise, seed + 2)
    stride = lab_grid(encoding, image_size, heatmap_size).stride[0]
    errors = {name: (found - local).norm(dim=-1)[0] * stride
              for name, found in decode_every(maps, blur=blur, k=k).items()}
    return _summarise(errors, n, win)


def _roundtrip_simcc(image_size: int, sigma: float, *, noise: float, blur: float, n: int,
                     margin: Optional[float], seed: int, ratio: float) -> RoundTrip:
    """:func:`roundtrip` for SimCC: (x, y) of each point as two label vectors of L bins."""
    codec = simcc_codec(image_size, sigma, ratio)
    length = codec.lengths[0]
    margin = max(2.0, 3.0 * float(sigma)) if margin is None else margin
    bins = random_positions(n, length, margin, seed).to(torch.float64)  # (n, 2) in bins
    points = bins * (image_size / length)  # image px
    (x_labels, y_labels), _ = codec.encode(points[None])
    noisy = add_noise(torch.cat([x_labels[0], y_labels[0]]), noise, seed + 2)  # the x vectors, then the y vectors
    outputs = (noisy[:n][None], noisy[n:][None])
    errors = {}
    for name in VECTOR_DECODERS:
        found = codec.decode(outputs, name, logits=False, **({"blur": blur} if name == "dark" else {}))[0]
        errors[name] = (found - points).norm(dim=-1)
    return _summarise(errors, n, length)


@contextmanager
def torch_threads(count: int = 1) -> Iterator[None]:
    """Run small tensor work on ``count`` threads (thread start-up dominates tiny ops,
    badly so on a busy machine), restoring the previous setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _sweep(xs, runs) -> dict:
    """{"x": xs, decoder: [mean...], "sem": {decoder: [standard error...]}} from RoundTrips."""
    out: dict = {"x": list(xs), "sem": {}}
    for result in runs:
        for name, value in result.mean.items():
            out.setdefault(name, []).append(value)
            out["sem"].setdefault(name, []).append(result.sem[name])
    return out


def sweep_heatmap_size(image_size: int, sizes: Sequence[int], sigma: float, encoding: str,
                       **options) -> dict:
    """Mean round-trip error (image px) against heatmap size: {"x": sizes, decoder: [...],
    "sem": {decoder: [...]}} (the standard error of each mean).

    sigma stays fixed in heatmap px; ``options`` go to :func:`roundtrip`.
    """
    sizes = [int(s) for s in sizes]
    return _sweep(sizes, (roundtrip(image_size, s, sigma, encoding, **options) for s in sizes))


def sweep_sigma(image_size: int, heatmap_size: int, sigmas: Sequence[float], encoding: str,
                **options) -> dict:
    """Mean round-trip error (image px) against sigma: {"x": sigmas, decoder: [...], "sem": {...}}."""
    sigmas = [float(s) for s in sigmas]
    return _sweep(sigmas, (roundtrip(image_size, heatmap_size, s, encoding, **options) for s in sigmas))


def sweep_simcc_ratio(image_size: int, ratios: Sequence[float], sigma: float, **options) -> dict:
    """SimCC's mean round-trip error (image px) against its ratio (bins per pixel), sigma fixed
    in bins: {"x": ratios, decoder: [...], "sem": {...}}; ``options`` go to :func:`roundtrip`."""
    ratios = [float(r) for r in ratios]
    return _sweep(ratios, (roundtrip(image_size, 0, sigma, "simcc", ratio=r, **options) for r in ratios))


# --------------------------------------------------------------------------- the blog's example


@dataclass(frozen=True)
class Quantised:
    """One way of turning a point into a heatmap cell and back (image px)."""

    label: str
    rule: str
    decoded: tuple[float, float]
    error: tuple[float, float]

    @property
    def distance(self) -> float:
        return math.hypot(*self.error)


def quantisation_example(image_wh: tuple[float, float], heatmap_wh: tuple[int, int],
                         point: tuple[float, float]) -> tuple[tuple[float, float], list[Quantised]]:
    """Where a *perfect* argmax sends ``point`` back to, under three conventions.

    image_wh: (W, H) of the image; heatmap_wh: (w, h) of the heatmap; point: (x, y)
    image px. Returns the point in heatmap px and three :class:`Quantised` rows:

    * the blog's arithmetic: ``round(x * w / W) * W / w``;
    * the blog's code: the encoder truncates (``int()``) and the decoder maps cell
      index ``j`` to ``j * W / w``, the cell's left edge;
    * lmkviz: cell ``j`` spans ``[j, j + 1)`` and decodes to its centre ``j + 0.5``.
    """
    (img_w, img_h), (hm_w, hm_h) = image_wh, heatmap_wh
    sx, sy = img_w / hm_w, img_h / hm_h
    x, y = point
    hx, hy = x / sx, y / sy

    def row(label: str, rule: str, cx: float, cy: float) -> Quantised:
        dx, dy = cx * sx, cy * sy
        return Quantised(label, rule, (dx, dy), (dx - x, dy - y))

    rows = [
        row("blog's arithmetic", "round(x·w/W)·W/w", round(hx), round(hy)),
        row("blog's code", "int() to encode, index·W/w to decode", math.floor(hx), math.floor(hy)),
        row("lmkviz", "cell j covers [j, j+1), argmax → j + 0.5", math.floor(hx) + 0.5, math.floor(hy) + 0.5),
    ]
    return (hx, hy), rows


def rounding_probabilities(point_hm: tuple[float, float], heatmap_wh: tuple[int, int]) -> list[tuple[int, int, float]]:
    """The four cells randomized rounding can pick for ``point_hm`` (heatmap px): [(col, row, p)].

    Per axis, with ``u = p - 0.5`` and ``f = u - floor(u)``, cell ``floor(u) + 1`` has
    probability ``f`` (bilinear weights, as in :func:`lmkviz.encoding.binary_heatmaps`);
    cells outside the map are clamped to the border and merged.
    """
    w, h = heatmap_wh
    cells: dict[tuple[int, int], float] = {}
    ux, uy = point_hm[0] - 0.5, point_hm[1] - 0.5
    bx, by = math.floor(ux), math.floor(uy)
    fx, fy = ux - bx, uy - by
    for cx, px in ((bx, 1 - fx), (bx + 1, fx)):
        for cy, py in ((by, 1 - fy), (by + 1, fy)):
            key = (min(max(cx, 0), w - 1), min(max(cy, 0), h - 1))
            cells[key] = cells.get(key, 0.0) + px * py
    return [(c, r, p) for (c, r), p in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


def rounding_spread(point_hm: tuple[float, float], stride: tuple[float, float] = (1.0, 1.0)) -> float:
    """Root-mean-square distance of one randomized-rounding draw from the point, in
    ``stride`` units: per axis the draw is a two-valued variable with variance ``f (1 - f)``."""
    fx = (point_hm[0] - 0.5) % 1.0
    fy = (point_hm[1] - 0.5) % 1.0
    return math.sqrt(stride[0] ** 2 * fx * (1 - fx) + stride[1] ** 2 * fy * (1 - fy))


def randomized_rounding_draws(point_hm: tuple[float, float], heatmap_wh: tuple[int, int], draws: int,
                              seed: int = 0) -> np.ndarray:
    """Argmax of ``draws`` random binary heatmaps of one point: (draws, 2) heatmap px (cell centres).

    Uses :func:`lmkviz.encoding.binary_heatmaps` on a small window around the point
    (the draw depends only on the 2 x 2 neighbourhood), so any heatmap size is cheap.
    """
    w, h = heatmap_wh
    win_w, win_h = min(6, w), min(6, h)
    ox = min(max(math.floor(point_hm[0]) - 2, 0), w - win_w)
    oy = min(max(math.floor(point_hm[1]) - 2, 0), h - win_h)
    local = torch.tensor([[point_hm[0] - ox, point_hm[1] - oy]], dtype=torch.float64)
    g = torch.Generator().manual_seed(int(seed))
    maps = binary_heatmaps(local.expand(int(draws), 1, 2), (win_h, win_w), generator=g)
    found = decode(maps, "argmax")[:, 0]  # (draws, 2)
    return (found + found.new_tensor([ox, oy])).numpy()


def running_mean(values: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, d) mean of the first 1, 2, ..., n rows."""
    values = np.asarray(values, dtype=np.float64)
    return np.cumsum(values, axis=0) / np.arange(1, len(values) + 1)[:, None]


def cell_counts(found: np.ndarray) -> dict:
    """{(col, row): count} of decoded (n, 2) heatmap positions, by the cell holding them."""
    cells, counts = np.unique(np.floor(np.asarray(found)).astype(int), axis=0, return_counts=True)
    return {(int(c), int(r)): int(n) for (c, r), n in zip(cells, counts)}


@dataclass(frozen=True)
class RoundingDraws:
    """What many randomized-rounding draws of one point add up to.

    counts: {(col, row): draws}. mean_hm: (n, 2) running mean of the first 1..n draws
    (heatmap px). error_px: (n,) its distance from the point in image px. mean_px:
    (x, y) of the mean of all draws in image px; off_px: its distance from the point.
    spread_px: the RMS distance of one draw from the point, image px.
    """

    counts: dict
    mean_hm: np.ndarray
    error_px: np.ndarray
    mean_px: tuple[float, float]
    off_px: float
    spread_px: float


def rounding_summary(found: np.ndarray, point_hm: tuple[float, float], grid: Grid) -> RoundingDraws:
    """:class:`RoundingDraws` of (n, 2) draws (heatmap px, e.g. :func:`randomized_rounding_draws`)."""
    mean_hm = running_mean(found)
    mean_img = grid.to_image(mean_hm)
    point = grid.to_image(point_hm)
    error = np.hypot(*(mean_img - point).T)
    return RoundingDraws(counts=cell_counts(found), mean_hm=mean_hm, error_px=error,
                         mean_px=(float(mean_img[-1, 0]), float(mean_img[-1, 1])), off_px=float(error[-1]),
                         spread_px=rounding_spread(point_hm, grid.stride))


# --------------------------------------------------------------------------- the home page


def pipeline_example(split: str = "val", index: int = 3, image_size: int = 256, heatmap_size: int = 32,
                     sigma: float = 1.5, landmark: int = 36) -> dict:
    """One synthetic face and the target heatmap of one landmark (what a perfect network
    outputs), decoded by every decoder: {"image" (S, S, 3), "heatmap" (h, w), "truth" (x, y),
    "estimates" {decoder: (x, y)}, "errors" {decoder: px}, "landmark" (its name), "stride"};
    points in image px."""
    from lmkviz.codecs import HeatmapCodec
    from lmkviz.data import IBUG68
    from lmkviz.data.synthetic import SyntheticSplit

    sample = SyntheticSplit(split, size=image_size)[index]
    codec = HeatmapCodec(image_size=image_size, heatmap_size=heatmap_size, sigma=sigma)
    truth = torch.as_tensor(sample.points[landmark:landmark + 1], dtype=torch.float32)[None]  # (1, 1, 2)
    maps, _ = codec.encode(truth)
    estimates = {m: codec.decode(maps, m)[0, 0].tolist() for m in DECODERS}
    tx, ty = sample.points[landmark].tolist()
    return {"image": sample.image, "heatmap": maps[0, 0].numpy(), "truth": [tx, ty], "estimates": estimates,
            "errors": {m: math.hypot(x - tx, y - ty) for m, (x, y) in estimates.items()},
            "landmark": IBUG68.names[landmark], "stride": codec.stride}


# --------------------------------------------------------------------------- dataset browser


@dataclass(frozen=True)
class AugmentDraw:
    """One draw of the training augmentation: image (S, S, 3) uint8, points (K, 2), flipped."""

    image: np.ndarray
    points: np.ndarray
    flipped: bool


def augment_draws(image: np.ndarray, points: np.ndarray, flip_perm: Optional[Sequence[int]], config,
                  n: int = 4, seed: int = 0) -> list[AugmentDraw]:
    """``n`` draws of the training transform (:func:`lmkviz.data.augment.build_transform`).

    image: (H, W, 3) uint8; points: (K, 2) image px; config: an ``AugmentConfig``.
    Whether a draw was mirrored is read from two probe points added to the same
    draw (left and right of the centre; a flip swaps their order), so the result is
    exactly what training sees. Torch's global RNG is left untouched.
    """
    from lmkviz.data.augment import build_transform

    pts = np.asarray(points, dtype=np.float32)
    k = len(pts)
    h, w = image.shape[:2]
    probes = np.array([[w * 0.45, h * 0.5], [w * 0.55, h * 0.5]], dtype=np.float32)
    perm = None if flip_perm is None else list(flip_perm) + [k, k + 1]
    transform = build_transform(config, perm, train=True)
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for _ in range(int(n)):
            img, found = transform(image, np.concatenate([pts, probes]))
            found = found.numpy()
            flipped = bool(found[k, 0] > found[k + 1, 0])
            rgb = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
            out.append(AugmentDraw(image=np.ascontiguousarray(rgb), points=found[:k], flipped=flipped))
    return out


def network_input(image: np.ndarray, points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (H, W, 3) uint8 image and its (K, 2) points through the evaluation transform (the
    resize to the S x S network input, :func:`lmkviz.evaluation.evaluation_dataset`):
    (image (S, S, 3) uint8, points (K, 2) in its pixels, NaN outside)."""
    from lmkviz.data.augment import AugmentConfig, build_transform

    tensor, pts = build_transform(AugmentConfig(input_size=int(size)), train=False)(image, points)
    rgb = (tensor.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(rgb), pts.numpy()


def split_geometry(split, max_samples: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Landmarks and image sizes of a split reader, without decoding images when possible.

    Folder splits (with ``all_points`` and ``image_sizes``) are read whole (headers
    only); other readers (synthetic faces, rendered on demand) are subsampled to
    ``max_samples`` evenly spread samples. Returns (points (n, K, 2) image px,
    sizes (n, 2) rows (H, W), total number of samples in the split).
    """
    total = len(split)
    if hasattr(split, "all_points") and hasattr(split, "image_sizes"):
        points, sizes = split.all_points(), split.image_sizes()
        if len(points) > max_samples:
            keep = np.sort(np.random.default_rng(seed).choice(len(points), max_samples, replace=False))
            points, sizes = points[keep], sizes[keep]
        return points.astype(np.float32), sizes.astype(np.int64), total
    index = np.unique(np.linspace(0, total - 1, num=min(total, max_samples)).round().astype(int)) if total else []
    pts, sizes = [], []
    for i in index:
        sample = split[int(i)]
        pts.append(sample.points)
        sizes.append(sample.image.shape[:2])
    if not pts:
        return np.zeros((0, 0, 2), np.float32), np.zeros((0, 2), np.int64), total
    return np.stack(pts).astype(np.float32), np.array(sizes, dtype=np.int64), total


def normalised(points: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(N, K, 2) image px and (N, 2) sizes (H, W) -> (N, K, 2) in [0, 1] (x / W, y / H)."""
    scale = np.asarray(sizes, dtype=np.float64)[:, None, ::-1]
    return (np.asarray(points, dtype=np.float64) / scale).astype(np.float32)


def mean_shape(points01: np.ndarray) -> np.ndarray:
    """(N, K, 2) normalised points -> (K, 2) mean, ignoring NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN landmarks stay NaN
        return np.nanmean(points01, axis=0)


def density(points01: np.ndarray, indices: Optional[Sequence[int]] = None, bins: int = 64) -> np.ndarray:
    """(bins, bins) counts of where the chosen landmarks fall (rows = y, columns = x), on [0, 1]^2."""
    pts = np.asarray(points01)
    if indices is not None:
        pts = pts[:, list(indices)]
    flat = pts.reshape(-1, 2)
    flat = flat[np.isfinite(flat).all(axis=1)]
    counts, _, _ = np.histogram2d(flat[:, 1], flat[:, 0], bins=bins, range=[[0, 1], [0, 1]])
    return counts
