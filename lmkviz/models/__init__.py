"""Heatmap regression models: ``images`` (N, 3, H, W) RGB in [0, 1] -> heatmaps.

Every model is an ``nn.Module`` that normalises its input with the ImageNet
mean/std itself (non-persistent buffers, so a state dict holds only learned
weights) and returns raw heatmaps (N, K, H / stride, W / stride): the training
code reads them as Gaussian maps (MSE) or as logits (BCE). Each model has the
attributes ``stride`` (int) and ``num_points`` (K). Input sides that are
multiples of 32 give exact output sizes; other sizes work too.

    model = models.create("hrnet18", num_points=68)
    heatmaps = model(images)            # (N, 68, H / 4, W / 4)

With ``head="simcc"`` any architecture gets a SimCC head (:class:`SimCCHead`)
and returns the pair of logits ``(x (N, K, W_x), y (N, K, H_y))`` instead:

    model = models.create("hrnet18_small", 68, head="simcc", input_size=128, simcc_ratio=2.0)
    x_logits, y_logits = model(images)  # (N, 68, 256), (N, 68, 256)

``ARCHITECTURES`` maps each name to its factory ``f(num_points, **kwargs)``;
``MODEL_INFO`` / :func:`describe` give what a user interface shows.

One architecture outputs no heatmaps: ``resnet18_regression`` (the direct-regression
baseline, :mod:`lmkviz.models.regression`) returns (N, K, 2) points as fractions of
the input's width and height; :func:`outputs_points` tells them apart, and
:data:`HEATMAP_MODELS` lists the others.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from lmkviz.models.efficientnet_lite import (
    EfficientNetLiteFPN, efficientnet_lite0_classifier, efficientnet_lite0_fpn,
)
from lmkviz.models.hrnet import HRNet, hrnet18, hrnet18_small, hrnet18_small_v2
from lmkviz.models.regression import ResNet18Regression, resnet18_regression
from lmkviz.models.simcc import HEADS, SimCCHead
from lmkviz.models.unet_resnet18 import UNetResNet18, unet_resnet18, unet_resnet18_small

__all__ = [
    "ARCHITECTURES", "HEADS", "HEATMAP_MODELS", "MODEL_INFO", "ModelInfo", "EfficientNetLiteFPN", "HRNet",
    "ResNet18Regression", "SimCCHead", "UNetResNet18", "count_parameters", "create", "describe", "list_models",
    "outputs_points", "resnet18_regression",
    "efficientnet_lite0_classifier", "efficientnet_lite0_fpn",
    "hrnet18", "hrnet18_small", "hrnet18_small_v2", "unet_resnet18", "unet_resnet18_small",
]

ARCHITECTURES = {
    "unet_resnet18": unet_resnet18,
    "unet_resnet18_small": unet_resnet18_small,
    "hrnet18": hrnet18,
    "hrnet18_small": hrnet18_small,
    "hrnet18_small_v2": hrnet18_small_v2,
    "effnet_lite0_fpn": efficientnet_lite0_fpn,
    "resnet18_regression": resnet18_regression,
}


@dataclass(frozen=True)
class ModelInfo:
    """What a user interface shows about one architecture (defaults of its factory).

    stride: heatmap downsampling factor (for a model of :data:`POINT_MODELS`, that of
    its last feature map, pooled away); input_size: suggested square input side
    in pixels; num_parameters: for ``num_points`` heatmaps (None in ``MODEL_INFO``).
    """

    name: str
    description: str
    stride: int
    input_size: int
    num_points: int | None = None
    num_parameters: int | None = None

    def __str__(self) -> str:
        params = "" if self.num_parameters is None else f", {self.num_parameters / 1e6:.2f} M parameters"
        kind = "feature" if self.name in POINT_MODELS else "heatmap"
        return (f"{self.name}: {self.description} ({kind} stride {self.stride}, "
                f"{self.input_size} px input{params})")


MODEL_INFO = {
    "unet_resnet18": ModelInfo(
        "unet_resnet18", "U-Net on a ResNet-18 encoder, full-resolution heatmaps",
        stride=1, input_size=256),
    "unet_resnet18_small": ModelInfo(
        "unet_resnet18_small", "U-Net on a ResNet-18 encoder with a half-width decoder",
        stride=2, input_size=128),
    "hrnet18": ModelInfo(
        "hrnet18", "HRNet-W18 with a binary-heatmap head, as in H3R",
        stride=4, input_size=256),
    "hrnet18_small": ModelInfo(
        "hrnet18_small", "HRNet-W18-small: one module per stage, two blocks per branch",
        stride=4, input_size=128),
    "hrnet18_small_v2": ModelInfo(
        "hrnet18_small_v2", "HRNet-W18-small-v2: W18 widths, modules 1/1/3/2, two blocks",
        stride=4, input_size=128),
    "effnet_lite0_fpn": ModelInfo(
        "effnet_lite0_fpn", "EfficientNet-Lite0 (ImageNet weights) with a light FPN decoder",
        stride=4, input_size=256),
    "resnet18_regression": ModelInfo(
        "resnet18_regression", "ResNet-18 + a linear layer regressing (x, y) directly, no heatmaps "
        "(the baseline; train it with the regression encoding)",
        stride=32, input_size=128),
}

from lmkviz.names import POINT_MODELS  # noqa: E402  (defined without torch: training configs check it)
# POINT_MODELS: architectures whose output is (N, K, 2) points (fractions of the input's W and H), not heatmaps.

HEATMAP_MODELS = tuple(name for name in ARCHITECTURES if name not in POINT_MODELS)
"""Architectures that output (N, K, H / stride, W / stride) heatmaps."""


def outputs_points(name: str) -> bool:
    """True for an architecture that regresses (x, y) directly (:data:`POINT_MODELS`)."""
    _check_name(name)
    return name in POINT_MODELS


def list_models() -> list[str]:
    """Names of the known architectures, in registry order."""
    return list(ARCHITECTURES)


def _check_name(name: str) -> None:
    if name not in ARCHITECTURES:
        raise ValueError(
            f"unknown model {name!r}; choose one of: {', '.join(ARCHITECTURES)}."
        )


_HEAD_OPTIONS = ("head", "input_size", "simcc_ratio")


def create(name: str, num_points: int, **kwargs) -> nn.Module:
    """Build architecture ``name`` with ``num_points`` heatmaps.

    kwargs go to the factory (e.g. ``stride=2``, ``pretrained=False`` for the
    U-Nets and ``effnet_lite0_fpn``; ``pretrained`` is accepted by every model:
    True requires the ImageNet weights (ValueError when they cannot be had), "auto"
    uses them when they can be had and warns otherwise, False never looks for them;
    the HRNets, which have no pretrained weights, accept only "auto"/False), except
    the head options every architecture takes:

    head: "heatmap" (default: the model's heatmaps) or "simcc": the model wrapped
        in a :class:`SimCCHead`, which returns ``(x_logits, y_logits)``; it needs
        ``input_size`` (the square side, or (H, W), of the inputs) and takes
        ``simcc_ratio`` (bins per input pixel, default 2.0).
    """
    _check_name(name)
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1:
        raise ValueError(f"{name}: num_points must be a positive int, got {num_points!r}.")
    head = kwargs.pop("head", "heatmap")
    input_size = kwargs.pop("input_size", None)
    ratio = kwargs.pop("simcc_ratio", None)
    if head not in HEADS:
        raise ValueError(f"{name}: unknown head {head!r}; choose one of {', '.join(HEADS)}.")
    if head == "heatmap" and (input_size is not None or ratio is not None):
        raise ValueError(f"{name}: input_size and simcc_ratio are options of head='simcc' only.")
    if head == "simcc" and input_size is None:
        raise ValueError(f"{name}: head='simcc' needs input_size (the side of the input images in pixels).")
    if head == "simcc" and outputs_points(name):
        raise ValueError(f"{name} regresses (x, y) directly: it has no feature map for a SimCC head; "
                         "use it with head='heatmap' (its own linear head)")
    factory = ARCHITECTURES[name]
    accepted = set(inspect.signature(factory).parameters) - {"num_points"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {', '.join(unknown)}; it takes "
                         f"{', '.join(sorted(accepted | set(_HEAD_OPTIONS)))}.")
    model = factory(num_points, **kwargs)
    if head == "simcc":
        try:
            model = SimCCHead(model, input_size, 2.0 if ratio is None else float(ratio))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}: SimCC head: {err}") from None
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements of ``model`` (only those with requires_grad if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@lru_cache(maxsize=None)
@lru_cache(maxsize=None)
def _num_parameters(name: str, num_points: int) -> int:
    """Counted once per (architecture, K): building a model, even on the meta device, takes
    0.1-0.5 s and the Train page asks for every architecture on each run."""
    with torch.device("meta"):  # no memory, no initialisation cost
        model = create(name, num_points, pretrained=False)
    return count_parameters(model)


def describe(name: str, num_points: int = 68) -> ModelInfo:
    """``MODEL_INFO[name]`` with the parameter count for ``num_points`` heatmaps.

    ``str(describe("hrnet18"))`` is a one-line summary for a user interface.
    """
    _check_name(name)
    info = MODEL_INFO[name]
    return ModelInfo(info.name, info.description, info.stride, info.input_size,
                     num_points, _num_parameters(name, num_points))
