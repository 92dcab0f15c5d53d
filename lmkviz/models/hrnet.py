"""HRNet (High-Resolution Network) with a heatmap head.

HRNet keeps a 1/4-resolution branch from start to end and adds a 1/8, 1/16 and
1/32 branch stage by stage (stages 2, 3, 4). Each stage is a few
*high-resolution modules*: every branch runs its own residual blocks, then
every branch receives the sum of all branches resampled to its resolution
(*fusion*): a 1x1 conv + BN followed by nearest upsampling from a coarser
branch, a chain of strided 3x3 conv + BN from a finer one.

After stage 4 the coarser branches are upsampled (bilinear) to 1/4 and
concatenated (18 + 36 + 72 + 144 = 270 channels for W18). A binary-heatmap
head (1x1 conv 270 -> 270 without bias, BN, ReLU, 1x1 conv 270 -> K without
bias) turns this into K heatmaps.

``hrnet18`` follows HRNet-W18 as used for face alignment by H3R
(``torchalign/backbone/hrnet.py``): 9,637,050 parameters with K = 5.
``hrnet18_small`` (1.5 M) and ``hrnet18_small_v2`` (3.9 M) are the lighter
W18-small layouts, for training on a laptop CPU.

Shapes: ``images`` (N, 3, H, W) float RGB in [0, 1] -> heatmaps
(N, K, H / 4, W / 4), raw. Any ``H, W`` works; multiples of 32 give exact sizes.

Variants are plain dicts in ``HRNET_CONFIGS``; this file needs only torch.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HRNET_CONFIGS", "HRNet", "hrnet18", "hrnet18_small", "hrnet18_small_v2"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# stem: channels of the two stride-2 3x3 convolutions.
# stage1: Bottleneck blocks at 1/4 (output width * 4 channels).
# stage2..4: high-resolution modules, BasicBlocks per branch, branch widths.
HRNET_CONFIGS = {
    "hrnet18": dict(
        stem=64,
        stage1=dict(num_blocks=4, width=64),
        stage2=dict(num_modules=1, num_blocks=(4, 4), widths=(18, 36)),
        stage3=dict(num_modules=4, num_blocks=(4, 4, 4), widths=(18, 36, 72)),
        stage4=dict(num_modules=3, num_blocks=(4, 4, 4, 4), widths=(18, 36, 72, 144)),
    ),
    # W18-small (v1) layout: one module per stage, two blocks per branch, a
    # single narrow Bottleneck in stage 1 and branches of 16-32-64-128.
    "hrnet18_small": dict(
        stem=64,
        stage1=dict(num_blocks=1, width=32),
        stage2=dict(num_modules=1, num_blocks=(2, 2), widths=(16, 32)),
        stage3=dict(num_modules=1, num_blocks=(2, 2, 2), widths=(16, 32, 64)),
        stage4=dict(num_modules=1, num_blocks=(2, 2, 2, 2), widths=(16, 32, 64, 128)),
    ),
    # W18-small-v2 layout: W18's widths and module counts 1/1/3/2 with two blocks
    # per branch; between the two above in size and speed.
    "hrnet18_small_v2": dict(
        stem=64,
        stage1=dict(num_blocks=2, width=64),
        stage2=dict(num_modules=1, num_blocks=(2, 2), widths=(18, 36)),
        stage3=dict(num_modules=3, num_blocks=(2, 2, 2), widths=(18, 36, 72)),
        stage4=dict(num_modules=2, num_blocks=(2, 2, 2, 2), widths=(18, 36, 72, 144)),
    ),
}

Pretrained = Union[bool, str]


# --------------------------------------------------------------------------- blocks


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
            relu: bool = True) -> nn.Sequential:
    """Convolution (no bias, 'same' padding), BatchNorm and optionally an in-place ReLU."""
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN with a residual connection; (N, C_in, H, W) -> (N, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = conv_bn(in_channels, out_channels)
        self.conv2 = conv_bn(out_channels, out_channels, relu=False)
        self.shortcut = (nn.Identity() if in_channels == out_channels
                         else conv_bn(in_channels, out_channels, 1, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        out += self.shortcut(x)
        return out.relu_()


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 expansion) with a residual; (N, C_in, H, W) -> (N, 4 width, H, W)."""

    expansion = 4

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = conv_bn(in_channels, width, 1)
        self.conv2 = conv_bn(width, width)
        self.conv3 = conv_bn(width, out_channels, 1, relu=False)
        self.shortcut = (nn.Identity() if in_channels == out_channels
                         else conv_bn(in_channels, out_channels, 1, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        out += self.shortcut(x)
        return out.relu_()


# --------------------------------------------------------------------------- multi-resolution


class Transition(nn.Module):
    """From one stage's branches to the next stage's: adapt widths, add one coarser branch.

    Existing branches pass through (or get a 3x3 conv-BN-ReLU when the width
    changes); each new branch is made from the coarsest input by stride-2 3x3
    conv-BN-ReLU steps.
    """

    def __init__(self, in_widths: Sequence[int], out_widths: Sequence[int]):
        super().__init__()
        layers = []
        for i, width in enumerate(out_widths):
            if i < len(in_widths):
                layers.append(nn.Identity() if in_widths[i] == width else conv_bn(in_widths[i], width))
            else:
                steps = i + 1 - len(in_widths)
                chain = [conv_bn(in_widths[-1], in_widths[-1], stride=2) for _ in range(steps - 1)]
                chain.append(conv_bn(in_widths[-1], width, stride=2))
                layers.append(nn.Sequential(*chain))
        self.layers = nn.ModuleList(layers)
        self.num_inputs = len(in_widths)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [layer(xs[min(i, self.num_inputs - 1)]) for i, layer in enumerate(self.layers)]


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by all-to-all fusion.

    xs: list of B tensors, branch b of shape (N, widths[b], H / 2^b, W / 2^b)
    (rounded up) -> list of B tensors of the same shapes.
    """

    def __init__(self, widths: Sequence[int], num_blocks: Sequence[int]):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*[BasicBlock(width, width) for _ in range(n)])
            for width, n in zip(widths, num_blocks)
        )
        # fuse[i][j] brings branch j to branch i's resolution and width.
        fuse = []
        for i, target in enumerate(widths):
            row = []
            for j, source in enumerate(widths):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:   # coarser: 1x1 conv + BN here, nearest upsampling in forward
                    row.append(conv_bn(source, target, 1, relu=False))
                else:         # finer: (i - j) stride-2 3x3 convs, ReLU between them
                    chain = [conv_bn(source, source, stride=2) for _ in range(i - j - 1)]
                    chain.append(conv_bn(source, target, stride=2, relu=False))
                    row.append(nn.Sequential(*chain))
            fuse.append(nn.ModuleList(row))
        self.fuse = nn.ModuleList(fuse)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        fused = []
        for i, row in enumerate(self.fuse):
            size = xs[i].shape[-2:]
            terms = []
            for j, layer in enumerate(row):
                term = layer(xs[j])
                if j > i:
                    term = F.interpolate(term, size=size, mode="nearest")
                terms.append(term)
            y = terms[0] + terms[1]      # a new tensor, safe to update in place
            for term in terms[2:]:
                y += term
            fused.append(y.relu_())
        return fused


# --------------------------------------------------------------------------- model


class HRNet(nn.Module):
    """HRNet backbone + binary-heatmap head -> (N, K, H / 4, W / 4) heatmaps.

    num_points: K. config: one entry of ``HRNET_CONFIGS`` (or a dict like it).
    """

    stride = 4

    def __init__(self, num_points: int, config: dict):
        super().__init__()
        self.num_points = num_points
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        stem = config["stem"]
        self.stem = nn.Sequential(conv_bn(3, stem, stride=2), conv_bn(stem, stem, stride=2))

        stage1 = config["stage1"]
        blocks, channels = [], stem
        for _ in range(stage1["num_blocks"]):
            blocks.append(Bottleneck(channels, stage1["width"]))
            channels = stage1["width"] * Bottleneck.expansion
        self.layer1 = nn.Sequential(*blocks)

        widths = [channels]
        transitions, stages = [], []
        for name in ("stage2", "stage3", "stage4"):
            stage = config[name]
            transitions.append(Transition(widths, stage["widths"]))
            widths = list(stage["widths"])
            stages.append(nn.Sequential(*[
                HighResolutionModule(widths, stage["num_blocks"])
                for _ in range(stage["num_modules"])
            ]))
        self.transitions = nn.ModuleList(transitions)
        self.stages = nn.ModuleList(stages)

        features = sum(widths)
        self.head = nn.Sequential(
            nn.Conv2d(features, features, 1, bias=False),
            nn.BatchNorm2d(features),
            nn.ReLU(inplace=True),
            nn.Conv2d(features, num_points, 1, bias=False),
        )
        self.num_features = features

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.head[-1].weight, std=0.001)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, 3, H, W) in [0, 1] -> (N, sum(widths), H / 4, W / 4) features."""
        x = self.layer1(self.stem((images - self.mean) / self.std))
        xs = [x]
        for transition, stage in zip(self.transitions, self.stages):
            xs = stage(transition(xs))
        size = xs[0].shape[-2:]
        upsampled = [F.interpolate(x, size=size, mode="bilinear", align_corners=False)
                     for x in xs[1:]]
        return torch.cat([xs[0], *upsampled], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, 3, H, W) RGB in [0, 1] -> (N, K, H / 4, W / 4)."""
        return self.head(self.forward_features(images))


# --------------------------------------------------------------------------- factories


def _create(variant: str, num_points: int, pretrained: Pretrained) -> HRNet:
    if pretrained is True:
        raise ValueError(
            f"{variant}: no pretrained weights are available for this model; "
            "pass pretrained=False (or 'auto') to train from scratch."
        )
    if pretrained not in (False, "auto"):
        raise ValueError(f"{variant}: pretrained must be True, False or 'auto', got {pretrained!r}.")
    return HRNet(num_points, HRNET_CONFIGS[variant])


def hrnet18(num_points: int, pretrained: Pretrained = "auto") -> HRNet:
    """HRNet-W18 (modules 1/1/4/3, 4 blocks per branch) + binary head; stride 4."""
    return _create("hrnet18", num_points, pretrained)


def hrnet18_small(num_points: int, pretrained: Pretrained = "auto") -> HRNet:
    """HRNet-W18-small (1 module per stage, 2 blocks per branch, 16-128 wide); stride 4."""
    return _create("hrnet18_small", num_points, pretrained)


def hrnet18_small_v2(num_points: int, pretrained: Pretrained = "auto") -> HRNet:
    """HRNet-W18-small-v2 (modules 1/1/3/2, 2 blocks per branch, 18-144 wide); stride 4."""
    return _create("hrnet18_small_v2", num_points, pretrained)
