"""Tells the model's norms how far the run has got (``norms.set_training_progress``), every step."""
from __future__ import annotations

import pytorch_lightning as pl

import norms


class TrainingProgress(pl.Callback):
    """Before each training batch: progress = ``trainer.global_step / trainer.estimated_stepping_batches``.

    ``global_step`` counts optimizer steps done and ``estimated_stepping_batches`` the run's total (epochs,
    batch limits and gradient accumulation included), so brn's warm-up, given as fractions of the run,
    ends at the same point of any run length, and a resumed run continues where it stopped.
    """

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        total = trainer.estimated_stepping_batches
        if total and total != float("inf"):
            norms.set_training_progress(pl_module, min(1.0, trainer.global_step / total))
