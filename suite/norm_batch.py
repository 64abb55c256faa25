"""The normalization batch (``trainer.norm_batch_size=k``): ghost batches applied to the model being trained.

With the optimizer batch fixed (``data.batch_size``), every batch-statistics norm (bn, bgn, brn,
evonorm_b0) computes its training statistics over chunks of k images (``norms.ghost_batches``): same
steps, same learning rate, only the statistics change. Per-sample norms are untouched. null (default):
statistics over the whole batch, as without this key.
"""
from __future__ import annotations

import pytorch_lightning as pl

import norms


class NormBatchSize(pl.Callback):
    """At ``setup`` (before the optimizer, any checkpoint restore and the first batch) wrap the module's
    batch-statistics layers in ``norms.GhostBatch(layer, chunk_size)``; idempotent across fit and test."""

    def __init__(self, chunk_size: int):
        self.chunk_size = chunk_size

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        norms.ghost_batches(pl_module, self.chunk_size)
