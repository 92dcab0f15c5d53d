"""Landmark accuracy metrics.

All functions take torch tensors or numpy arrays and return torch tensors.
Points are (N, K, 2) xy in the same pixel space for prediction and target
(image pixels, lmkviz convention). Invisible target points are NaN and are
left out of the means. A *missing prediction* (NaN where the target is visible:
the decoders return NaN for a map without a peak) is a failed point, never left
out: ``nme`` counts it as an error of one normalising distance (100 % of the
inter-ocular distance) and ``nmae`` as an error of the whole image size, so the
means stay finite and a model cannot look better by missing points.

``nme``
    Normalised mean error per image: the mean Euclidean point error divided by
    the inter-ocular distance (between the outer eye corners, 36 and 45 for
    iBUG 68, 66 and 79 for LaPa 106; see :attr:`LandmarkScheme.eye_corners`).
    A fraction: multiply by 100 for percent.
``failure_rate``
    Fraction of images whose NME is above a threshold (FR@10 for 0.10).
``auc``
    Area under the cumulative error distribution (CED) from 0 to a threshold,
    divided by the threshold (AUC@10 for 0.10), in [0, 1]. Computed exactly:
    ``mean_i max(0, 1 - e_i / t)``.
``nmae``
    The blog post's normalised mean absolute error: the mean absolute coordinate
    error divided by the image size per axis (x / W, y / H).
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch

from lmkviz.coords import Size, as_hw

ArrayLike = Union[torch.Tensor, np.ndarray]


def _tensor(x: ArrayLike) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def point_errors(pred: ArrayLike, target: ArrayLike) -> torch.Tensor:
    """(N, K, 2), (N, K, 2) -> (N, K) Euclidean distances (NaN where the target is NaN)."""
    pred, target = _tensor(pred), _tensor(target)
    if pred.shape != target.shape or pred.shape[-1] != 2:
        raise ValueError(
            f"pred and target must both be (N, K, 2); got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    return torch.linalg.vector_norm(pred.to(target.dtype) - target, dim=-1)


def interocular(target: ArrayLike, eye_corners: Sequence[int] = (36, 45)) -> torch.Tensor:
    """(N, K, 2) -> (N,) distance between the two outer eye corners of each target."""
    target = _tensor(target)
    a, b = eye_corners
    if max(a, b) >= target.shape[-2]:
        raise ValueError(
            f"eye corners {a}, {b} do not exist in {target.shape[-2]}-point landmarks; "
            "pass the eye_corners of the landmark scheme"
        )
    return torch.linalg.vector_norm(target[..., a, :] - target[..., b, :], dim=-1)


def nme(
    pred: ArrayLike,
    target: ArrayLike,
    eye_corners: Sequence[int] = (36, 45),
    norm: ArrayLike | None = None,
) -> torch.Tensor:
    """Per-image normalised mean error (a fraction).

    pred, target: (N, K, 2). eye_corners: indices of the outer eye corners in
    ``target`` (used when ``norm`` is None). norm: optional (N,) normalising
    distances, e.g. the inter-ocular distance of the full 68-point target when
    only a subset of points is predicted.

    Returns (N,): mean over visible points of |pred - target| / norm; a visible
    point without a prediction (NaN) counts as an error of ``norm``.
    """
    errors = point_errors(pred, target)
    norm = interocular(target, eye_corners) if norm is None else _tensor(norm).to(errors.dtype)
    if (norm <= 0).any():
        raise ValueError("normalising distance is zero for some image (eye corners coincide)")
    errors = torch.where(_missing(pred, target), norm[..., None].to(errors.dtype), errors)
    return errors.nanmean(dim=-1) / norm


def _missing(pred: ArrayLike, target: ArrayLike) -> torch.Tensor:
    """(N, K) bool: the target is visible but the prediction is not a finite point."""
    pred, target = _tensor(pred), _tensor(target)
    return torch.isfinite(target).all(-1) & ~torch.isfinite(pred).all(-1)


def failure_rate(nme_per_image: ArrayLike, threshold: float = 0.10) -> torch.Tensor:
    """Fraction of images with NME > threshold (FR@10 for 0.10). (N,) -> scalar."""
    e = _tensor(nme_per_image)
    return (e > threshold).to(e.dtype).mean()


def auc(nme_per_image: ArrayLike, threshold: float = 0.10) -> torch.Tensor:
    """Area under the CED curve on [0, threshold], normalised to [0, 1]. (N,) -> scalar.

    The CED is F(t) = fraction of images with error <= t; its integral over
    [0, T] divided by T equals ``mean(max(0, 1 - e / T))`` exactly.
    """
    e = _tensor(nme_per_image)
    return (1 - e / threshold).clamp_min(0).mean()


def ced(nme_per_image: ArrayLike, thresholds: ArrayLike) -> torch.Tensor:
    """Cumulative error distribution: fraction of images with NME <= t, for each t."""
    e = _tensor(nme_per_image)
    t = _tensor(thresholds).to(e.dtype)
    return (e[None, :] <= t[:, None]).to(e.dtype).mean(dim=1)


def nmae(pred: ArrayLike, target: ArrayLike, size: Size) -> torch.Tensor:
    """The blog's normalised mean absolute error: mean(|dx| / W, |dy| / H). Scalar.

    pred, target: (N, K, 2) in pixels of an image of ``size`` (H, W). A visible
    point without a prediction (NaN) counts as an error of the whole size (1).
    """
    pred, target = _tensor(pred), _tensor(target)
    h, w = as_hw(size)
    scale = target.new_tensor([w, h])
    errors = (pred.to(target.dtype) - target).abs() / scale
    errors = torch.where(_missing(pred, target)[..., None], torch.ones_like(errors), errors)
    return errors.nanmean()


def summarize(nme_per_image: ArrayLike, threshold: float = 0.10) -> dict:
    """{"nme": mean NME %, "fr10": failure rate %, "auc10": AUC %} as plain floats."""
    e = _tensor(nme_per_image)
    return {
        "nme": float(e.mean() * 100),
        "fr10": float(failure_rate(e, threshold) * 100),
        "auc10": float(auc(e, threshold) * 100),
    }
