"""Which statistics batch-dependent norms use when a few-shot model is evaluated (``task.eval_norm_mode``).

``running`` (default; Lightning's eval mode): the running statistics gathered while training, so a
query's prediction depends only on the support set and itself.
``episode``: the statistics of the evaluated episode itself (support and query forwarded as one
batch), which is transductive: a query's prediction also depends on the other queries.

The switch is `suite.norm_modes.norms_in_mode(model, "train")`: norm layers in train mode, everything else
in eval, every norm buffer restored on exit (task adv crafts attacks with the same switch).
"""
from __future__ import annotations

import contextlib

from torch import nn

from suite.norm_modes import norms_in_mode

EVAL_NORM_MODES = ("running", "episode")


def evaluation_statistics(model: nn.Module, eval_norm_mode: str) -> contextlib.AbstractContextManager:
    """The context for evaluating `model` under ``task.eval_norm_mode``; neither changes the model."""
    if eval_norm_mode == "episode":
        return norms_in_mode(model, "train")
    if eval_norm_mode == "running":
        return contextlib.nullcontext(model)
    raise ValueError(f"unknown eval_norm_mode '{eval_norm_mode}': choose one of {', '.join(EVAL_NORM_MODES)}")
