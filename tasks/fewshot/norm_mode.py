"""Which statistics batch-dependent norms use when a few-shot model is evaluated.

``running`` (Lightning's eval mode): the running statistics gathered while training.
``episode``: the statistics of the evaluated episode itself (support and query in one batch), which
is transductive: a query's prediction depends on the other queries of its episode.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from norms import BatchGroupNorm

EVAL_NORM_MODES = ("running", "episode")
BATCH_STATISTICS_NORMS = (_BatchNorm, BatchGroupNorm)  # torch/normsuite BatchNorm and Batch Group Norm


def batch_statistics_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose output depends on the batch when in train mode (bn, bgn)."""
    return [module for module in model.modules() if isinstance(module, BATCH_STATISTICS_NORMS)]


@contextlib.contextmanager
def episode_statistics(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block, only the batch-statistics norms of `model` are in train mode, so they normalize
    with the statistics of the batch they see; their running statistics (and ``num_batches_tracked``)
    are restored on exit, so evaluation never changes the model. Every other module keeps its mode
    (dropout stays off in eval). Norms without batch statistics (gn, ln, in, pn, none) are unaffected.
    """
    layers = batch_statistics_layers(model)
    modes = [layer.training for layer in layers]
    saved = [{name: buffer.clone() for name, buffer in layer.named_buffers(recurse=False) if buffer is not None}
             for layer in layers]
    try:
        for layer in layers:
            layer.train(True)
        yield model
    finally:
        with torch.no_grad():
            for layer, mode, buffers in zip(layers, modes, saved):
                layer.train(mode)
                for name, value in buffers.items():
                    getattr(layer, name).copy_(value)


def evaluation_statistics(model: nn.Module, eval_norm_mode: str) -> contextlib.AbstractContextManager:
    """The context for evaluating `model` under ``task.eval_norm_mode``."""
    if eval_norm_mode == "episode":
        return episode_statistics(model)
    if eval_norm_mode == "running":
        return contextlib.nullcontext(model)
    raise ValueError(f"unknown eval_norm_mode '{eval_norm_mode}': choose one of {', '.join(EVAL_NORM_MODES)}")
