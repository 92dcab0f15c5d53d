"""A SimCC head on any heatmap model (Li et al., "SimCC: a Simple Coordinate
Classification Perspective for Human Pose Estimation", ECCV 2022).

The wrapped model's K-channel output (its last 1x1 convolution, at stride s) is
flattened per landmark into a vector of h * w features, scaled to unit RMS, and two
linear layers shared by all landmarks turn it into the logits of the x bins and of
the y bins:

    images (N, 3, H, W) -> model -> (N, K, h, w) -> flatten -> (N, K, h * w) -> ScaleNorm
        -> Linear(h * w, W_x) -> x logits (N, K, W_x)
        -> Linear(h * w, H_y) -> y logits (N, K, H_y)

with ``W_x = round(W * ratio)`` and ``H_y = round(H * ratio)`` bins
(:attr:`lmkviz.codecs.SimCCCodec.lengths`). This is the SimCC head of the paper
(mmpose's ``SimCCHead`` without deconvolutions) with RTMPose's ScaleNorm before the
classifiers (RTMPose also adds a gated attention unit there). The ScaleNorm matters
on small budgets: the backbones initialise their last convolution near zero (for
heatmaps), and without it the quick SimCC demo (12 epochs of 128 synthetic faces)
ends at 20.6 % NME instead of 15.0 %. The feature map size
h x w follows from the input size the head is built for (``ceil(H / s)``, the
size the backbones here produce), so a SimCC model takes inputs of that size only.

Output convention: a tuple ``(x_logits, y_logits)`` of float tensors, the input
of :meth:`lmkviz.codecs.SimCCCodec.decode` and :func:`lmkviz.codecs.simcc_loss`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lmkviz.coords import as_hw

__all__ = ["HEADS", "SimCCHead"]

HEADS = ("heatmap", "simcc")
"""Model heads: "heatmap" (the model's own K heatmaps) or "simcc" (:class:`SimCCHead`)."""


class ScaleNorm(nn.Module):
    """``x / rms(x) * g`` over the last dimension, one learned scalar ``g`` (init 1), as in
    RTMPose's head: the flattened features get unit scale whatever the backbone's last
    convolution was initialised to, so the classifiers train from the first step."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.scale = dim ** -0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp_min(self.eps) * self.g


class SimCCHead(nn.Module):
    """``backbone``'s (N, K, h, w) output -> SimCC logits ``(x (N, K, W_x), y (N, K, H_y))``.

    backbone: a heatmap model of :mod:`lmkviz.models` (with ``stride`` and
    ``num_points``). input_size: (H, W) (or a side) of the images it will get.
    ratio: SimCC bins per input pixel. Keeps ``stride`` and ``num_points``.
    """

    def __init__(self, backbone: nn.Module, input_size, ratio: float = 2.0):
        super().__init__()
        from lmkviz.codecs import SimCCCodec

        self.input_size = as_hw(input_size)
        self.ratio = float(ratio)
        self.backbone = backbone
        self.stride = backbone.stride
        self.num_points = backbone.num_points
        h, w = (math.ceil(side / self.stride) for side in self.input_size)
        self.feature_size = (h, w)
        wx, hy = SimCCCodec(image_size=self.input_size, ratio=self.ratio).lengths  # checks ratio and size
        self.norm = ScaleNorm(h * w)
        self.head_x = nn.Linear(h * w, wx)
        self.head_y = nn.Linear(h * w, hy)
        for layer in (self.head_x, self.head_y):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images: (N, 3, H, W) RGB in [0, 1] -> (x logits (N, K, W_x), y logits (N, K, H_y))."""
        if tuple(images.shape[-2:]) != self.input_size:
            raise ValueError(f"this SimCC model takes {self.input_size[0]}x{self.input_size[1]} inputs "
                             f"(its head is built for them), got {images.shape[-2]}x{images.shape[-1]}")
        maps = self.backbone(images)
        features = self.norm(maps.flatten(-2))  # (N, K, h * w)
        return self.head_x(features), self.head_y(features)
