"""The finite-loss guard, kept on the device so that training never waits for it at a step."""
from __future__ import annotations

import torch

from suite.errors import TrainingDiverged


class DivergenceGuard:
    """Remembers the first step whose loss was NaN or infinite, and that loss, as device tensors.

    `update` (every step) queues three small device operations and never reads a value back, so the
    host keeps running ahead of the device; `check` (every few steps and at epoch end) reads the
    remembered step once and raises `TrainingDiverged` if there is one.
    """

    def __init__(self):
        self.first_step: torch.Tensor | None = None
        self.first_value: torch.Tensor | None = None

    def update(self, loss: torch.Tensor, step: int) -> None:
        """Note `loss` (a scalar tensor) of training step `step`."""
        loss = loss.detach().float()
        if self.first_step is None:
            self.first_step = torch.full((), -1, dtype=torch.int64, device=loss.device)
            self.first_value = torch.zeros((), device=loss.device)
        first = (self.first_step < 0) & ~torch.isfinite(loss)
        self.first_step = torch.where(first, step, self.first_step)
        self.first_value = torch.where(first, loss, self.first_value)

    def check(self) -> None:
        """Raise `TrainingDiverged` if any loss noted so far was not finite (one host read)."""
        if self.first_step is None:
            return
        step = int(self.first_step)
        if step >= 0:
            raise TrainingDiverged(
                f"train/loss became {self.first_value.item()} at step {step}: lower task.optim.lr, "
                f"raise the norm's eps, or use a larger data.batch_size"
            )
