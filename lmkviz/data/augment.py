"""Training and evaluation transforms (torchvision ``transforms.v2`` + ``tv_tensors.KeyPoints``).

Every transform maps ``(image (H, W, 3) uint8 RGB, points (K, 2) xy pixels)`` to
``(image (3, S, S) float32 in [0, 1], points (K, 2) float32 xy pixels of the output)``
in the continuous convention of :mod:`lmkviz` (pixel ``j`` spans ``[j, j + 1)``).

Conventions, checked by tests that track the centroid of a bright blob:

* ``v2.Resize`` scales keypoints by ``S / W`` and ``v2.RandomAffine`` rotates them
  about ``(W / 2, H / 2)``; both match the image warp in the continuous convention,
  so they are used as they are.
* ``v2.RandomHorizontalFlip`` maps keypoints with ``x -> W - 1 - x`` (an index
  convention), one pixel off from the image. :class:`HorizontalFlipLandmarks`
  replaces it: ``x -> W - x`` plus the scheme's left/right permutation.
* Points that end up outside the output image (or were NaN) are returned as NaN,
  the project's "invisible" marker.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

__all__ = ["AugmentConfig", "HorizontalFlipLandmarks", "LandmarkTransform", "build_transform", "flip_points"]


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings.

    input_size: side S of the square network input (images are resized to S x S,
        without keeping the aspect ratio).
    strength: in [0, 1], scales every random augmentation below; 0 turns them all off.
    rotation: maximum rotation in degrees (at strength 1).
    scale: (min, max) zoom factor (at strength 1; interpolated towards 1 by strength).
    translate: maximum shift as a fraction of S (at strength 1).
    flip: random horizontal flips with probability 0.5 (only when the scheme has a flip_perm).
    color: brightness/contrast/saturation jitter amount (hue jitter is color / 6).
    """

    input_size: int = 256
    strength: float = 1.0
    rotation: float = 30.0
    scale: tuple[float, float] = (0.75, 1.25)
    translate: float = 0.1
    flip: bool = True
    color: float = 0.3

    def __post_init__(self) -> None:
        if int(self.input_size) != self.input_size or self.input_size < 8:
            raise ValueError(f"input_size must be an integer >= 8, got {self.input_size!r}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {self.strength!r}")
        if not 0.0 <= self.rotation <= 180.0:
            raise ValueError(f"rotation must be in [0, 180] degrees, got {self.rotation!r}")
        if len(self.scale) != 2 or not 0.0 < self.scale[0] <= 1.0 <= self.scale[1]:
            raise ValueError(f"scale must be (min, max) with 0 < min <= 1 <= max, got {self.scale!r}")
        if not 0.0 <= self.translate <= 0.5:
            raise ValueError(f"translate must be in [0, 0.5] (fraction of the input size), got {self.translate!r}")
        if not 0.0 <= self.color <= 1.0:
            raise ValueError(f"color must be in [0, 1], got {self.color!r}")
        object.__setattr__(self, "input_size", int(self.input_size))
        object.__setattr__(self, "scale", (float(self.scale[0]), float(self.scale[1])))

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return asdict(self)


def flip_points(points: torch.Tensor, width: float, flip_perm: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Points of a horizontally mirrored image.

    points: (..., K, 2) xy pixels in an image of width ``width``. Returns a new tensor
    with ``x -> width - x`` and, when ``flip_perm`` is given, the K points reordered as
    ``new[..., i, :] = mirrored[..., flip_perm[i], :]`` (left/right partners swapped).
    """
    out = points.clone()
    out[..., 0] = width - points[..., 0]
    if flip_perm is not None:
        perm = torch.as_tensor(list(flip_perm), dtype=torch.long, device=points.device)
        if perm.numel() != points.shape[-2]:
            raise ValueError(f"flip_perm has {perm.numel()} entries but the points have K = {points.shape[-2]}")
        out = out.index_select(-2, perm)
    return out


class HorizontalFlipLandmarks(v2.Transform):
    """Random horizontal flip for images and keypoints in the continuous convention.

    Images are mirrored with ``F.horizontal_flip``; ``tv_tensors.KeyPoints`` of shape
    (..., K, 2) become ``x -> W - x`` (not torchvision's ``W - 1 - x``) and are
    reordered with ``flip_perm`` (see :func:`flip_points`).
    """

    def __init__(self, flip_perm: Optional[Sequence[int]], p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"flip probability must be in [0, 1], got {p}")
        self.flip_perm = None if flip_perm is None else tuple(int(i) for i in flip_perm)
        self.p = p

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"flip": bool(torch.rand(1).item() < self.p)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not params["flip"]:
            return inpt
        if isinstance(inpt, tv_tensors.KeyPoints):
            width = inpt.canvas_size[1]
            out = flip_points(inpt.as_subclass(torch.Tensor), width, self.flip_perm)
            return tv_tensors.wrap(out, like=inpt)
        return F.horizontal_flip(inpt)


class LandmarkTransform:
    """Callable ``(image, points) -> (image, points)`` built by :func:`build_transform`.

    In: image (H, W, 3) uint8 RGB, points (K, 2) xy pixels (numpy or tensor).
    Out: image (3, S, S) float32 in [0, 1], points (K, 2) float32 xy pixels of the output.

    ``pipeline`` is the underlying ``v2.Compose``.
    Randomness comes from torch's global generator (``torch.manual_seed`` makes it
    reproducible). Output points outside ``[0, S) x [0, S)`` are NaN.
    """

    def __init__(self, pipeline: v2.Compose, size: int):
        self.pipeline = pipeline
        self.size = size

    def __call__(self, image: np.ndarray, points: Any) -> tuple[torch.Tensor, torch.Tensor]:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        pts = torch.as_tensor(np.asarray(points, dtype=np.float32)).clone()
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"points must have shape (K, 2), got {tuple(pts.shape)}")
        h, w = image.shape[:2]
        if not (image.flags.writeable and image.flags.c_contiguous):
            image = np.array(image, order="C")
        img = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))
        kps = tv_tensors.KeyPoints(pts, canvas_size=(h, w))
        out_img, out_kps = self.pipeline(img, kps)
        out_pts = out_kps.as_subclass(torch.Tensor).to(torch.float32)
        s = self.size
        inside = (out_pts >= 0).all(dim=-1) & (out_pts < s).all(dim=-1)  # NaN compares False
        out_pts = torch.where(inside[:, None], out_pts, torch.full_like(out_pts, float("nan")))
        return out_img.as_subclass(torch.Tensor), out_pts

    def __repr__(self) -> str:
        return f"LandmarkTransform(size={self.size}, pipeline={self.pipeline})"


def build_transform(
    config: AugmentConfig = AugmentConfig(),
    flip_perm: Optional[Sequence[int]] = None,
    train: bool = True,
) -> LandmarkTransform:
    """Training (``train=True``) or evaluation transform for ``config``.

    Evaluation: resize to S x S only. Training adds, with magnitudes scaled by
    ``config.strength``: a random affine (rotation, zoom, shift), a horizontal flip
    with probability 0.5 that also swaps left/right points via ``flip_perm`` (only
    when ``config.flip`` and ``flip_perm`` is not None), and colour jitter.
    """
    s = config.input_size
    steps: list[v2.Transform] = [v2.Resize((s, s), interpolation=v2.InterpolationMode.BILINEAR, antialias=True)]
    k = config.strength if train else 0.0
    if k > 0:
        degrees = k * config.rotation
        lo, hi = config.scale
        scale = (1.0 + k * (lo - 1.0), 1.0 + k * (hi - 1.0))
        shift = k * config.translate
        if degrees > 0 or shift > 0 or scale != (1.0, 1.0):
            steps.append(
                v2.RandomAffine(
                    degrees=degrees,
                    translate=(shift, shift) if shift > 0 else None,
                    scale=scale,
                    interpolation=v2.InterpolationMode.BILINEAR,
                    fill=0,
                )
            )
        if config.flip and flip_perm is not None:
            steps.append(HorizontalFlipLandmarks(flip_perm, p=0.5))
        c = k * config.color
        if c > 0:
            steps.append(v2.ColorJitter(brightness=c, contrast=c, saturation=c, hue=min(0.5, c / 6)))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    return LandmarkTransform(v2.Compose(steps), s)
