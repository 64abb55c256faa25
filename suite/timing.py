"""Wall-clock figures of a run's training loop, logged as metrics (metrics.json and W&B).

``time/first_step_s``: seconds from the process's launch to the start of the first training step
(imports, config, data, model, trainer setup). ``time/epoch_s``: seconds of the latest training epoch,
validation included (Lightning validates before ``on_train_epoch_end``), and ``time/epoch_cpu_s`` the CPU seconds this
process spent in it (steadier than wall time on a shared machine); `benchmarks.loop` compares them with
a bare PyTorch loop.
"""
from __future__ import annotations

import time

import psutil
import pytorch_lightning as pl
import torch


def _synchronize(device: torch.device) -> None:
    """Wait for queued device work so that wall time covers it (once per epoch, never per step)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class LoopTimer(pl.Callback):
    """Logs ``time/first_step_s``, ``time/epoch_s`` and ``time/epoch_cpu_s`` at every training epoch's end."""

    def __init__(self):
        self.launched = psutil.Process().create_time()
        self.first_step_s: float | None = None
        self.epoch_started = (0.0, 0.0)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _synchronize(pl_module.device)
        self.epoch_started = (time.perf_counter(), time.process_time())

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self.first_step_s is None:
            self.first_step_s = time.time() - self.launched

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _synchronize(pl_module.device)
        wall, cpu = self.epoch_started
        times = {"time/epoch_s": time.perf_counter() - wall, "time/epoch_cpu_s": time.process_time() - cpu}
        if self.first_step_s is not None:
            times["time/first_step_s"] = self.first_step_s
        pl_module.log_dict(times, on_step=False, on_epoch=True)
