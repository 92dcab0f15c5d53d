"""What defines a training run: :class:`TrainConfig` (saved as a run's ``config.json``) and presets."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Optional

from lmkviz.names import ENCODING_LABELS, ENCODINGS, FRAMINGS  # noqa: F401  (no torch: run folders and the job list read configs)

__all__ = ["LOSSES", "REGRESSION", "TRAIN_ENCODINGS", "TRAIN_ENCODING_LABELS", "TrainConfig", "PRESETS",
           "PRESET_LABELS"]

TRAIN_ENCODINGS = (*ENCODINGS, "udp", "simcc")
"""What a run trains against: the heatmap encodings of :data:`lmkviz.encoding.ENCODINGS`
(lmkviz's edge-aligned :class:`~lmkviz.codecs.HeatmapCodec`), "udp" (sub-pixel Gaussian
heatmaps with UDP's corner-aligned scaling, :class:`~lmkviz.codecs.UDPHeatmapCodec`) or
"simcc" (per-axis classification, :class:`~lmkviz.codecs.SimCCCodec`, on a SimCC head).
The direct-regression baseline's :data:`REGRESSION` is accepted too (with its model only)."""

TRAIN_ENCODING_LABELS = {
    **ENCODING_LABELS,
    "udp": "UDP Gaussian, corner-aligned (Huang et al. 2020)",
    "simcc": "SimCC, x and y bins (Li et al. 2022)",
}

LOSSES = ("auto", "mse", "awing", "bce", "kl", "l1")
"""Losses: "auto" (the encoding's own: MSE for Gaussians, BCE for binary maps, KL for
SimCC, L1 for direct regression), "mse" (Gaussian maps, or coordinates), "awing"
(Adaptive Wing, Gaussian encodings incl. UDP), "bce" (binary encoding), "kl" (SimCC: KL
divergence to the label distributions, :func:`lmkviz.codecs.simcc_loss`) or "l1"
(coordinates, regression)."""

REGRESSION = "regression"
"""The encoding of the direct-regression baseline: no heatmaps, the model
(:data:`lmkviz.models.POINT_MODELS`) outputs the points (:class:`lmkviz.codecs.RegressionCodec`)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json``).

    data: training datasets (LaPa-layout folders, discovered dataset names, or
        "synthetic"); their ``train_split`` splits are concatenated.
    val_data: dataset for validation (default: the first of ``data``).
    landmarks: subset spec ("all", "blog5", a group name, "36,45,48-54").
    model: an architecture of :data:`lmkviz.models.ARCHITECTURES`; model_kwargs go
        to its factory (e.g. ``{"frozen_blocks": 3}`` for ``effnet_lite0_fpn``).
    pretrained: ImageNet weights for the encoder: True (required: the run fails
        with a clear error when they cannot be had), "auto" (used when available,
        else from scratch with a warning) or False.
    init_from: fine-tuning: start from the weights of this checkpoint (a .pt file, or a
        shipped name such as "default") instead of ``pretrained``'s. Its architecture,
        landmark count and head (heatmaps or SimCC) must be this config's; the input and
        heatmap sizes may differ (the layers are convolutions). The optimiser and the
        schedule start afresh; a resumed run continues from its own ``last.pt``.
    encoding: one of :data:`TRAIN_ENCODINGS`: "gaussian" (sub-pixel, MSE),
        "gaussian_int" (integer centre, MSE), "binary" (randomized rounding,
        BCE-with-logits with ``pos_weight``), "udp" (sub-pixel Gaussian, UDP's
        corner-aligned scaling, MSE; judged by DARK) or "simcc" (the model gets a
        SimCC head, :class:`lmkviz.models.SimCCHead`; KL loss; judged by DARK on
        each axis); "regression" (:data:`REGRESSION`) for a model that outputs the
        points themselves (``resnet18_regression``; L1 on the coordinates, no
        heatmaps), and only for such a model.
    sigma: Gaussian sigma in heatmap pixels; for "simcc" the label smoothing in
        bins (``simcc_ratio`` bins per input pixel).
    simcc_ratio: SimCC bins per input pixel (the splitting ratio; "simcc" only).
    coord_loss: weight of the coordinate loss (integral regression, Sun et al.
        2018): the mean L1 distance, in input pixels, between the soft-argmax of
        the output and the true points, added to the loss (0 = off).
    softargmax_temperature: the soft-argmax's temperature, in the coordinate loss
        and for the "softargmax" decoder of the run's checkpoints (None: the
        codec's default, 0.5 for Gaussian maps, 1 for logits).
    input_size: square network input side in pixels.
    heatmap_size: heatmap side; None = input_size / the model's stride. For
        U-Nets it selects the stride (1, 2 or 4); HRNet is fixed at stride 4.
        For "simcc" it is the side of the feature map the head flattens.
    schedule: "onecycle" (cosine one-cycle, ``lr`` is the peak) or "constant".
    loss: one of :data:`LOSSES`. Landmarks without a target (outside the crop,
        unlabelled) are masked out of every loss by their keypoint weights.
    augment: augmentation strength in [0, 1] (0 = no random changes); it scales
        rotation (max degrees), the zoom range [scale_min, scale_max], translate
        (max shift, fraction of the side), color (jitter amount), occlusion and blur
        (probabilities). flip: random mirror with left/right swap.
    framing: "image" (each training image resized whole) or "face" (a square crop
        of ``margin`` x the landmark box, jittered by zoom and shift the way a face
        detector's box is; see :mod:`lmkviz.data.augment`). Validation always uses
        the whole image, as ``lmkviz evaluate`` does.
    device: "auto" (cuda > mps > cpu), "cuda", "cuda:1", "mps" or "cpu".
    amp: bfloat16 autocast on CUDA (ignored elsewhere).
    limit_train / limit_val: use only the first n samples (quick demos, tests).
    log_every: log a step line every n optimiser steps.
    tensorboard: also write TensorBoard event files into the run folder (needs the
        tensorboard package; without it the run goes on and its log says how to install it).
    """

    name: str = "run"
    data: tuple[str, ...] = ("synthetic",)
    train_split: str = "train"
    val_data: Optional[str] = None
    val_split: str = "val"
    landmarks: str = "all"
    model: str = "hrnet18_small"
    model_kwargs: dict = field(default_factory=dict)
    pretrained: bool | str = False
    init_from: Optional[str] = None
    encoding: str = "gaussian"
    sigma: float = 2.0
    simcc_ratio: float = 2.0
    pos_weight: float = 100.0
    coord_loss: float = 0.0
    softargmax_temperature: Optional[float] = None
    input_size: int = 128
    heatmap_size: Optional[int] = None
    epochs: int = 10
    batch_size: int = 16
    lr: float = 2e-3
    schedule: str = "onecycle"
    weight_decay: float = 1e-4
    loss: str = "auto"
    augment: float = 1.0
    framing: str = "image"
    margin: float = 1.7
    rotation: float = 30.0
    scale_min: float = 0.75
    scale_max: float = 1.25
    translate: float = 0.1
    flip: bool = True
    color: float = 0.3
    occlusion: float = 0.0
    blur: float = 0.0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    seed: int = 0
    workers: int = 2
    limit_train: Optional[int] = None
    limit_val: Optional[int] = None
    log_every: int = 10
    preview: int = 4
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.data, str):
            object.__setattr__(self, "data", (self.data,))
        object.__setattr__(self, "data", tuple(str(d) for d in self.data))
        errors = []
        if not self.data:
            errors.append("data: give at least one training dataset")
        if self.encoding not in TRAIN_ENCODINGS and self.encoding != REGRESSION:
            errors.append(f"encoding: {self.encoding!r} is not one of {', '.join(TRAIN_ENCODINGS)}, {REGRESSION}")
        errors += _regression_errors(self)
        if not self.simcc_ratio > 0:
            errors.append(f"simcc_ratio: must be > 0 (bins per input pixel), got {self.simcc_ratio}")
        if not self.coord_loss >= 0:
            errors.append(f"coord_loss: must be >= 0 (0 = off), got {self.coord_loss}")
        if self.softargmax_temperature is not None and not self.softargmax_temperature > 0:
            errors.append(f"softargmax_temperature: must be > 0 or null, got {self.softargmax_temperature}")
        if self.schedule not in ("onecycle", "constant"):
            errors.append(f"schedule: {self.schedule!r} is not 'onecycle' or 'constant'")
        for name in ("epochs", "batch_size", "input_size", "log_every"):
            if int(getattr(self, name)) < 1:
                errors.append(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            errors.append(f"workers: must be >= 0, got {self.workers}")
        if not self.sigma > 0:
            errors.append(f"sigma: must be > 0, got {self.sigma}")
        if not self.lr > 0:
            errors.append(f"lr: must be > 0, got {self.lr}")
        if not 0 <= self.augment <= 1:
            errors.append(f"augment: must be in [0, 1], got {self.augment}")
        if self.heatmap_size is not None and self.heatmap_size < 1:
            errors.append(f"heatmap_size: must be >= 1, got {self.heatmap_size}")
        if self.pretrained not in (True, False, "auto"):
            errors.append(f"pretrained: must be true, false or \"auto\", got {self.pretrained!r}")
        if self.loss not in LOSSES:
            errors.append(f"loss: {self.loss!r} is not one of {', '.join(LOSSES)}")
        elif self.loss == "bce" and self.encoding != "binary":
            errors.append("loss: bce needs the binary encoding (Gaussian maps use mse or awing, SimCC kl)")
        elif self.loss in ("mse", "awing") and self.encoding in ("binary", "simcc"):
            errors.append(f"loss: {self.loss} needs a Gaussian heatmap encoding "
                          "(binary maps use bce, SimCC kl)")
        elif self.loss == "kl" and self.encoding != "simcc":
            errors.append("loss: kl needs the simcc encoding (heatmaps use mse, awing or bce)")
        elif self.loss == "l1" and self.encoding != REGRESSION:
            errors.append("loss: l1 is for the regression encoding (coordinates); heatmaps use mse, awing or bce")
        elif self.encoding == REGRESSION and self.loss not in ("auto", "l1", "mse"):
            errors.append(f"loss: {self.loss} does not fit the regression encoding (coordinates use l1 or mse)")
        try:
            self.augment_config()
        except ValueError as err:
            errors.append(f"augmentation: {err}")
        if errors:
            raise ValueError("invalid training config: " + "; ".join(errors))

    def augment_config(self):
        """The :class:`~lmkviz.data.augment.AugmentConfig` of the training transform."""
        from lmkviz.data.augment_config import AugmentConfig

        return AugmentConfig(
            input_size=self.input_size, strength=self.augment, rotation=self.rotation,
            scale=(self.scale_min, self.scale_max), translate=self.translate, flip=self.flip,
            color=self.color, framing=self.framing, margin=self.margin, occlusion=self.occlusion,
            blur=self.blur)

    @property
    def loss_name(self) -> str:
        """The loss actually used: ``loss`` with "auto" resolved for the encoding."""
        if self.loss != "auto":
            return self.loss
        return {"binary": "bce", "simcc": "kl", REGRESSION: "l1"}.get(self.encoding, "mse")

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["data"] = list(self.data)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a dict; an unknown or mistyped field is a ValueError naming it."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown training config field(s): {', '.join(unknown)}")
        clean = {}
        for key, value in data.items():
            default = names[key].default
            try:
                if key == "data":
                    value = tuple(value) if isinstance(value, (list, tuple)) else (str(value),)
                elif key == "model_kwargs":
                    if not isinstance(value, dict):
                        raise TypeError("expected an object")
                elif value is None:
                    pass
                elif key == "pretrained":
                    if value not in (True, False, "auto") or isinstance(value, (int, float)) and not isinstance(value, bool):
                        raise TypeError('expected true, false or "auto"')
                elif isinstance(default, bool):
                    if not isinstance(value, bool):
                        raise TypeError("expected true or false")
                elif key == "softargmax_temperature":
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise TypeError("expected a number or null")
                    value = float(value)
                elif isinstance(default, int) or key in ("heatmap_size", "limit_train", "limit_val"):
                    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                        raise TypeError("expected an integer")
                    value = int(value)
                elif isinstance(default, float):
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise TypeError("expected a number")
                    value = float(value)
                elif isinstance(default, str) or key in ("val_data", "init_from"):
                    if not isinstance(value, str):
                        raise TypeError("expected text")
            except (TypeError, ValueError, OverflowError) as err:
                raise ValueError(f"training config field {key!r}: {err} (got {value!r})") from None
            clean[key] = value
        return cls(**clean)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"training config is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise ValueError("training config must be a JSON object")
        return cls.from_dict(data)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def _regression_errors(config: "TrainConfig") -> list[str]:
    """The regression encoding goes with a model that outputs points, and only with one.
    (lmkviz.models, which imports torchvision, is loaded only for a regression config of another
    model: reading a run's config stays light.)"""
    from lmkviz.names import POINT_MODELS

    if config.model in POINT_MODELS:
        if config.encoding != REGRESSION:
            return [f"encoding: {config.model} regresses (x, y) directly and has no heatmaps; "
                    f"use the {REGRESSION} encoding"]
        return []
    if config.encoding == REGRESSION:
        from lmkviz import models

        if config.model not in models.ARCHITECTURES:
            return []  # named by models.create when the run starts
        return [f"encoding: {REGRESSION} needs a model that outputs points "
                f"({', '.join(POINT_MODELS)}); {config.model} outputs heatmaps"]
    return []


PRESETS: dict[str, TrainConfig] = {
    "quick-demo": TrainConfig(
        name="quick-demo", data=("synthetic",), model="hrnet18_small", encoding="gaussian",
        sigma=1.5, input_size=128, epochs=12, batch_size=16, lr=3e-3, limit_train=128,
        limit_val=32, workers=0, augment=0.5, log_every=2,
    ),
    "quick-demo-simcc": TrainConfig(
        name="quick-demo-simcc", data=("synthetic",), model="hrnet18_small", encoding="simcc",
        sigma=6.0, simcc_ratio=2.0, input_size=128, epochs=12, batch_size=16, lr=3e-3, limit_train=128,
        limit_val=32, workers=0, augment=0.5, log_every=2,
    ),
    "blog-unet": TrainConfig(
        name="blog-unet", model="unet_resnet18", encoding="gaussian_int", sigma=10.0,
        input_size=256, heatmap_size=256, epochs=10, batch_size=24, lr=1e-3, augment=1.0,
        pretrained="auto",
    ),
    "blog-hrnet": TrainConfig(
        name="blog-hrnet", model="hrnet18", encoding="binary", input_size=256, heatmap_size=64,
        epochs=10, batch_size=24, lr=5e-3, pos_weight=100.0, augment=1.0,
    ),
    "effnet-faces": TrainConfig(
        name="effnet-faces", data=("face68", "ytf68"), val_data="face68", model="effnet_lite0_fpn",
        model_kwargs={"frozen_blocks": 3}, pretrained=True, encoding="gaussian", sigma=2.0,
        input_size=256, heatmap_size=64, loss="awing", epochs=40, batch_size=32, lr=2e-3,
        weight_decay=1e-4, augment=1.0, framing="face", rotation=30.0, scale_min=0.75, scale_max=1.25,
        translate=0.08, flip=True, color=0.3, occlusion=0.3, blur=0.2, workers=1, log_every=20,
    ),
}
"""Starting points for the Train page and ``lmkviz train --preset``."""

PRESET_LABELS = {
    "quick-demo": "Quick CPU demo",
    "quick-demo-simcc": "Quick CPU demo, SimCC head",
    "blog-unet": "Blog: UNet-ResNet18, Gaussian + MSE",
    "blog-hrnet": "Blog: HRNet-18, binary + BCE",
    "effnet-faces": "Shipped model: EfficientNet-Lite0 FPN, 256 px, real faces",
}
