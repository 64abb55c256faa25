"""``model.name=small_cnn``: a small convolutional classifier for PGD training on a CPU budget."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


class SmallConvNet(nn.Module):
    """Blocks of 3x3 convolution (stride 2) -> norm -> ReLU, global average pooling, a linear classifier.

    PGD training costs ``steps + 1`` forward/backward passes per batch; timm's ResNet-18 on 40x40 digits
    took about 8x longer per pass than this net on 2 CPU cores, too slow for `adv`'s 10-minute digits
    budget. Each block halves H and W: the default widths (32, 64, 128) turn 40x40 digits into 5x5 maps,
    enough positions for per-sample statistics (IN, GN).

    Args:
        in_channels: C of the input; num_classes: K.
        norm_layer: ``norm_layer(num_channels)`` factory (``suite.models.norm_layer_from_config``).
        widths: output channels of the blocks, default (32, 64, 128).

    Shape: input (N, C, H, W), already normalized; output logits (N, K).
    """

    def __init__(self, in_channels: int, num_classes: int, norm_layer: Callable[[int], nn.Module],
                 widths: Sequence[int] = (32, 64, 128)):
        super().__init__()
        blocks, channels = [], in_channels
        for width in widths:
            blocks += [nn.Conv2d(channels, width, 3, stride=2, padding=1), norm_layer(width), nn.ReLU(inplace=True)]
            channels = width
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images).mean(dim=(2, 3)))
