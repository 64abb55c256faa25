"""Run a model with its normalization layers on chosen statistics, changing nothing else.

Tasks need this where the statistics a norm uses are a research knob: adv crafts attacks on running or
batch statistics (``task.attack_norm_mode``), fsl evaluates episodes on running or episode statistics
(``task.eval_norm_mode``). torchattacks switches modes itself: the whole model to eval, or, with ``set_model_training_mode``, norm
layers found by ``"BatchNorm" in class name`` — which misses BGN, GN and every other normsuite norm. Here
the switch is explicit and generic: a layer is a norm when ``norms.is_norm_layer`` says so (every
registered normsuite class, torch's BatchNorm/InstanceNorm/GroupNorm and their subclasses, timm's
LayerNorm2d), never by its name.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

import norms

NORM_MODES = ("eval", "train")


def normalization_layers(model: nn.Module) -> list[nn.Module]:
    """Every module of ``model`` that ``norms.is_norm_layer`` accepts, in module order."""
    return [module for module in model.modules() if norms.is_norm_layer(module)]


@contextmanager
def norms_in_mode(model: nn.Module, mode: str) -> Iterator[nn.Module]:
    """Inside: ``model`` in eval mode except its norm layers, which run in ``mode`` ("eval" or "train").

    ``mode="eval"``: norms use their running statistics (the function the model computes at test time).
    ``mode="train"``: norms use the statistics of the batch going through (the function the training
    loss sees). Every other module (dropout, ...) is in eval mode, so the function is deterministic.

    On exit, also after an error: every norm layer's buffers (``running_mean``, ``running_var``,
    ``num_batches_tracked``, whatever a registered norm keeps) are restored bit for bit, so the
    forward passes inside never move the running statistics, and every module's ``training``
    flag is what it was.
    """
    if mode not in NORM_MODES:
        raise ValueError(f"norm mode must be one of {', '.join(NORM_MODES)}, got {mode!r}")
    training_flags = [(module, module.training) for module in model.modules()]
    layers = normalization_layers(model)
    saved_buffers = [(buffer, buffer.detach().clone()) for layer in layers for buffer in layer.buffers(recurse=False)]
    try:
        model.eval()
        for layer in layers:
            # Only the layer's own flag: a fused norm+activation layer's dropout stays in eval mode.
            layer.training = mode == "train"
        yield model
    finally:
        with torch.no_grad():
            for buffer, saved in saved_buffers:
                buffer.copy_(saved)
        for module, flag in training_flags:
            module.training = flag
