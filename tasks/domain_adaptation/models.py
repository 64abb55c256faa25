"""DANN's three networks: feature extractor G_f (with the chosen norm), label
classifier G_y and domain discriminator G_d (Ganin et al. 2016, section 5.2.2).

``model.name``: ``dann_cnn`` (the paper's small MNIST network with a third conv
block, for the 40 px digits) or any timm model (e.g. ``resnet50`` for Office-31,
ending in global pooling). ``model.bottleneck`` (> 0) adds a linear + ReLU layer
after the backbone, as the paper's 256-unit bottleneck for Office.
"""
from __future__ import annotations

from torch import nn

from suite.errors import UserError
from suite.models import (InputNormalization, SmallConvNet, build_timm_model, check_model_name,
                          norm_layer_from_config)

SMALL_CNN = "dann_cnn"
SMALL_CNN_MIN_SIZE = 8  # three 2x poolings must leave at least one pixel




def dann_cnn(in_channels: int, image_size: int, norm_layer) -> SmallConvNet:
    """conv5(32)-norm-ReLU-pool, conv5(48)-norm-ReLU-pool, conv3(64)-norm-ReLU-pool, flatten:
    (N, in_channels, S, S) -> (N, 64 * (S // 8)^2), width in ``num_features``. The paper's MNIST
    extractor (32 and 48 filters of 5x5) with padding and a third block for 40 px inputs."""
    network = SmallConvNet(in_channels, None, norm_layer, widths=(32, 48, 64), kernel_sizes=(5, 5, 3),
                           downsample="maxpool", conv_bias=False)
    network.num_features = 64 * (image_size // 8) ** 2
    return network


def mlp(in_features: int, hidden: tuple[int, ...], out_features: int, dropout: float) -> nn.Sequential:
    """Linear-ReLU(-Dropout) blocks for each hidden width, then a linear output layer."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = width
    return nn.Sequential(*layers, nn.Linear(in_features, out_features))


def check_backbone(model_cfg, image_size: int) -> None:
    """UserError for a backbone that does not exist or cannot take `image_size` px images."""
    if model_cfg.name == SMALL_CNN:
        if image_size < SMALL_CNN_MIN_SIZE:
            raise UserError(f"model {SMALL_CNN} needs images of at least {SMALL_CNN_MIN_SIZE} px, got "
                            f"{image_size}; raise data.image_size")
    else:
        check_model_name(model_cfg.name, built_in=(SMALL_CNN,))


def build_feature_extractor(model_cfg, norm_cfg, in_channels: int, image_size: int, mean, std) -> nn.Sequential:
    """G_f: images (N, C, S, S) in [0, 1] -> features (N, num_features); its
    ``num_features`` attribute gives the width. Normalizes with the source statistics."""
    if model_cfg.name == SMALL_CNN:
        backbone = dann_cnn(in_channels, image_size, norm_layer_from_config(norm_cfg))
    else:
        backbone = build_timm_model(model_cfg, norm_cfg, in_channels, num_classes=0)
    layers: list[nn.Module] = [InputNormalization(mean, std), backbone]
    num_features = backbone.num_features
    if model_cfg.bottleneck > 0:
        layers += [nn.Linear(num_features, model_cfg.bottleneck), nn.ReLU()]
        num_features = model_cfg.bottleneck
    extractor = nn.Sequential(*layers)
    extractor.num_features = num_features
    return extractor


def build_label_classifier(model_cfg, num_features: int, num_classes: int) -> nn.Sequential:
    """G_y: features (N, F) -> class logits (N, K); hidden widths ``model.classifier_hidden``."""
    return mlp(num_features, tuple(model_cfg.classifier_hidden), num_classes, model_cfg.dropout)


def build_domain_discriminator(model_cfg, num_features: int) -> nn.Sequential:
    """G_d: features (N, F) -> one logit per sample (N, 1), source = 1; hidden widths
    ``model.discriminator_hidden`` (100 for digits, 1024-1024 for Office in the paper)."""
    return mlp(num_features, tuple(model_cfg.discriminator_hidden), 1, model_cfg.dropout)
