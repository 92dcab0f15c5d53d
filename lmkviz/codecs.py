"""Codecs: an encoding paired with its decoding over one set of parameters (mmpose style).

Every codec maps (N, K, 2) image-pixel points to training targets and network
outputs back to (N, K, 2) image-pixel points, in the lmkviz convention (pixel j
spans [j, j+1), centre j + 0.5). They share one interface:

``encode(points, visibility=None, *, generator=None) -> (targets, keypoint_weights)``
    points: (N, K, 2) float image px (NaN = missing); visibility: optional
    (N, K) bool (or numbers, >= 0.5 visible). ``keypoint_weights`` (N, K) is 1
    for a point that has a target and 0 otherwise (invisible, NaN, or too far
    outside; see :func:`lmkviz.encoding.keypoint_weights`), for the loss to mask.
``decode(outputs, method, *, logits=None, return_confidence=False, **options)``
    -> (N, K, 2) image px (and (N, K) confidence). Options the caller leaves out
    come from :meth:`decode_options` (e.g. DARK's modulation = the training
    sigma). Empty outputs decode to NaN with confidence 0.
``decoders``
    the decoder names that apply to the codec's outputs (for the Compare page).
``to_dict()`` / :func:`codec_from_dict`
    plain JSON-able dicts for configs and checkpoints, with a ``"type"`` key.

Codecs (:data:`CODECS`):

:class:`HeatmapCodec` (``"heatmap"``)
    Gaussian or binary heatmaps at a stride, lmkviz's edge-aligned scaling
    (``x_hm = x_img * W_hm / W_img``).
:class:`UDPHeatmapCodec` (``"udp_heatmap"``)
    The same heatmaps with UDP's corner-aligned scaling (Huang et al. 2020).
:class:`SimCCCodec` (``"simcc"``)
    SimCC (Li et al. 2022): per point, a 1-D x vector and a 1-D y vector of
    Gaussian labels at ``ratio`` bins per image pixel; loss :func:`simcc_loss`.
:class:`RegressionCodec` (``"regression"``)
    No heatmaps: the direct-regression baseline's targets are the points
    themselves (as fractions of the image side), its one decoder ``"direct"``
    reads them back; loss :func:`lmkviz.losses.regression_loss`.

Integral regression (soft-argmax, Sun et al. 2018; DSNT) needs no codec of its
own: it is the ``"softargmax"`` decoder of the heatmap codecs (differentiable,
:func:`lmkviz.decoding.soft_argmax`) trained against the points themselves.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import ClassVar, Optional

import torch
import torch.nn.functional as F

from lmkviz import coords, decoding, encoding
from lmkviz.coords import as_hw


def _float_points(points) -> torch.Tensor:
    return encoding._float_points(points)


def _hidden_as_nan(points: torch.Tensor, visibility) -> torch.Tensor:
    """Points with invisible ones replaced by NaN (a new tensor)."""
    if visibility is None:
        return points
    visible = encoding._visible(visibility, points)
    return torch.where(visible[..., None], points, torch.full((), float("nan"), dtype=points.dtype,
                                                              device=points.device))


def _with_defaults(codec, method: str, options: dict) -> dict:
    return {**codec.decode_options(method), **options}


@dataclass(frozen=True)
class HeatmapCodec:
    """Heatmap encoding paired with its decoding, from image pixels to heatmaps and back.

    image_size: (H, W) of the network input; heatmap_size: (H, W) of its output.
    encoding: one of :data:`lmkviz.encoding.ENCODINGS`; sigma in heatmap pixels
    (Gaussians only). Default decoding options (:meth:`decode_options`; None
    follows the encoding, and checkpoints written before these fields existed
    load with None):

    * blur: DARK's modulation sigma in heatmap pixels. None: ``sigma`` for the
      Gaussians (the modulation then matches the blob the network was trained
      to paint), 0 for binary maps.
    * temperature: soft-argmax's temperature. None: 0.5 for the Gaussians (the
      weights are the squared scores, which keeps an MSE network's background
      from pulling the estimate to the map centre; exact on clean targets all
      the same), 1 for binary maps (a plain softmax of the logits).

    On the fast CPU model (checkpoints/fast-cpu.pt; face68/val, 128 px, sigma 1.5) DARK's NME goes from
    4.16 % without modulation to 4.10 % with blur = sigma, and soft-argmax's
    from 5.30 % at temperature 1 to 4.09 % at 0.5.

    ``encode`` takes (N, K, 2) image-pixel points and returns (N, K, H, W) target
    heatmaps and (N, K) keypoint weights; ``decode`` takes (N, K, H, W) network
    outputs (or targets) and returns (N, K, 2) image-pixel points. A binary
    codec's network output is a map of logits (trained with BCE-with-logits):
    ``decode`` tells the decoder so.

    Image to heatmap is lmkviz's edge-aligned pure scale: the image's extent
    [0, W_img) maps onto [0, W_hm), so heatmap cell j covers image pixels
    [j s, (j + 1) s) with s = W_img / W_hm, as a stride-s network sees them.
    """

    codec_type: ClassVar[str] = "heatmap"

    image_size: tuple[int, int] = (256, 256)
    heatmap_size: tuple[int, int] = (64, 64)
    encoding: str = "gaussian"
    sigma: float = 2.0
    blur: Optional[float] = None
    temperature: Optional[float] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", as_hw(self.image_size))
        object.__setattr__(self, "heatmap_size", as_hw(self.heatmap_size))
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 or None, got {self.temperature}")
        if self.encoding not in encoding.ENCODINGS:
            raise ValueError(
                f"unknown encoding {self.encoding!r}; choose one of {', '.join(encoding.ENCODINGS)}"
            )
        if self.encoding != "binary" and not self.sigma > 0:
            raise ValueError(f"sigma must be > 0 (heatmap pixels), got {self.sigma}")
        if self.blur is not None and not self.blur >= 0:
            raise ValueError(f"blur must be >= 0 (heatmap pixels) or None, got {self.blur}")

    # ------------------------------------------------------------------ geometry

    @property
    def stride(self) -> float:
        """Image pixels per heatmap pixel along x."""
        return self.image_size[1] / self.heatmap_size[1]

    def image_to_heatmap(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 2) image px -> (..., 2) heatmap px (a pure scale)."""
        return coords.image_to_heatmap(_float_points(points), self.image_size, self.heatmap_size)

    def heatmap_to_image(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 2) heatmap px -> (..., 2) image px (a pure scale)."""
        return coords.heatmap_to_image(points, self.heatmap_size, self.image_size)

    # ------------------------------------------------------------------ encode / decode

    @property
    def outputs_logits(self) -> bool:
        """True when a network trained on these targets outputs logits (binary/BCE)."""
        return self.encoding == "binary"

    @property
    def decoders(self) -> tuple[str, ...]:
        """Decoders that apply to this codec's outputs: every heatmap decoder."""
        return decoding.DECODERS

    @property
    def primary_decoder(self) -> str:
        """The decoder a run is judged by (best.pt, the Train page): "topk" for binary maps
        (logits, the H3R setup), "dark" for Gaussian maps."""
        return "topk" if self.encoding == "binary" else "dark"

    def describe(self) -> str:
        """One line for logs and user interfaces, e.g. ``"32x32 heatmaps, gaussian, sigma 1.5"``."""
        h, w = self.heatmap_size
        kind = "UDP " if self.codec_type == "udp_heatmap" else ""
        spread = "" if self.encoding == "binary" else f", sigma {self.sigma:g}"
        return f"{h}x{w} {kind}heatmaps, {self.encoding}{spread}"

    def display_maps(self, outputs: torch.Tensor) -> torch.Tensor:
        """(N, K, h, w) network outputs -> (N, K, h, w) maps to draw: probabilities
        (``sigmoid``) for a binary codec's logits, the maps themselves otherwise."""
        return torch.sigmoid(outputs) if self.outputs_logits else outputs

    def decode_options(self, method: str) -> dict:
        """Default options of ``decode(outputs, method)`` for this codec."""
        binary = self.encoding == "binary"
        if method == "dark":
            return {"blur": float(self.blur if self.blur is not None else (0.0 if binary else self.sigma))}
        if method == "softargmax":
            return {"temperature": float(self.temperature if self.temperature is not None
                                         else (1.0 if binary else 0.5))}
        return {}

    def encode(self, points: torch.Tensor, visibility: Optional[torch.Tensor] = None, *,
               generator: Optional[torch.Generator] = None):
        """(N, K, 2) image px -> ((N, K, H, W) target heatmaps, (N, K) keypoint weights).

        visibility: optional (N, K) bool (or numbers, >= 0.5 visible); invisible
        and NaN points get an all-zero map and weight 0. A point just outside the
        image gets the part of its Gaussian inside the map and weight 1 when its
        3 sigma box holds a cell centre (binary: weight 1 only inside the map).
        generator (keyword only): draws of the binary encoding.
        """
        hm = _hidden_as_nan(self.image_to_heatmap(points), visibility)
        h, w = self.heatmap_size
        if self.encoding == "binary":
            maps = encoding.binary_heatmaps(hm, (h, w), generator=generator)
        else:
            maps = encoding.gaussian_heatmaps(hm, (h, w), self.sigma, subpixel=self.encoding == "gaussian")
        weights = encoding.keypoint_weights(hm, (h, w), self.encoding, self.sigma)
        return maps, weights

    def decode(
        self,
        heatmaps: torch.Tensor,
        method: str = "argmax",
        logits: Optional[bool] = None,
        return_confidence: bool = False,
        **options,
    ):
        """(N, K, H, W) heatmaps -> (N, K, 2) image pixels (and (N, K) confidence).

        ``logits`` defaults to :attr:`outputs_logits`; pass False to decode target
        maps of a binary codec. ``options`` go to :func:`lmkviz.decoding.decode`,
        on top of :meth:`decode_options` (pass ``blur=0.0`` for DARK unmodulated).
        """
        if logits is None:
            logits = self.outputs_logits
        points, confidence = decoding.decode(
            heatmaps, method, logits=logits, return_confidence=True, **_with_defaults(self, method, options)
        )
        points = self.heatmap_to_image(points)
        return (points, confidence) if return_confidence else points

    def soft_argmax(self, heatmaps: torch.Tensor, temperature: Optional[float] = None) -> torch.Tensor:
        """Differentiable (N, K, 2) image-pixel points from (N, K, H, W) outputs (integral
        regression, for a coordinate loss): :func:`lmkviz.decoding.soft_argmax` of the maps
        (a softmax for a binary codec's logits) mapped to image pixels. temperature: None
        for :meth:`decode_options`'s. Float32 (float64 stays float64)."""
        if temperature is None:
            temperature = self.decode_options("softargmax")["temperature"]
        maps = heatmaps.to(decoding._work_dtype(heatmaps.dtype))
        return self.heatmap_to_image(decoding.soft_argmax(maps, temperature, logits=self.outputs_logits))

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """Plain JSON-able dict (for configs and checkpoints), with its ``"type"``."""
        data = asdict(self)
        data["image_size"] = list(self.image_size)
        data["heatmap_size"] = list(self.heatmap_size)
        return {"type": self.codec_type, **data}

    @classmethod
    def from_dict(cls, data: dict) -> "HeatmapCodec":
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them.

        Dicts without ``"type"`` (checkpoints from before the codecs had one) are
        heatmap codecs; ``HeatmapCodec.from_dict`` also reads ``"udp_heatmap"``
        (a subclass). Other types: use :func:`codec_from_dict`.
        """
        data = dict(data)
        kind = data.pop("type", cls.codec_type)
        target = {c.codec_type: c for c in (HeatmapCodec, UDPHeatmapCodec)}.get(kind)
        if target is None or not issubclass(target, cls):
            raise ValueError(f"codec type {kind!r} is not a {cls.__name__}; "
                             "load it with lmkviz.codecs.codec_from_dict")
        return _build(target, data)

    def with_(self, **changes) -> "HeatmapCodec":
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class UDPHeatmapCodec(HeatmapCodec):
    """Heatmaps with UDP's corner-aligned scaling (Huang et al., CVPR 2020).

    Same fields, encodings and decoders as :class:`HeatmapCodec`; only the map
    between image and heatmap pixels differs.

    UDP works with pixel *indices* (pixel i's centre at i) and aligns the centres
    of the first and last pixels of the image with those of the first and last
    heatmap cells: ``u_index = x_index * (W_hm - 1) / (W_img - 1)``. In lmkviz's
    continuous coordinates (index = coordinate - 0.5) that reads

        x_hm = (x_img - 0.5) * (W_hm - 1) / (W_img - 1) + 0.5

    (and the inverse ``x_img = (x_hm - 0.5) * (W_img - 1) / (W_hm - 1) + 0.5``),
    against lmkviz's edge-aligned ``x_hm = x_img * W_hm / W_img``. The two
    agree at the image centre and differ by an offset that grows towards the
    borders: for 256 px images and 64-cell maps, the image centre x = 128 is
    heatmap x = 32 under both; x = 64 is 16.19 under UDP and 16.0 edge-aligned;
    image pixel 0's centre (x = 0.5) is 0.5 under UDP (the centre of cell 0)
    and 0.125 edge-aligned. UDP's factor (W_img - 1) / (W_hm - 1) = 4.05 is not the
    network's stride (4), so a UDP heatmap cell is not the block of pixels a
    stride-4 network pools. Both maps are exact inverses of themselves, so both
    codecs round-trip; what UDP fixes in mmpose (flip and resize mixing index
    and continuous coordinates) cannot happen in lmkviz, where a flip is
    ``x -> W - x`` in image and heatmap space alike. This codec exists to compare
    with, and to decode, networks trained the UDP way. DARK with modulation
    (``blur`` defaults to sigma) plays the part of mmpose's DARK-UDP refinement.
    """

    codec_type: ClassVar[str] = "udp_heatmap"

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.image_size) < 2 or min(self.heatmap_size) < 2:
            raise ValueError("UDP's corner-aligned scaling needs image and heatmap sizes of at least 2, got "
                             f"{self.image_size} and {self.heatmap_size}")

    def _factors(self, points: torch.Tensor) -> torch.Tensor:
        (ih, iw), (hh, hw) = self.image_size, self.heatmap_size
        return points.new_tensor([(hw - 1) / (iw - 1), (hh - 1) / (ih - 1)])

    @property
    def stride(self) -> float:
        """Image pixels per heatmap pixel along x: (W_img - 1) / (W_hm - 1)."""
        return (self.image_size[1] - 1) / (self.heatmap_size[1] - 1)

    def image_to_heatmap(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 2) image px -> (..., 2) heatmap px, corner-aligned (see the class docstring)."""
        points = _float_points(points)
        return (points - 0.5) * self._factors(points) + 0.5

    def heatmap_to_image(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 2) heatmap px -> (..., 2) image px, corner-aligned."""
        return (points - 0.5) / self._factors(points) + 0.5


@dataclass(frozen=True)
class SimCCCodec:
    """SimCC (Li et al., ECCV 2022): each point as two 1-D classification targets.

    image_size: (H, W) of the network input. ratio: bins per image pixel (the
    splitting ratio; 2.0 gives 2 W x-bins and 2 H y-bins). sigma: width of the
    Gaussian label smoothing, in bins. blur: DARK's default modulation in bins
    (None: sigma). temperature: soft-argmax's default temperature on the logits
    (None: 1).

    Bins follow the lmkviz convention: x-bin b spans image x in [b / r, (b + 1) / r)
    with r = W_x / W (exactly ``ratio`` when ``W * ratio`` is whole), its centre at
    (b + 0.5) / r. The label of a point at x is ``exp(-(b + 0.5 - x r)^2 / 2 sigma^2)``
    at every bin b: centred on the exact sub-bin position (mmpose rounds it to a
    bin), peak 1, not normalised (:func:`simcc_loss` normalises it).

    ``encode`` returns ``((x_labels (N, K, W_x), y_labels (N, K, H_y)), weights (N, K))``;
    ``decode`` takes ``(x_vectors, y_vectors)`` of those shapes (a SimCC head's
    logits, or labels with ``logits=False``) and returns (N, K, 2) image px:
    argmax of each vector plus a sub-bin step (:data:`lmkviz.decoding.VECTOR_DECODERS`).
    To draw an output: :meth:`probabilities` (the two 1-D distributions) and
    :meth:`pseudo_heatmaps` (their outer product as (N, K, h, w) maps). A model
    with a SimCC head (:class:`lmkviz.models.SimCCHead`) outputs the pair of logits.
    A flip test mirrors x-vectors by reversing their bins (bin b <-> W_x - 1 - b,
    i.e. x -> W - x), see :func:`lmkviz.decoding.flip_outputs`.
    """

    codec_type: ClassVar[str] = "simcc"

    image_size: tuple[int, int] = (256, 256)
    ratio: float = 2.0
    sigma: float = 6.0
    blur: Optional[float] = None
    temperature: Optional[float] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", as_hw(self.image_size))
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 or None, got {self.temperature}")
        if not self.ratio > 0:
            raise ValueError(f"ratio must be > 0 (bins per image pixel), got {self.ratio}")
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0 (bins), got {self.sigma}")
        if self.blur is not None and not self.blur >= 0:
            raise ValueError(f"blur must be >= 0 (bins) or None, got {self.blur}")
        if min(self.lengths) < 1:
            raise ValueError(f"ratio {self.ratio} leaves no bins for images of {self.image_size}")

    @property
    def lengths(self) -> tuple[int, int]:
        """(W_x, H_y): number of x bins and y bins."""
        h, w = self.image_size
        return int(round(w * self.ratio)), int(round(h * self.ratio))

    def _scale(self, points: torch.Tensor) -> torch.Tensor:
        (h, w), (wx, hy) = self.image_size, self.lengths
        return points.new_tensor([wx / w, hy / h])

    @property
    def outputs_logits(self) -> bool:
        """A SimCC head outputs logits (trained with a softmax over the bins)."""
        return True

    @property
    def decoders(self) -> tuple[str, ...]:
        """Decoders that apply to the two 1-D vectors."""
        return decoding.VECTOR_DECODERS

    @property
    def primary_decoder(self) -> str:
        """The decoder a SimCC run is judged by: "dark" (the argmax of each vector refined
        by a 1-D Newton step on its log-softmax, i.e. on the logits)."""
        return "dark"

    def describe(self) -> str:
        """One line for logs and user interfaces, e.g. ``"SimCC 256 x-bins, 256 y-bins (ratio 2), sigma 4"``."""
        wx, hy = self.lengths
        return f"SimCC {wx} x-bins, {hy} y-bins (ratio {self.ratio:g}), sigma {self.sigma:g}"

    def decode_options(self, method: str) -> dict:
        """Default options of ``decode(outputs, method)``: DARK's blur is sigma unless set;
        soft-argmax's temperature is ``temperature`` (None: 1, a plain softmax of the logits)."""
        if method == "dark":
            return {"blur": float(self.sigma if self.blur is None else self.blur)}
        if method == "softargmax":
            return {"temperature": float(1.0 if self.temperature is None else self.temperature)}
        return {}

    def _pair(self, outputs):
        try:
            x_vectors, y_vectors = outputs
        except (TypeError, ValueError):
            raise ValueError("SimCC outputs must be a pair (x_vectors, y_vectors)") from None
        wx, hy = self.lengths
        if x_vectors.shape[-1] != wx or y_vectors.shape[-1] != hy or x_vectors.shape[:-1] != y_vectors.shape[:-1]:
            raise ValueError(f"SimCC outputs must be (N, K, {wx}) and (N, K, {hy}) for images of "
                             f"{self.image_size} at ratio {self.ratio}; got {tuple(x_vectors.shape)} and "
                             f"{tuple(y_vectors.shape)}")
        return x_vectors, y_vectors

    def probabilities(self, outputs, logits: Optional[bool] = None):
        """``(x (N, K, W_x), y (N, K, H_y))`` -> the two per-axis distributions, same shapes.

        Logits (a SimCC head's output, the default) go through a softmax over the bins;
        labels (``logits=False``) are normalised to sum to 1 (all-zero labels stay zero).
        Non-finite logits count as -inf. Float32 (float64 stays float64).
        """
        x, y = self._pair(outputs)
        logits = self.outputs_logits if logits is None else logits

        def one(v):
            v = v.to(decoding._work_dtype(v.dtype))
            if logits:
                v = torch.where(torch.isfinite(v), v, torch.full((), -math.inf, dtype=v.dtype, device=v.device))
                return torch.nan_to_num(torch.softmax(v, dim=-1), nan=0.0)
            v = v.clamp_min(0)
            total = v.sum(-1, keepdim=True)
            return v / torch.where(total > 0, total, torch.ones_like(total))

        return one(x), one(y)

    def pseudo_heatmaps(self, outputs, size=None, logits: Optional[bool] = None,
                        normalize: bool = True) -> torch.Tensor:
        """A SimCC output as something drawable: (N, K, h, w) maps, the outer product
        ``p_y[i] * p_x[j]`` of the two per-axis distributions (:meth:`probabilities`).

        SimCC treats x and y as independent, so this is the joint distribution the
        head implies. size: (h, w) of the maps (an int for a square); None: the image
        size, one cell per input pixel. Each cell holds the probability of its block
        of bins (bins summed into cells by area, so any size works and a cell of a map
        of the image size covers exactly that pixel). normalize: scale each map so its
        peak is 1 (for colour scales); otherwise the cells sum to 1.
        """
        px, py = self.probabilities(outputs, logits)
        h, w = as_hw(self.image_size if size is None else size)

        def resample(p, n):  # (N, K, L) -> (N, K, n): probability mass per cell, by area
            length = p.shape[-1]
            if n == length:
                return p
            edges = torch.arange(n + 1, dtype=p.dtype, device=p.device) * (length / n)
            cdf = torch.nn.functional.pad(p.cumsum(-1), (1, 0))
            lo, frac_lo = edges.floor().long().clamp(0, length), edges - edges.floor()
            at = cdf[..., lo] + frac_lo * (cdf[..., (lo + 1).clamp_max(length)] - cdf[..., lo])
            return at[..., 1:] - at[..., :-1]

        maps = resample(py, h)[..., :, None] * resample(px, w)[..., None, :]
        if normalize:
            peak = maps.amax(dim=(-2, -1), keepdim=True)
            maps = maps / torch.where(peak > 0, peak, torch.ones_like(peak))
        return maps

    def display_maps(self, outputs) -> torch.Tensor:
        """(N, K, H, W) maps to draw over the input image: :meth:`pseudo_heatmaps` at
        the image size, each map's peak scaled to 1."""
        return self.pseudo_heatmaps(outputs)

    def encode(self, points: torch.Tensor, visibility: Optional[torch.Tensor] = None, *,
               generator: Optional[torch.Generator] = None):
        """(N, K, 2) image px -> ((x_labels (N, K, W_x), y_labels (N, K, H_y)), weights (N, K)).

        A point counts (weight 1) when it is visible, finite, and along each axis
        the 3 sigma interval around it holds a bin centre; otherwise its two
        vectors are all zero and its weight 0. ``generator`` is accepted for a
        common interface and unused (the labels are deterministic).
        """
        points = _hidden_as_nan(_float_points(points), visibility)
        wx, hy = self.lengths
        bins = points * self._scale(points)
        reach = 3.0 * float(self.sigma)
        x, y = bins[..., 0], bins[..., 1]
        valid = (torch.isfinite(x) & torch.isfinite(y) & (x + reach >= 0.5) & (x - reach <= wx - 0.5)
                 & (y + reach >= 0.5) & (y - reach <= hy - 0.5))
        nan = torch.full((), float("nan"), dtype=bins.dtype, device=bins.device)
        x_labels = encoding.gaussian_vectors(torch.where(valid, x, nan), wx, self.sigma)
        y_labels = encoding.gaussian_vectors(torch.where(valid, y, nan), hy, self.sigma)
        return (x_labels, y_labels), valid.to(bins.dtype)

    def decode(self, outputs, method: str = "dark", logits: Optional[bool] = None,
               return_confidence: bool = False, **options):
        """``(x_vectors (N, K, W_x), y_vectors (N, K, H_y))`` -> (N, K, 2) image px.

        ``logits`` defaults to True (a SimCC head's output); pass False for
        labels. ``options`` (``blur``, ``temperature``) go to
        :func:`lmkviz.decoding.decode_vectors` on top of :meth:`decode_options`.
        Confidence: the smaller of the two vectors' peaks (of their softmax for
        logits). A point is NaN when either vector is empty.
        """
        x_vectors, y_vectors = self._pair(outputs)
        if logits is None:
            logits = self.outputs_logits
        options = _with_defaults(self, method, options)
        x, cx = decoding.decode_vectors(x_vectors, method, logits=logits, return_confidence=True, **options)
        y, cy = decoding.decode_vectors(y_vectors, method, logits=logits, return_confidence=True, **options)
        points = torch.stack([x, y], -1)
        points = torch.where(torch.isnan(points).any(-1, keepdim=True), torch.full_like(points, float("nan")),
                             points) / self._scale(points)
        return (points, torch.minimum(cx, cy)) if return_confidence else points

    def soft_argmax(self, outputs, temperature: Optional[float] = None) -> torch.Tensor:
        """Differentiable (N, K, 2) image-pixel points from SimCC logits (integral
        regression over the bins, for a coordinate loss): the expectation of the bin
        centres under ``softmax(logits / temperature)`` per axis, mapped to image pixels.
        temperature: None for :meth:`decode_options`'s. Float32 (float64 stays float64)."""
        x_vectors, y_vectors = self._pair(outputs)
        if temperature is None:
            temperature = self.decode_options("softargmax")["temperature"]

        def axis(v):
            v = v.to(decoding._work_dtype(v.dtype)).unsqueeze(-2)  # (N, K, 1, L): a one-row map
            return decoding.soft_argmax(v, temperature, logits=True)[..., 0]

        bins = torch.stack([axis(x_vectors), axis(y_vectors)], -1)
        return bins / self._scale(bins)

    def to_dict(self) -> dict:
        """Plain JSON-able dict with its ``"type"``."""
        data = asdict(self)
        data["image_size"] = list(self.image_size)
        return {"type": self.codec_type, **data}

    @classmethod
    def from_dict(cls, data: dict) -> "SimCCCodec":
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        return _from_own_dict(cls, data)

    def with_(self, **changes) -> "SimCCCodec":
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class RegressionCodec:
    """Direct (x, y) regression (:class:`lmkviz.models.ResNet18Regression`): no heatmaps at all.

    image_size: (H, W) of the network input. A regression network outputs (N, K, 2)
    points as fractions of the input's width and height (``x / W, y / H``: 0 and 1
    are the image edges, in the lmkviz convention); the targets are the true points
    in the same units, so the loss does not depend on the input size.

    ``encode`` returns ``((N, K, 2) fractions, (N, K) weights)`` (weight 0 for an
    invisible or NaN point, whose target stays NaN and is masked out of
    :func:`lmkviz.losses.regression_loss`); ``decode`` takes the network's (N, K, 2)
    output and returns image px: a scale, nothing to decode. Its one decoder is
    ``"direct"``; the confidence is 1 (a regression head has no notion of it).
    """

    codec_type: ClassVar[str] = "regression"

    image_size: tuple[int, int] = (128, 128)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", as_hw(self.image_size))

    encoding: ClassVar[str] = "regression"
    """What the run trains against (the training encoding's name)."""

    @property
    def outputs_logits(self) -> bool:
        return False

    @property
    def decoders(self) -> tuple[str, ...]:
        """The one decoder of a regression output: :data:`REGRESSION_DECODERS`."""
        return REGRESSION_DECODERS

    @property
    def primary_decoder(self) -> str:
        return "direct"

    def describe(self) -> str:
        """One line for logs and user interfaces."""
        h, w = self.image_size
        return f"direct (x, y) regression on {h}x{w} inputs, no heatmaps"

    def decode_options(self, method: str) -> dict:
        return {}

    def _scale(self, points: torch.Tensor) -> torch.Tensor:
        h, w = self.image_size
        return points.new_tensor([w, h])

    def encode(self, points: torch.Tensor, visibility: Optional[torch.Tensor] = None, *,
               generator: Optional[torch.Generator] = None):
        """(N, K, 2) image px -> ((N, K, 2) fractions of (W, H), (N, K) keypoint weights).

        Weight 1 for a visible point with finite coordinates (even outside the image:
        a coordinate can be regressed anywhere), 0 otherwise. ``generator`` is
        accepted for a common interface and unused.
        """
        points = _hidden_as_nan(_float_points(points), visibility)
        weights = torch.isfinite(points).all(-1).to(points.dtype)
        return points / self._scale(points), weights

    def decode(self, outputs: torch.Tensor, method: str = "direct", logits: Optional[bool] = None,
               return_confidence: bool = False, **options):
        """(N, K, 2) network output (fractions of W and H) -> (N, K, 2) image px (and (N, K) ones)."""
        if method not in REGRESSION_DECODERS:
            raise ValueError(f"decoder {method!r} does not apply to a regression model (no heatmaps); "
                             f"it decodes with {', '.join(REGRESSION_DECODERS)}")
        outputs = torch.as_tensor(outputs)
        if outputs.ndim < 1 or outputs.shape[-1] != 2:
            raise ValueError(f"a regression output must be (N, K, 2) points, got {tuple(outputs.shape)}")
        points = outputs * self._scale(outputs)
        if not return_confidence:
            return points
        return points, torch.ones(points.shape[:-1], dtype=points.dtype, device=points.device)

    def soft_argmax(self, outputs: torch.Tensor, temperature: Optional[float] = None) -> torch.Tensor:
        """Differentiable (N, K, 2) image px: the decoded output itself (for a coordinate loss)."""
        return self.decode(outputs)

    def to_dict(self) -> dict:
        """Plain JSON-able dict with its ``"type"``."""
        return {"type": self.codec_type, "image_size": list(self.image_size)}

    @classmethod
    def from_dict(cls, data: dict) -> "RegressionCodec":
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        return _from_own_dict(cls, data)

    def with_(self, **changes) -> "RegressionCodec":
        """A copy with some fields changed."""
        return replace(self, **changes)


REGRESSION_DECODERS = ("direct",)
"""The decoder of a regression output: the points themselves, scaled to image pixels."""


def _from_own_dict(cls, data: dict):
    """``cls.from_dict`` of a codec class with one ``"type"``: other types are refused."""
    data = dict(data)
    kind = data.pop("type", cls.codec_type)
    if kind != cls.codec_type:
        raise ValueError(f"codec type {kind!r} is not a {cls.__name__}; load it with lmkviz.codecs.codec_from_dict")
    return _build(cls, data)


def _build(cls, data: dict):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown codec field(s) for {cls.codec_type}: {', '.join(sorted(unknown))}")
    return cls(**data)


CODECS = {c.codec_type: c for c in (HeatmapCodec, UDPHeatmapCodec, SimCCCodec, RegressionCodec)}
"""Codec classes by their ``"type"``."""


def codec_from_dict(data: dict):
    """Any codec from its :meth:`to_dict` (a dict without ``"type"`` is a heatmap codec)."""
    kind = data.get("type", HeatmapCodec.codec_type)
    if kind not in CODECS:
        raise ValueError(f"unknown codec type {kind!r}; choose one of {', '.join(CODECS)}")
    return CODECS[kind].from_dict(data)


def simcc_loss(pred_x: torch.Tensor, pred_y: torch.Tensor, target_x: torch.Tensor, target_y: torch.Tensor,
               weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """SimCC's loss: KL divergence from each label distribution to the softmax of the logits.

    pred_x (N, K, W_x), pred_y (N, K, H_y): logits of a SimCC head. target_x,
    target_y: labels of the same shapes (:meth:`SimCCCodec.encode`), normalised
    here to sum to 1 over the bins. weights: (N, K) keypoint weights (None: all 1).

    Returns a scalar: the weighted mean over points of ``KL_x + KL_y`` (each a
    sum over bins), 0 when no point has weight. KL differs from the soft
    cross-entropy ``-sum(q log p)`` only by the labels' entropy, a constant, and
    is 0 for a perfect prediction.
    """
    if pred_x.shape != target_x.shape or pred_y.shape != target_y.shape:
        raise ValueError(f"SimCC predictions {tuple(pred_x.shape)}, {tuple(pred_y.shape)} do not match the "
                         f"targets {tuple(target_x.shape)}, {tuple(target_y.shape)}")
    if weights is None:
        weights = torch.ones(pred_x.shape[:-1], dtype=pred_x.dtype, device=pred_x.device)
    elif tuple(weights.shape) != tuple(pred_x.shape[:-1]):
        raise ValueError(f"weights must be {tuple(pred_x.shape[:-1])}, got {tuple(weights.shape)}")

    def kl(pred, target):
        log_p = F.log_softmax(pred, dim=-1)
        total = target.sum(-1, keepdim=True)
        q = target / torch.where(total > 0, total, torch.ones_like(total))
        return (torch.xlogy(q, q) - q * log_p).sum(-1)

    weights = weights.to(pred_x.dtype)
    per_point = kl(pred_x, target_x) + kl(pred_y, target_y)
    total = weights.sum()
    return (weights * per_point).sum() / torch.where(total > 0, total, torch.ones_like(total))
