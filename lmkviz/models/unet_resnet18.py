"""U-Net with a ResNet-18 encoder, producing one heatmap per landmark.

The encoder is torchvision's ResNet-18 (optionally with its ImageNet weights);
the decoder climbs back up the encoder's resolutions, and at each step it

    upsamples (bilinear, x2) -> concatenates the encoder's skip feature of that
    resolution -> applies two 3x3 conv-BN-ReLU blocks,

until it reaches the requested heatmap ``stride`` (4, 2 or 1). The skip at 1/2 is
the encoder stem (conv1-BN-ReLU, before the max-pool); at full resolution (stride 1)
it is the normalised input image itself. A 1x1 convolution maps the last decoder
feature to ``K`` heatmaps.

Shapes: ``images`` (N, 3, H, W) float RGB in [0, 1] -> heatmaps (N, K, H / stride,
W / stride), raw (the loss decides whether they are Gaussian maps or logits). Any
``H, W`` works; multiples of 32 give exact ``H / stride``.

This file is self-contained: it needs only torch and torchvision.
"""

from __future__ import annotations

import threading
import urllib.request
import warnings
from pathlib import Path
from typing import Union
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

__all__ = ["UNetResNet18", "unet_resnet18", "unet_resnet18_small", "imagenet_resnet18_state_dict"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Channels of the encoder feature available at each stride (1: the input image).
ENCODER_CHANNELS = {1: 3, 2: 64, 4: 64, 8: 128, 16: 256, 32: 512}

Pretrained = Union[bool, str]


# --------------------------------------------------------------------------- weights


def _url_reachable(url: str, timeout: float = 2.0) -> bool:
    """True when a HEAD request to ``url`` answers within ``timeout`` seconds.

    Runs in a daemon thread so that a slow DNS lookup (which ignores socket
    timeouts) cannot block the caller for longer than ``timeout``.
    """
    answered = threading.Event()

    def probe() -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):
                answered.set()
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            pass

    thread = threading.Thread(target=probe, name="lmkviz-weights-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return answered.is_set()


def imagenet_resnet18_state_dict(required: bool) -> dict[str, torch.Tensor] | None:
    """torchvision's ImageNet ResNet-18 weights, from torch hub's cache or a download.

    Looks in ``<torch.hub.get_dir()>/checkpoints`` first; downloads (into that cache)
    only when download.pytorch.org answers a quick probe, so it never hangs offline.
    Returns None when the weights cannot be had, or raises ValueError when ``required``.
    """
    weights = ResNet18_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
    try:
        if cached.is_file():
            return torch.load(cached, map_location="cpu", weights_only=True)
        if _url_reachable(weights.url):
            return weights.get_state_dict(progress=False, check_hash=True)
        reason = f"{urlparse(weights.url).netloc} is unreachable"
    except Exception as err:  # noqa: BLE001 - a corrupt cache file or a failed download
        reason = f"loading failed ({type(err).__name__}: {err})"
    if required:
        raise ValueError(
            f"unet_resnet18: ImageNet weights for the ResNet-18 encoder are not in {cached} "
            f"and {reason}; copy {cached.name} there, or pass pretrained='auto' or False "
            "to train from scratch."
        )
    warnings.warn(
        f"unet_resnet18: ImageNet weights unavailable ({reason}); the encoder starts from scratch.",
        stacklevel=3,
    )
    return None


# --------------------------------------------------------------------------- layers


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (no bias), BatchNorm, in-place ReLU; keeps H and W."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DecoderStage(nn.Module):
    """Upsample ``x`` to the size of ``skip``, concatenate ``skip``, two conv-BN-ReLU.

    x: (N, C_in, h, w); skip: (N, C_skip, H, W), usually H = 2h -> (N, C_out, H, W).
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.convs = nn.Sequential(
            conv_bn_relu(in_channels + skip_channels, out_channels),
            conv_bn_relu(out_channels, out_channels),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.convs(torch.cat([x, skip], dim=1))


# --------------------------------------------------------------------------- model


class UNetResNet18(nn.Module):
    """ResNet-18 encoder + U-Net decoder -> (N, K, H / stride, W / stride) heatmaps.

    num_points: K, the number of heatmaps.
    stride: 4, 2 or 1, the heatmap's downsampling factor w.r.t. the input.
    width: channels of the deepest decoder stage (at 1/16); each following stage
        halves it, down to a floor of 16.
    pretrained: "auto" (ImageNet encoder weights when they can be had, else from
        scratch with a one-line warning), True (required; ValueError otherwise)
        or False (never looks for them).
    """

    def __init__(self, num_points: int, stride: int = 1, width: int = 256,
                 pretrained: Pretrained = "auto"):
        super().__init__()
        if stride not in (1, 2, 4):
            raise ValueError(f"unet_resnet18: stride must be 1, 2 or 4, got {stride!r}.")
        if pretrained not in (True, False, "auto"):
            raise ValueError(
                f"unet_resnet18: pretrained must be True, False or 'auto', got {pretrained!r}."
            )
        self.num_points = num_points
        self.stride = stride
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        encoder = resnet18(weights=None)
        if pretrained:
            state_dict = imagenet_resnet18_state_dict(required=pretrained is True)
            if state_dict is not None:
                encoder.load_state_dict(state_dict)
        self.stem = nn.Sequential(encoder.conv1, encoder.bn1, encoder.relu)  # 1/2, 64 ch
        self.maxpool = encoder.maxpool
        self.layer1 = encoder.layer1  # 1/4, 64 ch
        self.layer2 = encoder.layer2  # 1/8, 128 ch
        self.layer3 = encoder.layer3  # 1/16, 256 ch
        self.layer4 = encoder.layer4  # 1/32, 512 ch

        # One decoder stage per skip stride: 16, 8, 4, then 2 and 1 if asked for.
        skip_strides = [s for s in (16, 8, 4, 2, 1) if s >= stride]
        stages = []
        in_channels = ENCODER_CHANNELS[32]
        for i, skip_stride in enumerate(skip_strides):
            out_channels = max(width >> i, 16)
            stages.append(DecoderStage(in_channels, ENCODER_CHANNELS[skip_stride], out_channels))
            in_channels = out_channels
        self.decoder = nn.ModuleList(stages)
        self.head = nn.Conv2d(in_channels, num_points, 1)

        for module in [self.decoder, self.head]:
            for m in module.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, 3, H, W) RGB in [0, 1] -> (N, K, H / stride, W / stride)."""
        x = (images - self.mean) / self.std
        skips = [x]                      # strides 1, 2, 4, 8, 16
        x = self.stem(x)
        skips.append(x)
        x = self.layer1(self.maxpool(x))
        skips.append(x)
        x = self.layer2(x)
        skips.append(x)
        x = self.layer3(x)
        skips.append(x)
        x = self.layer4(x)
        for stage, skip in zip(self.decoder, reversed(skips)):
            x = stage(x, skip)
        return self.head(x)


# --------------------------------------------------------------------------- factories


def unet_resnet18(num_points: int, stride: int = 1, pretrained: Pretrained = "auto",
                  width: int = 256) -> UNetResNet18:
    """ResNet-18 U-Net, decoder 256-128-64-32-16 channels, full-resolution heatmaps."""
    return UNetResNet18(num_points, stride=stride, width=width, pretrained=pretrained)


def unet_resnet18_small(num_points: int, stride: int = 2, pretrained: Pretrained = "auto",
                        width: int = 128) -> UNetResNet18:
    """ResNet-18 U-Net with a half-width decoder (128-64-32-16) and 1/2-resolution heatmaps."""
    return UNetResNet18(num_points, stride=stride, width=width, pretrained=pretrained)
