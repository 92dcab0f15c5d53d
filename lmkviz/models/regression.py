"""Direct coordinate regression: a ResNet-18 and a linear layer that outputs (x, y) per landmark.

The baseline the heatmap approach is measured against (the fastai keypoint tutorial the
blog post starts from): torchvision's ResNet-18 trunk down to 1/32 of the input,
global average pooling, and one linear layer with ``2 K`` outputs. No heatmaps: the
spatial layout is pooled away, and the network must *compute* each coordinate from
512 numbers.

Shapes: ``images`` (N, 3, H, W) float RGB in [0, 1] -> points (N, K, 2), each as a
fraction of the input's width and height (x / W, y / H: 0 and 1 are the image edges,
0.5 its centre, in the lmkviz convention). :class:`lmkviz.codecs.RegressionCodec`
turns these into input pixels and back. The linear layer starts at tiny weights (std 0.001) and a
bias of 0.5, so an untrained model predicts every point near the image centre.

``stride`` is 32: the resolution of the last feature map before pooling (there is no
output map). ``outputs = "points"`` tells the training code the output is coordinates.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18

from lmkviz.models.unet_resnet18 import IMAGENET_MEAN, IMAGENET_STD, Pretrained, imagenet_resnet18_state_dict

__all__ = ["ResNet18Regression", "resnet18_regression"]


class ResNet18Regression(nn.Module):
    """ResNet-18 + global average pooling + linear -> (N, K, 2) points as fractions of (W, H).

    num_points: K. pretrained: "auto" (ImageNet weights for the trunk when they can be had),
    True (required) or False (from scratch).
    """

    stride = 32
    outputs = "points"

    def __init__(self, num_points: int, pretrained: Pretrained = "auto"):
        super().__init__()
        if pretrained not in (True, False, "auto"):
            raise ValueError(f"resnet18_regression: pretrained must be True, False or 'auto', got {pretrained!r}.")
        self.num_points = num_points
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        trunk = resnet18(weights=None)
        if pretrained:
            state_dict = imagenet_resnet18_state_dict(required=pretrained is True)
            if state_dict is not None:
                trunk.load_state_dict(state_dict)
        self.stem = nn.Sequential(trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool)  # 1/4
        self.layer1, self.layer2 = trunk.layer1, trunk.layer2  # 1/4, 1/8
        self.layer3, self.layer4 = trunk.layer3, trunk.layer4  # 1/16, 1/32, 512 channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(512, 2 * num_points)
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.constant_(self.head.bias, 0.5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (N, 3, H, W) RGB in [0, 1] -> (N, K, 2) (x / W, y / H)."""
        x = (images - self.mean) / self.std
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.head(self.pool(x).flatten(1)).view(-1, self.num_points, 2)


def resnet18_regression(num_points: int, pretrained: Pretrained = "auto") -> ResNet18Regression:
    """ResNet-18 trunk + linear head regressing (x, y) directly (the blog's baseline)."""
    return ResNet18Regression(num_points, pretrained=pretrained)
