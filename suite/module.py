"""The LightningModule base every task's model derives from."""
from __future__ import annotations

import pytorch_lightning as pl
import torch

from suite.optim import build_optimizer, cosine_with_warmup


class TaskModule(pl.LightningModule):
    """Owns what every task shares: the optimizer and cosine schedule from the
    ``optim`` config node, and a guard that stops training with a clear message as
    soon as the loss stops being finite (never a silent NaN).

    Subclasses write their own ``training_step`` (returning the loss) and evaluation
    steps, logging with the suite's metric names (``train/loss``, ``val/acc``, ...), and
    override `make_optimizer` or `make_schedule` only where their task's recipe differs.
    """

    def __init__(self, optim_cfg, batch_size: int):  # batch_size: per device
        super().__init__()
        self.optim_cfg = optim_cfg
        self.batch_size = batch_size

    def configure_optimizers(self):
        optimizer = self.make_optimizer()
        total_steps = int(self.trainer.estimated_stepping_batches)
        warmup_steps = int(self.optim_cfg.warmup_fraction * total_steps)
        scheduler = self.make_schedule(optimizer, total_steps, warmup_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def make_optimizer(self) -> torch.optim.Optimizer:
        """The ``optim`` node's optimizer over every parameter; override to adjust its groups."""
        # Under DDP one step averages the gradients of every process's batch: scale by the global batch.
        return build_optimizer(self, self.optim_cfg, self.batch_size * self.trainer.world_size)

    def make_schedule(self, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
        """The per-step learning-rate schedule: linear warm-up, then cosine decay; override for a
        task's own (DANN's annealing, say)."""
        return cosine_with_warmup(optimizer, total_steps, warmup_steps)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss):
            raise FloatingPointError(
                f"train/loss became {loss.item()} at step {self.global_step}: lower task.optim.lr, "
                f"raise the norm's eps, or use a larger data.batch_size"
            )
