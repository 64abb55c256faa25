"""``model.weight_standardization=true``: every convolution of the task's model standardizes its weight."""
from __future__ import annotations

import logging

import pytorch_lightning as pl

import norms

log = logging.getLogger(__name__)


class WeightStandardization(pl.Callback):
    """Applies `norms.standardize_weights` to the module being trained, whatever the task.

    Lightning calls ``setup`` before it restores a checkpoint and before it builds the optimizer, so a
    resumed run loads the standardized convolutions' state and the optimizer sees their parameters.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        count = norms.standardize_weights(pl_module)
        log.info("weight standardization on %d convolutions of %s", count, type(pl_module).__name__)


def callbacks(model_cfg) -> list[pl.Callback]:
    """The callbacks ``model.weight_standardization`` asks for (none when false or absent)."""
    return [WeightStandardization()] if model_cfg.get("weight_standardization", False) else []
