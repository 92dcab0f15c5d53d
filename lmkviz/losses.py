"""Training losses: heatmap losses, SimCC's, the coordinate loss and the loss of a run
(targets encoded by its codec).

Gaussian encodings ("gaussian", "gaussian_int", and UDP's) are regressed with the
mean squared error or the Adaptive Wing loss; binary maps (randomized rounding, one
positive cell per map) with BCE-with-logits where the positive cell weighs
``pos_weight``; SimCC's 1-D label vectors with the KL divergence
(:func:`lmkviz.codecs.simcc_loss`). Optionally a coordinate loss (integral
regression, Sun et al. 2018) is added: the L1 distance in input pixels between the
soft-argmax of the output and the true points (:func:`coordinate_loss`).

The direct-regression baseline (:class:`lmkviz.codecs.RegressionCodec`, encoding
"regression") has no heatmaps: its (N, K, 2) output is compared with the true points
by :func:`regression_loss` (L1 or MSE of the coordinates).

Every loss takes optional (N, K) keypoint weights (the codecs' ``encode`` returns
them): a landmark with weight 0 (outside the crop, unlabelled) is left out instead of
being trained towards "nothing here".

    loss_fn = make_loss(codec, "awing", coord_loss=0.01)
    loss = loss_fn(model(images), points)          # points (N, K, 2) in input pixels
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

__all__ = ["HEATMAP_LOSSES", "REGRESSION_LOSSES", "LossFunction", "adaptive_wing_loss", "coordinate_loss",
           "heatmap_loss", "make_loss", "regression_loss", "resolve_loss"]

HEATMAP_LOSSES = ("mse", "awing", "bce")
REGRESSION_LOSSES = ("l1", "mse")
"""Losses of the "regression" encoding (coordinates, not heatmaps); "auto" is "l1"."""


def resolve_loss(loss: str, encoding: str) -> str:
    """"auto" -> the encoding's own loss (bce for binary maps, kl for "simcc", mse for
    Gaussians, l1 for "regression"); checks the pair."""
    if encoding == "regression":
        if loss == "auto":
            return "l1"
        if loss not in REGRESSION_LOSSES:
            raise ValueError(f"loss {loss} does not fit the regression encoding (coordinates use "
                             f"{' or '.join(REGRESSION_LOSSES)})")
        return loss
    if encoding == "simcc":
        if loss not in ("auto", "kl"):
            raise ValueError(f"loss {loss} does not fit SimCC (its loss is kl, or auto)")
        return "kl"
    if loss == "l1":
        raise ValueError(f"loss l1 is for the regression encoding (coordinates); the {encoding} encoding's "
                         "heatmaps use " + ("bce" if encoding == "binary" else "mse or awing"))
    if loss == "auto":
        return "bce" if encoding == "binary" else "mse"
    if loss not in HEATMAP_LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of auto, {', '.join(HEATMAP_LOSSES)}, kl (SimCC)")
    if (loss == "bce") != (encoding == "binary"):
        raise ValueError(f"loss {loss} does not fit the {encoding} encoding "
                         "(binary maps use bce; Gaussian maps use mse or awing)")
    return loss


def _weighted_mean(per_cell: torch.Tensor, weights: Optional[torch.Tensor]) -> torch.Tensor:
    """(N, K, H, W) per-cell losses -> scalar: the (weighted) mean over channels of each channel's mean."""
    if weights is None:
        return per_cell.mean()
    weights = torch.as_tensor(weights, dtype=per_cell.dtype, device=per_cell.device)
    if weights.shape != per_cell.shape[:2]:
        raise ValueError(f"weights must be (N, K) = {tuple(per_cell.shape[:2])}, got {tuple(weights.shape)}")
    per_channel = per_cell.mean(dim=(-2, -1))
    return (per_channel * weights).sum() / weights.sum().clamp_min(1e-12)


def adaptive_wing_loss(pred: torch.Tensor, target: torch.Tensor, weights: Optional[torch.Tensor] = None, *,
                       alpha: float = 2.1, omega: float = 14.0, epsilon: float = 1.0, theta: float = 0.5,
                       foreground_weight: float = 10.0, foreground: float = 0.2) -> torch.Tensor:
    """Adaptive Wing loss (Wang, Bo and Fuxin, ICCV 2019) between (N, K, H, W) heatmaps.

    Per cell, with ``d = |target - pred|`` and the exponent ``a = alpha - target``:
    ``omega * ln(1 + (d / epsilon) ** a)`` for ``d < theta``, else the straight line
    ``A * d - C`` that continues it with the same value and slope. Near the peak
    (target close to 1) the exponent approaches ``alpha - 1`` and small errors still
    get a large gradient, unlike MSE; on the background it behaves like MSE. Cells in
    the 3 x 3 dilation of ``target >= foreground`` weigh ``1 + foreground_weight`` (the
    paper's weighted loss map). weights: optional (N, K) keypoint weights.
    """
    pred = pred.float()
    target = target.float()
    delta = (target - pred).abs()
    power = alpha - target
    ratio = theta / epsilon
    a = omega * (1.0 / (1.0 + ratio ** power)) * power * ratio ** (power - 1.0) / epsilon
    c = theta * a - omega * torch.log1p(ratio ** power)
    small = omega * torch.log1p((delta / epsilon).clamp_min(0) ** power)
    per_cell = torch.where(delta < theta, small, a * delta - c)
    if foreground_weight:
        mask = (target >= foreground).to(per_cell.dtype)
        shape = mask.shape
        mask = F.max_pool2d(mask.reshape(-1, 1, *shape[-2:]), 3, stride=1, padding=1).reshape(shape)
        per_cell = per_cell * (1.0 + foreground_weight * mask)
    return _weighted_mean(per_cell, weights)


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, encoding: str, pos_weight: float = 100.0,
                 weights: Optional[torch.Tensor] = None, loss: str = "auto") -> torch.Tensor:
    """Scalar loss between predicted and target heatmaps, both (N, K, H, W).

    loss: "mse", "awing" (:func:`adaptive_wing_loss`), "bce" (BCE-with-logits, ``pred``
        are logits, each target 1 weighs ``pos_weight``) or "auto" (bce for
        ``encoding == "binary"``, else mse).
    weights: optional (N, K) per-channel weights (e.g. 0 for a landmark without a
        target). The loss is then the weighted mean over channels of each channel's
        mean over its H x W cells; None weighs every channel 1 (a plain mean).
    """
    loss = resolve_loss(loss, encoding)
    if loss == "awing":
        return adaptive_wing_loss(pred, target, weights)
    pred = pred.float()
    target = target.float()
    if loss == "bce":
        per_cell = F.binary_cross_entropy_with_logits(pred, target, pos_weight=pred.new_tensor(pos_weight),
                                                      reduction="none")
    else:
        per_cell = F.mse_loss(pred, target, reduction="none")
    return _weighted_mean(per_cell, weights)


def regression_loss(pred: torch.Tensor, target: torch.Tensor, weights: Optional[torch.Tensor] = None,
                    loss: str = "l1") -> torch.Tensor:
    """Scalar loss between (N, K, 2) predicted and target coordinates (direct regression).

    loss: "l1" (mean absolute difference per coordinate) or "mse" (mean squared).
    weights: optional (N, K) keypoint weights; points with weight 0 or a non-finite
    target are left out (and get no gradient). The loss is the weighted mean over
    points of the mean over their two coordinates; 0 when no point counts.
    """
    if loss not in REGRESSION_LOSSES:
        raise ValueError(f"unknown regression loss {loss!r}; choose one of {', '.join(REGRESSION_LOSSES)}")
    pred = pred.float()
    target = torch.as_tensor(target, dtype=pred.dtype, device=pred.device)
    if pred.shape != target.shape or pred.shape[-1] != 2:
        raise ValueError(f"points must both be (N, K, 2), got {tuple(pred.shape)} and {tuple(target.shape)}")
    weights = (torch.ones(pred.shape[:-1], dtype=pred.dtype, device=pred.device) if weights is None
               else torch.as_tensor(weights, dtype=pred.dtype, device=pred.device))
    if weights.shape != pred.shape[:-1]:
        raise ValueError(f"weights must be (N, K) = {tuple(pred.shape[:-1])}, got {tuple(weights.shape)}")
    ok = torch.isfinite(target).all(-1) & (weights > 0)
    # masked before abs()/square(): their gradient at a NaN would be NaN even with weight 0
    diff = torch.where(ok[..., None], pred - torch.nan_to_num(target), torch.zeros((), dtype=pred.dtype,
                                                                                    device=pred.device))
    per_point = (diff.abs() if loss == "l1" else diff.square()).mean(-1)
    weights = torch.where(ok, weights, torch.zeros_like(weights))
    return (weights * per_point).sum() / weights.sum().clamp_min(1e-12)


def coordinate_loss(pred: torch.Tensor, target: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """L1 distance between (N, K, 2) predicted and true points: the weighted mean over
    points of ``(|dx| + |dy|) / 2``, in the points' unit (input pixels in training).

    weights: optional (N, K) keypoint weights; a point with weight 0, or whose target
    (or prediction) is not finite, is left out (and gets no gradient). 0 when no
    point counts.
    """
    pred = pred.float()
    target = torch.as_tensor(target, dtype=pred.dtype, device=pred.device)
    if pred.shape != target.shape or pred.shape[-1] != 2:
        raise ValueError(f"points must both be (N, K, 2), got {tuple(pred.shape)} and {tuple(target.shape)}")
    if weights is None:
        weights = torch.ones(pred.shape[:-1], dtype=pred.dtype, device=pred.device)
    weights = torch.as_tensor(weights, dtype=pred.dtype, device=pred.device)
    if weights.shape != pred.shape[:-1]:
        raise ValueError(f"weights must be (N, K) = {tuple(pred.shape[:-1])}, got {tuple(weights.shape)}")
    ok = (torch.isfinite(target).all(-1) & torch.isfinite(pred).all(-1) & (weights > 0))
    # masked before abs(): abs' gradient at a NaN would be NaN even with weight 0
    error = torch.where(ok[..., None], pred - torch.nan_to_num(target),
                        torch.zeros((), dtype=pred.dtype, device=pred.device))
    per_point = error.abs().mean(-1)
    weights = torch.where(ok, weights, torch.zeros_like(weights))
    return (weights * per_point).sum() / weights.sum().clamp_min(1e-12)


LossFunction = Callable[..., torch.Tensor]
"""``fn(outputs, points, generator=None) -> scalar`` (see :func:`make_loss`)."""


def make_loss(codec, loss: str = "auto", pos_weight: float = 100.0, *, coord_loss: float = 0.0,
              temperature: Optional[float] = None) -> LossFunction:
    """The loss of a run: ``fn(outputs, points, generator=None) -> scalar``.

    codec: the run's codec (:mod:`lmkviz.codecs`); ``points`` (N, K, 2) in
    network-input pixels (NaN = invisible) are encoded into targets and keypoint
    weights with it (``generator`` for the binary encoding's random draws), and
    compared with ``outputs``: (N, K, H, W) heatmaps with ``loss`` (see
    :func:`heatmap_loss`), or a SimCC head's ``(x_logits, y_logits)`` with
    :func:`lmkviz.codecs.simcc_loss` (loss "auto" or "kl"). A
    :class:`~lmkviz.codecs.RegressionCodec`'s outputs are (N, K, 2) coordinates,
    compared with :func:`regression_loss` ("auto" is "l1").

    coord_loss: weight of the coordinate loss added on top (0 = none): the
    :func:`coordinate_loss` between the codec's differentiable soft-argmax of the
    outputs (``codec.soft_argmax``, in input pixels) and ``points``, masked by the
    same keypoint weights. temperature: the soft-argmax's (None: the codec's
    default, which is also what its "softargmax" decoder uses).
    The function has ``name`` (the resolved loss, e.g. "mse" or "mse+coord").
    """
    from lmkviz.codecs import simcc_loss

    if getattr(codec, "codec_type", None) == "regression":
        return _regression_loss_fn(codec, loss)

    simcc = getattr(codec, "codec_type", "heatmap") == "simcc"
    name = resolve_loss(loss, "simcc" if simcc else codec.encoding)
    if not coord_loss >= 0:
        raise ValueError(f"coord_loss must be >= 0 (a weight; 0 = off), got {coord_loss}")
    if temperature is not None and not temperature > 0:
        raise ValueError(f"temperature must be > 0 or None, got {temperature}")
    coord_weight = float(coord_loss)

    def loss_fn(outputs, points: torch.Tensor, generator: Optional[torch.Generator] = None):
        target, weights = codec.encode(points, generator=generator)
        if simcc:
            (pred_x, pred_y), (target_x, target_y) = outputs, target
            value = simcc_loss(pred_x.float(), pred_y.float(), target_x, target_y, weights)
        else:
            value = heatmap_loss(outputs, target, codec.encoding, pos_weight, weights=weights, loss=name)
        if coord_weight > 0:
            value = value + coord_weight * coordinate_loss(codec.soft_argmax(outputs, temperature), points, weights)
        return value

    loss_fn.name = name + ("+coord" if coord_weight > 0 else "")  # type: ignore[attr-defined]
    return loss_fn


def _regression_loss_fn(codec, loss: str) -> LossFunction:
    """:func:`make_loss` for a :class:`~lmkviz.codecs.RegressionCodec`: outputs (N, K, 2) fractions."""
    name = resolve_loss(loss, "regression")

    def loss_fn(outputs: torch.Tensor, points: torch.Tensor, generator: Optional[torch.Generator] = None):
        target, weights = codec.encode(points)
        return regression_loss(outputs, target, weights, loss=name)

    loss_fn.name = name  # type: ignore[attr-defined]
    return loss_fn
