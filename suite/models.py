"""Model pieces shared by tasks: input normalization and timm backbones with a chosen norm."""
from __future__ import annotations

import logging

import timm
import torch
from torch import nn

import norms
from suite.errors import UserError

log = logging.getLogger(__name__)


class InputNormalization(nn.Module):
    """(x - mean) / std per channel, inside the model.

    Models take images in [0, 1] (N, C, H, W) so that attacks, augmentations and
    visualisations work in pixel space; the dataset's statistics live here.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


def norm_options(norm_cfg) -> dict:
    """The keyword arguments of a ``norm`` config node (everything but its name)."""
    return {key: value for key, value in dict(norm_cfg).items() if key != "name"}


def norm_layer_from_config(norm_cfg):
    """A ``norm_layer(num_channels)`` factory for the configured norm."""
    return norms.norm_layer(norm_cfg.name, **norm_options(norm_cfg))


def check_model_name(name: str, built_in: tuple[str, ...] = ()) -> None:
    """UserError unless `name` is one of a task's `built_in` models or a timm model."""
    if name in built_in or timm.is_model(name):
        return
    kind = "model" if built_in else "timm model"
    choices = " or ".join([*(f"model.name={model}" for model in built_in), "a name from timm.list_models()"])
    raise UserError(f"unknown {kind} '{name}': set {choices}")


def build_timm_model(model_cfg, norm_cfg, in_chans: int, num_classes: int) -> nn.Module:
    """A timm model (``model.name``) whose every norm is the configured one.

    The norm goes in through timm's ``norm_layer=`` where the model accepts it (so
    timm builds it where BatchNorm would be); any norm left over, or every norm of a
    model that rejects ``norm_layer``, is swapped by `norms.convert`.
    """
    kwargs = dict(in_chans=in_chans, num_classes=num_classes, pretrained=model_cfg.pretrained,
                  **dict(model_cfg.get("kwargs") or {}))
    try:
        model = timm.create_model(model_cfg.name, norm_layer=norm_layer_from_config(norm_cfg), **kwargs)
        route = "norm_layer"
    except (TypeError, AssertionError, ValueError) as error:
        log.info("timm model %s does not take norm_layer=%s (%s); converting instead",
                 model_cfg.name, norm_cfg.name, error)
        model = timm.create_model(model_cfg.name, **kwargs)
        route = "convert"
    norms.convert(model, norm_cfg.name, **norm_options(norm_cfg))
    log.info("built %s with norm %s via %s", model_cfg.name, norm_cfg.name, route)
    return model
