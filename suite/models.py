"""Model pieces shared by tasks: input normalization, the small CNN, and timm backbones with a chosen norm."""
from __future__ import annotations

import logging
from typing import Sequence

import torch
from torch import nn

import norms
from suite.errors import UserError

log = logging.getLogger(__name__)


class InputNormalization(nn.Module):
    """(x - mean) / std per channel, inside the model.

    Models take images in [0, 1] (N, C, H, W) so that attacks, augmentations and
    visualisations work in pixel space; the dataset's statistics live here. Any rank
    (N, C, *) works: volumes (N, C, D, H, W) too.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (images.ndim - 2)
        return (images - self.mean.view(shape)) / self.std.view(shape)


class SmallConvNet(nn.Module):
    """A small CNN for CPU budgets: blocks of k x k convolution -> norm -> ReLU, each halving H and W
    (norm -> ReLU is one `norms.norm_then_activation` pair: frn and evonorm replace both).

    Two tasks use it: adv's ``small_cnn`` (3x3 convolutions with stride 2, widths 32-64-128, then global
    average pooling and a linear classifier; timm's ResNet-18 is about 8x slower per pass on 2 CPU cores,
    too slow for PGD training) and uda's ``dann_cnn`` (DANN's MNIST extractor, Ganin et al. 2016: 5x5,
    5x5, 3x3 convolutions without bias, widths 32-48-64, each block followed by 2x2 max-pooling, features
    flattened).

    Args:
        in_channels: C of the input. num_classes: K, or None for the flattened feature maps.
        norm_layer: ``norm_layer(num_channels)`` factory (`norm_layer_from_config`).
        widths: output channels per block. kernel_sizes: one per block (odd; padded to keep the size).
        downsample: ``"stride"`` (stride-2 convolution) or ``"maxpool"`` (stride 1, then 2x2 max-pooling).
        conv_bias: whether the convolutions have a bias.

    Shape: (N, C, H, W), already normalized -> logits (N, K), or with ``num_classes=None`` features
    (N, widths[-1] * h * w) with h, w = H, W halved per block (``// 2`` for max-pooling, rounded up for
    stride 2).
    """

    def __init__(self, in_channels: int, num_classes: int | None, norm_layer, widths: Sequence[int] = (32, 64, 128),
                 kernel_sizes: Sequence[int] | None = None, downsample: str = "stride", conv_bias: bool = True):
        super().__init__()
        if downsample not in ("stride", "maxpool"):
            raise ValueError(f"downsample must be 'stride' or 'maxpool', got {downsample!r}")
        blocks, channels = [], in_channels
        for width, kernel in zip(widths, kernel_sizes or [3] * len(widths)):
            blocks += [nn.Conv2d(channels, width, kernel, stride=2 if downsample == "stride" else 1,
                                 padding=kernel // 2, bias=conv_bias),
                       *norms.norm_then_activation(norm_layer, width, nn.ReLU)]
            if downsample == "maxpool":
                blocks.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(channels, num_classes) if num_classes is not None else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.features(images)
        if self.classifier is None:
            return maps.flatten(1)
        return self.classifier(maps.mean(dim=(2, 3)))


def norm_options(norm_cfg) -> dict:
    """The keyword arguments of a ``norm`` config node (everything but its name)."""
    return {key: value for key, value in dict(norm_cfg).items() if key != "name"}


def norm_layer_from_config(norm_cfg):
    """A ``norm_layer(num_channels)`` factory for the configured norm."""
    return norms.norm_layer(norm_cfg.name, **norm_options(norm_cfg))


def check_model_name(name: str, built_in: tuple[str, ...] = ()) -> None:
    """UserError unless `name` is one of a task's `built_in` models or a timm model."""
    if name in built_in:
        return
    import timm  # only tasks that use a timm model load it

    if timm.is_model(name):
        return
    kind = "model" if built_in else "timm model"
    choices = " or ".join([*(f"model.name={model}" for model in built_in), "a name from timm.list_models()"])
    raise UserError(f"unknown {kind} '{name}': set {choices}")


def build_timm_model(model_cfg, norm_cfg, in_chans: int, num_classes: int) -> nn.Module:
    """A timm model (``model.name``) whose every norm is the configured one.

    The norm goes in through timm's ``norm_layer=`` where the model accepts it (so
    timm builds it where BatchNorm would be); `norms.convert` swaps the norms timm left
    (layers built without ``norm_layer``), or every norm of a model that rejects it.
    """
    import timm

    kwargs = dict(in_chans=in_chans, num_classes=num_classes, pretrained=model_cfg.pretrained,
                  **dict(model_cfg.get("kwargs") or {}))

    def create(norm_layer):
        return timm.create_model(model_cfg.name, **kwargs, **({"norm_layer": norm_layer} if norm_layer else {}))

    return build_with_norm(create, norm_layer_from_config(norm_cfg), model_cfg.name, norm_cfg)


def build_with_norm(create, norm_argument, model_name: str, norm_cfg) -> nn.Module:
    """``create(norm_argument)``: a library model built with the configured norm where it takes it.

    A model that rejects the argument is built with ``create(None)`` (its own norm), and so is every
    model when the norm includes its activation (frn, evonorm): it must replace norm-activation pairs,
    which only `norms.convert` sees. Then `norms.convert` swaps every norm layer that is not the
    configured one (layers the library built without the argument).
    """
    model, route = None, "convert"
    if not norms.includes_activation(norms.registry.NORMS.get(norm_cfg.name)):
        try:
            model = create(norm_argument)
            route = "its norm argument"
        except (TypeError, AssertionError, ValueError, AttributeError) as error:
            log.info("model %s does not take norm %s as its argument (%s); converting instead",
                     model_name, norm_cfg.name, error)
    if model is None:
        model = create(None)
    left = other_norm_layers(model, norm_cfg.name)
    if left:
        norms.convert(model, norm_cfg.name, **norm_options(norm_cfg))
    log.info("built %s with norm %s via %s; norms.convert swapped %d layers", model_name, norm_cfg.name,
             route, len(left))
    return model


def classifier_layer(model: nn.Module) -> nn.Module:
    """The layer mapping features to class logits: timm's ``get_classifier()``, else the last ``nn.Linear``."""
    for module in model.modules():
        if hasattr(module, "get_classifier"):
            return module.get_classifier()
    linear = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linear:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier")
    return linear[-1]


def other_norm_layers(model: nn.Module, norm_name: str) -> list[str]:
    """Qualified names of the norm layers of `model` that are not the registered class `norm_name`."""
    target = norms.registry.NORMS.get(norm_name)
    return [name for name, module in model.named_modules() if norms.is_norm_layer(module) and type(module) is not target]
