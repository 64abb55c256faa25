"""Embedding networks for prototypical networks, each with the configured norm.

Both take images (N, C, H, W) already normalized and return embeddings (N, D).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

from torch import nn

import norms

NormLayer = Callable[[int], nn.Module]


def conv_block(in_channels: int, out_channels: int, norm_layer: NormLayer) -> nn.Sequential:
    """3x3 conv (padding 1) -> norm -> ReLU -> 2x2 max-pool: halves H and W."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1),
                         *norms.norm_then_activation(norm_layer, out_channels, nn.ReLU), nn.MaxPool2d(2))


class Conv4(nn.Sequential):
    """The standard few-shot Conv-4 (Vinyals et al. 2016; Snell et al. 2017): four conv blocks of
    `channels` filters (default 64), flattened. Output D = channels * (H // 16) * (W // 16), e.g. 64 for
    28x28 Omniglot, 1600 for 84x84 miniImageNet, 256 for 40x40 digits."""

    def __init__(self, in_channels: int, norm_layer: NormLayer, channels: int = 64):
        widths = [in_channels] + [channels] * 4
        super().__init__(*[conv_block(a, b, norm_layer) for a, b in zip(widths, widths[1:])], nn.Flatten())


class ResidualBlock12(nn.Module):
    """ResNet-12 block (Oreshkin et al. 2018, TADAM; Lee et al. 2019, MetaOptNet): three 3x3 conv ->
    norm stages (leaky ReLU 0.1 between), a 1x1 conv -> norm shortcut, leaky ReLU, 2x2 max-pool.

    With frn/evonorm the first two norm + leaky ReLU pairs are each one layer with its own activation; the
    third and the shortcut norm, before the add, are norms alone, and the leaky ReLU after the add stays."""

    def __init__(self, in_channels: int, out_channels: int, norm_layer: NormLayer):
        super().__init__()
        layers: list[nn.Module] = []
        for index, width in enumerate((in_channels, out_channels, out_channels)):
            layers.append(nn.Conv2d(width, out_channels, 3, padding=1, bias=False))
            # The third norm feeds the residual add (its activation comes after the add): a norm alone.
            layers += (norms.norm_then_activation(norm_layer, out_channels, functools.partial(nn.LeakyReLU, 0.1))
                       if index < 2 else [norm_layer(out_channels)])
        self.residual = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), norm_layer(out_channels))
        self.activation = nn.LeakyReLU(0.1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.activation(self.residual(x) + self.shortcut(x)))


class ResNet12(nn.Sequential):
    """Four `ResidualBlock12` of widths `channels` (default 64, 160, 320, 640), then global average
    pooling: D = channels[-1]."""

    def __init__(self, in_channels: int, norm_layer: NormLayer, channels: Sequence[int] = (64, 160, 320, 640)):
        widths = [in_channels, *channels]
        super().__init__(*[ResidualBlock12(a, b, norm_layer) for a, b in zip(widths, widths[1:])],
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


BACKBONES = {"conv4": Conv4, "resnet12": ResNet12}


def build_backbone(name: str, in_channels: int, norm_layer: NormLayer, channels=None) -> nn.Module:
    """``model.name`` (conv4 | resnet12) with ``model.channels`` (null: the standard widths)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}': choose one of {', '.join(BACKBONES)}")
    kwargs = {} if channels is None else {"channels": channels}
    return BACKBONES[name](in_channels, norm_layer, **kwargs)
