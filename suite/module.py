"""The LightningModule base every task's model derives from."""
from __future__ import annotations

import pytorch_lightning as pl
import torch

from torch import nn

from suite.divergence import DivergenceGuard
from suite.optim import build_optimizer, cosine_with_warmup, scale_learning_rate
from suite.transfer import CHECKPOINT_KEY


class TaskModule(pl.LightningModule):
    """Owns what every task shares: the optimizer and cosine schedule from the
    ``optim`` config node, and a guard that stops training with `suite.errors.TrainingDiverged`
    when the loss stops being finite (never a silent NaN). The guard accumulates on the device and is
    read every ``trainer.log_every_n_steps`` steps, before validation and at each epoch's end, so no step
    waits for it.

    Subclasses write their own ``training_step`` (returning the loss) and evaluation
    steps, logging with the suite's metric names (``train/loss``, ``val/acc``, ...), and
    override `make_optimizer` or `make_schedule` only where their task's recipe differs.

    For ``model.init`` (`suite.transfer`) a subclass names its parts in `transfer_parts`; the names are
    saved in its checkpoints, so a later run knows which weights are the backbone. ``backbone_lr_mult``
    scales the learning rate of `backbone_parameters`; ``frozen_norms`` stay in eval mode while training.
    """

    backbone_lr_mult: float = 1.0
    frozen_norms: tuple[str, ...] = ()

    def __init__(self, optim_cfg, batch_size: int):  # batch_size: per device
        super().__init__()
        self.optim_cfg = optim_cfg
        self.batch_size = batch_size
        self.divergence = DivergenceGuard()

    def configure_optimizers(self):
        optimizer = self.make_optimizer()
        total_steps = int(self.trainer.estimated_stepping_batches)
        warmup_steps = int(self.optim_cfg.warmup_fraction * total_steps)
        scheduler = self.make_schedule(optimizer, total_steps, warmup_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def make_optimizer(self) -> torch.optim.Optimizer:
        """The ``optim`` node's optimizer over every trainable parameter, the backbone's at
        ``backbone_lr_mult`` times the rate; override to adjust its groups."""
        # Under DDP one step averages the gradients of every process's batch: scale by the global batch.
        optimizer = build_optimizer(self, self.optim_cfg, self.batch_size * self.trainer.world_size)
        if self.backbone_lr_mult != 1.0:
            scale_learning_rate(optimizer, self.backbone_parameters(), self.backbone_lr_mult)
        return optimizer

    def transfer_parts(self) -> tuple[str, str | None] | None:
        """(backbone, head): qualified names of the submodule ``model.init`` loads and of the classifier
        inside or beside it, loaded only where its shape fits (None: no head); None: nothing transfers."""
        return None

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The backbone's parameters without its head's (what ``backbone_lr_mult`` scales)."""
        parts = self.transfer_parts()
        if parts is None:
            return []
        backbone, head = parts
        in_head = {id(p) for p in self.get_submodule(head).parameters()} if head else set()
        return [p for p in self.get_submodule(backbone).parameters() if id(p) not in in_head]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        parts = self.transfer_parts()
        if parts is not None:
            checkpoint[CHECKPOINT_KEY] = {"backbone": parts[0], "head": parts[1]}

    def train(self, mode: bool = True) -> "TaskModule":
        """``nn.Module.train``, but the ``frozen_norms`` stay in eval mode (running statistics used, not updated)."""
        super().train(mode)
        for name in self.frozen_norms:
            self.get_submodule(name).eval()
        return self

    def make_schedule(self, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
        """The per-step learning-rate schedule: linear warm-up, then cosine decay; override for a
        task's own (DANN's annealing, say)."""
        return cosine_with_warmup(optimizer, total_steps, warmup_steps)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        self.divergence.update(loss, self.global_step)
        if (batch_idx + 1) % self.trainer.log_every_n_steps == 0:
            self.divergence.check()

    def on_validation_start(self) -> None:
        self.divergence.check()  # before a diverged model is validated and its checkpoint written

    def on_train_epoch_end(self) -> None:
        self.divergence.check()
