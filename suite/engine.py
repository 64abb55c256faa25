"""The one training engine: a PyTorch Lightning Trainer built from the ``trainer`` config."""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch.distributed as dist
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.plugins import LayerSync
from torch import nn

import norms
from suite.acceleration import Acceleration
from suite.distributed import world_size
from suite.history import EpochHistory
from suite.norm_batch import NormBatchSize
from suite.timing import LoopTimer
from suite.training_progress import TrainingProgress


class EvaluateRankZeroBuffers(Callback):
    """Under DDP, test with rank 0's buffers (running statistics) on every process: those are the ones
    its checkpoint holds, while each process's own last update saw only its shard of the batch."""

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size > 1:
            for buffer in pl_module.buffers():
                dist.broadcast(buffer, src=0)


# ``trainer.<key>`` values handed to `pl.Trainer` as they are.
TRAINER_KEYS = ("max_epochs", "accelerator", "devices", "num_nodes", "strategy", "precision", "deterministic",
                "gradient_clip_val", "log_every_n_steps", "enable_progress_bar", "limit_train_batches",
                "limit_val_batches", "limit_test_batches")


class SynchronizedNorms(LayerSync):
    """Lightning's layer-sync plugin for ``trainer.sync_norms=true``: ``norms.convert_sync`` on every bn and
    bgn layer (Lightning's own ``sync_batchnorm`` gives torch's CUDA-only SyncBatchNorm and misses bgn).
    ``revert`` keeps the synchronized layers: with one process or in eval mode they are the plain layers,
    and their state_dict keys are the same."""

    def apply(self, model: nn.Module) -> nn.Module:
        return norms.convert_sync(model)

    def revert(self, model: nn.Module) -> nn.Module:
        return model


def build_trainer(trainer_cfg, checkpoint_dir: Path, logger, trainer_class: type[pl.Trainer] = pl.Trainer,
                  callbacks: tuple[pl.Callback, ...] = (), **overrides) -> pl.Trainer:
    """A Trainer for one phase of a run.

    Checkpoints are the session's (`suite.checkpoints.RunCheckpoint`, among `callbacks`), not
    Lightning's ModelCheckpoint; results are measured on the final weights.
    `overrides` replace config values (e.g. ``max_epochs`` for a task's second phase);
    `trainer_class` is a `pl.Trainer` subclass where a library needs its own (NNI's traced Trainer);
    `callbacks` are added to the suite's own (the run's model options, e.g. weight standardization).
    ``trainer.strategy=ddp`` runs ``devices × num_nodes`` processes; with ``trainer.sync_norms=true`` and
    more than one, bn and bgn use global-batch statistics (`SynchronizedNorms`).
    """
    options = {key: trainer_cfg[key] for key in TRAINER_KEYS}
    options.update(
        num_sanity_val_steps=0,
        enable_model_summary=False,
        default_root_dir=str(checkpoint_dir.parent),
    )
    options.update(overrides)
    # Schedules in norms (brn's warm-up) follow the run's progress; LoopTimer logs time/epoch_s and startup;
    # EpochHistory writes each epoch's metrics beside the phase's checkpoints.
    callbacks = [TrainingProgress(), EvaluateRankZeroBuffers(), LoopTimer(), EpochHistory(checkpoint_dir),
                 *callbacks]
    plugins = [SynchronizedNorms()] if trainer_cfg.sync_norms and world_size(trainer_cfg) > 1 else []
    if trainer_cfg.get("norm_batch_size"):
        callbacks.append(NormBatchSize(trainer_cfg.norm_batch_size))  # ghost batches: suite/norm_batch.py
    if trainer_cfg.compile or trainer_cfg.channels_last:  # last: after the callbacks that change the model
        callbacks.append(Acceleration(trainer_cfg.compile, trainer_cfg.channels_last, trainer_cfg.compile_backend))
    return trainer_class(logger=logger if logger is not None else False, callbacks=callbacks, plugins=plugins,
                         enable_checkpointing=False, **options)
