"""Training losses between predicted and target heatmaps.

Gaussian encodings ("gaussian", "gaussian_int") are regressed with the mean
squared error; binary maps (randomized rounding, one positive cell per map) with
BCE-with-logits where the positive cell weighs ``pos_weight``.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["heatmap_loss"]


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, encoding: str, pos_weight: float = 100.0,
                 weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Scalar loss between predicted and target heatmaps, both (N, K, H, W).

    encoding: "binary" -> BCE-with-logits (``pred`` are logits) where each target 1
        weighs ``pos_weight``; anything else -> mean squared error.
    weights: optional (N, K) per-channel weights (e.g. 0 for a landmark without a
        target). The loss is then the weighted mean over channels of each channel's
        mean over its H x W cells; None weighs every channel 1 (a plain mean).

    Points without a target (all-zero maps from NaN points) still count as "no
    landmark here" for binary maps and pull Gaussian outputs towards zero, unless
    ``weights`` masks them.
    """
    pred = pred.float()
    target = target.float()
    reduction = "mean" if weights is None else "none"
    if encoding == "binary":
        loss = F.binary_cross_entropy_with_logits(pred, target, pos_weight=pred.new_tensor(pos_weight),
                                                  reduction=reduction)
    else:
        loss = F.mse_loss(pred, target, reduction=reduction)
    if weights is None:
        return loss
    weights = torch.as_tensor(weights, dtype=loss.dtype, device=loss.device)
    if weights.shape != loss.shape[:2]:
        raise ValueError(f"weights must be (N, K) = {tuple(loss.shape[:2])}, got {tuple(weights.shape)}")
    per_channel = loss.mean(dim=(-2, -1))
    return (per_channel * weights).sum() / weights.sum().clamp_min(1e-12)
