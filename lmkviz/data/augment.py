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

Two framings (``AugmentConfig.framing``):

* ``"image"``: the whole image is resized to S x S (aspect not kept), then the random
  affine above. Right for datasets whose images already are face crops, and what
  evaluation does.
* ``"face"``: a square crop around the landmarks' bounding box, ``margin`` times its
  longer side (the framing of ``../shared/datasets/face68`` and of the crops the app
  cuts around a detected face), black outside the photo. Crop, rotation, zoom, shift
  and mirror are composed into ONE affine map and applied with a single
  ``cv2.warpAffine`` from the original image (one resampling, a few hundred
  microseconds at 256 px). Zoom and shift move the crop box the way a face
  detector's box differs from the landmark box, so a model trained this way is
  ready for detector crops at inference. Colour jitter, grey, blur and occlusion
  (a random rectangle, "cutout") are cheap array operations on the 8-bit crop.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

__all__ = ["AugmentConfig", "FRAMINGS", "FaceCropTransform", "HorizontalFlipLandmarks", "LandmarkTransform",
           "build_transform", "flip_points"]

from lmkviz.names import FRAMINGS  # noqa: E402  (how a sample is framed: the whole image, or a crop around the face)
from lmkviz.data.augment_config import AugmentConfig  # noqa: E402  (defined without torchvision)


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


class FaceCropTransform:
    """Training transform with ``framing="face"``: one affine warp from photo to crop.

    Callable ``(image (H, W, 3) uint8 RGB, points (K, 2) xy pixels) -> (image (3, S, S)
    float32 in [0, 1], points (K, 2) float32 xy pixels of the crop)``, continuous
    convention, NaN for points outside the crop (or NaN on input).

    The crop box is the square of side ``margin * max(box width, box height)`` centred
    on the bounding box of the finite points. With ``strength`` k > 0 it is then
    rotated by up to ``k * rotation`` degrees, zoomed by a factor drawn from the
    ``scale`` range (zoom > 1 makes the face larger), shifted by up to
    ``k * translate`` of the side, and mirrored with probability 1/2 (points
    reordered by ``flip_perm``). In continuous coordinates a photo point ``p`` lands
    at ``S/2 + z * (S / side) * R(theta) (p - centre) + t * S`` (then ``x -> S - x``
    when mirrored), which is exactly the map the image warp uses.
    Randomness comes from torch's global generator, like :class:`LandmarkTransform`.
    """

    def __init__(self, config: AugmentConfig, flip_perm: Optional[Sequence[int]] = None, strength: float = 1.0):
        self.config = config
        self.size = config.input_size
        self.flip_perm = None if flip_perm is None else np.asarray(list(flip_perm), dtype=np.int64)
        self.strength = float(strength)

    def _uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand(()))

    def matrix(self, points: np.ndarray) -> tuple[np.ndarray, bool]:
        """A random (2, 3) affine map photo -> crop (continuous coordinates) and the mirror flag."""
        cfg, k, s = self.config, self.strength, float(self.size)
        finite = points[np.isfinite(points).all(axis=1)]
        if len(finite) == 0:
            raise ValueError("no finite landmark to frame the face crop around")
        lo, hi = finite.min(axis=0), finite.max(axis=0)
        centre = (lo + hi) / 2.0
        side = cfg.margin * max(float((hi - lo).max()), 1.0)
        theta, zoom, shift, mirror = 0.0, 1.0, np.zeros(2), False
        if k > 0:
            theta = math.radians(self._uniform(-1.0, 1.0) * k * cfg.rotation)
            zlo, zhi = 1.0 + k * (cfg.scale[0] - 1.0), 1.0 + k * (cfg.scale[1] - 1.0)
            zoom = math.exp(self._uniform(math.log(zlo), math.log(zhi)))
            shift = np.array([self._uniform(-1.0, 1.0), self._uniform(-1.0, 1.0)]) * k * cfg.translate
            mirror = cfg.flip and self.flip_perm is not None and float(torch.rand(())) < 0.5
        c, sn = math.cos(theta), math.sin(theta)
        linear = (zoom * s / side) * np.array([[c, -sn], [sn, c]])
        offset = np.array([s / 2, s / 2]) + shift * s - linear @ centre
        m = np.concatenate([linear, offset[:, None]], axis=1)
        if mirror:
            m = np.array([[-1.0, 0.0, s], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
        return m, mirror

    def __call__(self, image: np.ndarray, points: Any) -> tuple[torch.Tensor, torch.Tensor]:
        import cv2

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"points must have shape (K, 2), got {pts.shape}")
        m, mirror = self.matrix(pts)
        s = self.size
        # shrinking a lot: pre-shrink with area averaging (anti-aliasing), keep 2x oversampling
        factor = math.sqrt(abs(np.linalg.det(m[:, :2])))
        src = image
        pre = 1.0
        if factor < 0.5:
            pre = 2.0 * factor
            h, w = image.shape[:2]
            src = cv2.resize(image, (max(1, round(w * pre)), max(1, round(h * pre))), interpolation=cv2.INTER_AREA)
            pre_x, pre_y = src.shape[1] / w, src.shape[0] / h
            m_src = m @ np.array([[1 / pre_x, 0, 0], [0, 1 / pre_y, 0], [0, 0, 1]])
        else:
            m_src = m
        # OpenCV indexes pixel centres at integers: index = continuous - 0.5
        to_cv = m_src.copy()
        to_cv[:, 2] = m_src[:, :2] @ np.array([0.5, 0.5]) + m_src[:, 2] - 0.5
        crop = cv2.warpAffine(np.ascontiguousarray(src), to_cv, (s, s), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        out = pts @ m[:, :2].T + m[:, 2]
        if mirror:
            out = out[self.flip_perm]
        crop = self._photometric(crop)
        inside = np.isfinite(out).all(axis=1) & (out >= 0).all(axis=1) & (out < s).all(axis=1)
        out = np.where(inside[:, None], out, np.nan)
        tensor = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).to(torch.float32).div_(255.0)
        return tensor, torch.from_numpy(out.astype(np.float32))

    def _photometric(self, crop: np.ndarray) -> np.ndarray:
        """Colour jitter, blur and occlusion on an (S, S, 3) uint8 crop (new array)."""
        import cv2

        cfg, k = self.config, self.strength
        if k <= 0:
            return crop
        img = crop.astype(np.float32)
        c = k * cfg.color
        if c > 0:
            grey = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            saturation = self._uniform(max(0.0, 1 - c), 1 + c)
            img = grey[..., None] + saturation * (img - grey[..., None])
            contrast = self._uniform(max(0.0, 1 - c), 1 + c)
            img = float(grey.mean()) + contrast * (img - float(grey.mean()))
            img = img * self._uniform(max(0.0, 1 - c), 1 + c)
        if cfg.blur > 0 and float(torch.rand(())) < k * cfg.blur:
            img = cv2.GaussianBlur(img, (0, 0), self._uniform(0.5, 1.5))
        if cfg.occlusion > 0 and float(torch.rand(())) < k * cfg.occlusion:
            s = self.size
            w, h = (int(round(self._uniform(0.1, 0.4) * s)) for _ in range(2))
            x0, y0 = int(self._uniform(0, s - w)), int(self._uniform(0, s - h))
            img[y0:y0 + h, x0:x0 + w] = self._uniform(0, 255)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)

    def __repr__(self) -> str:
        return f"FaceCropTransform(size={self.size}, strength={self.strength}, config={self.config})"


def build_transform(
    config: AugmentConfig = AugmentConfig(),
    flip_perm: Optional[Sequence[int]] = None,
    train: bool = True,
) -> "LandmarkTransform | FaceCropTransform":
    """Training (``train=True``) or evaluation transform for ``config``.

    Evaluation: resize to S x S only. Training adds, with magnitudes scaled by
    ``config.strength``: a random affine (rotation, zoom, shift), a horizontal flip
    with probability 0.5 that also swaps left/right points via ``flip_perm`` (only
    when ``config.flip`` and ``flip_perm`` is not None), and colour jitter.
    With ``config.framing == "face"`` training samples are face crops instead
    (:class:`FaceCropTransform`; a crop without random changes when strength is 0).
    """
    if train and config.framing == "face":
        return FaceCropTransform(config, flip_perm, strength=config.strength)
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
