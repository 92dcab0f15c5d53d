"""Encoding landmarks as heatmaps (points -> heatmaps), batched and vectorised.

Every function follows the lmkviz convention: points are continuous ``(x, y)``
in *heatmap* pixels, pixel ``j`` spans ``[j, j + 1)`` with its centre at
``j + 0.5`` (use :func:`lmkviz.coords.image_to_heatmap` to get there from image
pixels). Shapes: ``points`` (N, K, 2) -> heatmaps (N, K, H, W). Any leading
batch shape ``(..., K, 2)`` works too. The output follows the input's device;
its dtype is the input's floating dtype (float32 for integer input).

A point that is NaN (invisible) or lies outside ``[0, W) x [0, H)`` gives an
all-zero map: never an error, never a wrapped index.

:class:`HeatmapCodec` pairs each encoding with its decoding over one set of
parameters (image size, heatmap size, sigma), in the manner of mmpose's codecs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Optional

import torch

from lmkviz import coords, decoding
from lmkviz.coords import Size, as_hw

ENCODINGS = ("gaussian", "gaussian_int", "binary")
"""Encoding names: sub-pixel Gaussian, integer-centred Gaussian (the blog's), binary
randomized rounding (H3R)."""

ENCODING_LABELS = {
    "gaussian": "Gaussian, sub-pixel centre",
    "gaussian_int": "Gaussian, integer centre (blog)",
    "binary": "Binary, randomized rounding (H3R)",
}


def _float_points(points: torch.Tensor) -> torch.Tensor:
    points = torch.as_tensor(points)
    if not points.is_floating_point():
        points = points.to(torch.get_default_dtype())
    if points.ndim < 1 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., K, 2), got {tuple(points.shape)}")
    return points


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
    a cell centre. NaN or outside points give an all-zero map.

    The map is the outer product of two 1-D Gaussians, so the cost is one
    (H x W) multiply per map: close to the time needed to fill the output.
    """
    points = _float_points(points)
    h, w = as_hw(size)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 (heatmap pixels), got {sigma}")
    valid = coords.inside(points, (h, w))
    centre = torch.where(valid[..., None], points, torch.zeros_like(points))
    if not subpixel:
        centre = torch.floor(centre) + 0.5
    dtype, device = points.dtype, points.device
    xs = torch.arange(w, dtype=dtype, device=device) + 0.5
    ys = torch.arange(h, dtype=dtype, device=device) + 0.5
    inv = -0.5 / float(sigma) ** 2
    gx = torch.exp((xs - centre[..., 0:1]).square() * inv)  # (..., K, W)
    gy = torch.exp((ys - centre[..., 1:2]).square() * inv)  # (..., K, H)
    gy = gy * valid[..., None].to(dtype)  # zero rows -> zero map for invalid points
    return gy[..., :, None] * gx[..., None, :]


def binary_heatmaps(
    points: torch.Tensor, size: Size, generator: Optional[torch.Generator] = None,
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
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Dispatch to an encoder by name (see :data:`ENCODINGS`).

    points: (N, K, 2) in heatmap pixels -> (N, K, H, W). ``sigma`` is ignored
    by ``"binary"``, ``generator`` by the Gaussians.
    """
    if encoding == "gaussian":
        return gaussian_heatmaps(points, size, sigma, subpixel=True)
    if encoding == "gaussian_int":
        return gaussian_heatmaps(points, size, sigma, subpixel=False)
    if encoding == "binary":
        return binary_heatmaps(points, size, generator=generator)
    raise ValueError(f"unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")


@dataclass(frozen=True)
class HeatmapCodec:
    """One encoding paired with its decoding, from image pixels to heatmaps and back.

    image_size: (H, W) of the network input; heatmap_size: (H, W) of its output.
    encoding: one of :data:`ENCODINGS`; sigma in heatmap pixels (Gaussians only).

    ``encode`` takes (N, K, 2) image-pixel points and returns (N, K, H, W) target
    heatmaps; ``decode`` takes (N, K, H, W) network outputs (or targets) and
    returns (N, K, 2) image-pixel points. A binary codec's network output is a
    map of logits (trained with BCE-with-logits): ``decode`` tells the decoder so.
    """

    image_size: tuple[int, int] = (256, 256)
    heatmap_size: tuple[int, int] = (64, 64)
    encoding: str = "gaussian"
    sigma: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", as_hw(self.image_size))
        object.__setattr__(self, "heatmap_size", as_hw(self.heatmap_size))
        if self.encoding not in ENCODINGS:
            raise ValueError(
                f"unknown encoding {self.encoding!r}; choose one of {', '.join(ENCODINGS)}"
            )
        if self.encoding != "binary" and not self.sigma > 0:
            raise ValueError(f"sigma must be > 0 (heatmap pixels), got {self.sigma}")

    @property
    def stride(self) -> float:
        """Image pixels per heatmap pixel along x."""
        return self.image_size[1] / self.heatmap_size[1]

    @property
    def outputs_logits(self) -> bool:
        """True when a network trained on these targets outputs logits (binary/BCE)."""
        return self.encoding == "binary"

    def encode(
        self, points: torch.Tensor, generator: Optional[torch.Generator] = None
    ) -> torch.Tensor:
        """(N, K, 2) image pixels -> (N, K, H, W) target heatmaps."""
        hm_points = coords.image_to_heatmap(_float_points(points), self.image_size, self.heatmap_size)
        return encode(hm_points, self.heatmap_size, self.encoding, self.sigma, generator)

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
        maps of a binary codec. ``options`` go to :func:`lmkviz.decoding.decode`.
        """
        if logits is None:
            logits = self.outputs_logits
        points, confidence = decoding.decode(
            heatmaps, method, logits=logits, return_confidence=True, **options
        )
        points = coords.heatmap_to_image(points, self.heatmap_size, self.image_size)
        return (points, confidence) if return_confidence else points

    def to_dict(self) -> dict:
        """Plain JSON-able dict (for configs and checkpoints)."""
        data = asdict(self)
        data["image_size"] = list(self.image_size)
        data["heatmap_size"] = list(self.heatmap_size)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "HeatmapCodec":
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        unknown = set(data) - {"image_size", "heatmap_size", "encoding", "sigma"}
        if unknown:
            raise ValueError(f"unknown codec field(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def with_(self, **changes) -> "HeatmapCodec":
        """A copy with some fields changed."""
        return replace(self, **changes)
