"""Opt-in speed-ups of the model a run trains: ``trainer.compile`` and ``trainer.channels_last``.

``trainer.compile=true`` compiles the networks of the LightningModule with `torch.compile` (backend
``trainer.compile_backend``, default inductor) through `nn.Module.compile`, which compiles a module's
forward in place: parameter names, and so checkpoints and ``resume=``, stay those of the eager model
(no ``_orig_mod.`` prefix). The first steps are slow (compilation); later ones faster on GPUs. Tasks
say whether they support it (`suite.task.Task.supports_compile`; nas does not).
``trainer.channels_last=true`` stores the model's 4-D weights channels-last (NHWC); convolutions then
give channels-last outputs, which tensor-core convolutions and some norms prefer.
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn


def networks(module: nn.Module) -> list[nn.Module]:
    """The children of `module` that hold parameters, leaving out any that sit inside another one
    (DANN keeps its backbone both inside the feature extractor and as an attribute)."""
    children = [child for child in module.children() if next(child.parameters(), None) is not None]
    nested = {id(sub) for child in children for sub in child.modules() if sub is not child}
    return [child for child in children if id(child) not in nested]


class Acceleration(pl.Callback):
    """Applies ``trainer.channels_last`` and ``trainer.compile`` to the module at setup, once."""

    def __init__(self, compile: bool = False, channels_last: bool = False, backend: str = "inductor"):
        self.compile = compile
        self.channels_last = channels_last
        self.backend = backend
        self.done: set[int] = set()

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if id(pl_module) in self.done:
            return
        self.done.add(id(pl_module))
        if self.channels_last:
            pl_module.to(memory_format=torch.channels_last)
        if self.compile:
            for network in networks(pl_module):
                network.compile(backend=self.backend)
