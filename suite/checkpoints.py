"""Checkpoints from which a killed run continues as if it had never stopped.

`RunCheckpoint` writes ``<run>/checkpoints/<phase>/last.ckpt`` at every epoch end, every
``trainer.checkpoint_every_min`` minutes (checked after each training batch), and when a signal asks
the run to stop (`suite.resume.StopRequest`). A checkpoint is Lightning's (model, optimizers,
schedulers, loop counters) plus the epoch's logged sums and metric states (mid-epoch), and, as the
state of the training loader (`ResumableLoader`, `suite.data.tensor_batches.TensorBatches`), its
`suite.resume.DataOrder` position and the python, numpy, torch and CUDA random states. Resuming is
exact where the training data draws no random numbers of its own in the middle of an epoch (no random
augmentation, or checkpoints at epoch ends with ``data.num_workers=0``); random augmentation in loader
workers is drawn again, from other seeds. A checkpoint is written to a temporary file and renamed over
the previous one, so the last good one is never lost: there is only ever one, complete, per phase.
When the phase's training ends, the metrics it ended with are written to ``done`` beside it (a
resumed run whose phase is done tests its weights and records these), then the checkpoint is rewritten
with the final weights only (no optimizer state), unless ``trainer.keep_checkpoints``. An epoch-end
checkpoint holds that epoch's metrics too: a run killed after its last one, before ``done`` was written,
trains nothing when resumed (Lightning sees the last epoch done) and ends with those.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch.utils.data import BatchSampler, DataLoader
from torchmetrics import Metric

from suite.distributed import agreed_maximum, every_rank, own_state
from suite.errors import Interrupted
from suite.results import atomic_path, write_json_atomic
from suite.resume import DONE, LAST, DataOrder, StopRequest, set_random_states

class SkippingBatchSampler(BatchSampler):
    """A `BatchSampler` that leaves out the first `skip` batches of its next pass (indices only)."""

    skip = 0

    def __iter__(self):
        skip, self.skip = self.skip, 0
        for index, batch in enumerate(super().__iter__()):
            if index >= skip:
                yield batch


class ResumableLoader(DataLoader):
    """The training `DataLoader` (``batch_sampler`` a `SkippingBatchSampler`), stateful for Lightning:
    the `DataOrder` of its generator (worker seeds and shuffling, as ``DataLoader(shuffle=True,
    generator=...)`` draws them) is saved with the fit loop's state. Under DDP, where Lightning puts a
    `DistributedSampler` in the batch sampler (its order set by its epoch, each process its own shard),
    the state also holds the epoch the saved position belongs to: Lightning sets a sampler's epoch only
    after a resumed run has drawn its first batch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_order = DataOrder(self.generator)
        self._resume_epoch: int | None = None

    def __iter__(self):
        if self._resume_epoch is not None:
            self.batch_sampler.sampler.set_epoch(self._resume_epoch)
            self._resume_epoch = None
        self.batch_sampler.skip = self.data_order.start()
        return super().__iter__()

    def state_dict(self) -> dict:
        state = dict(self.data_order.position or {})
        epoch = getattr(self.batch_sampler.sampler, "epoch", None)  # DistributedSampler's
        if state and epoch is not None:
            state["sampler_epoch"] = epoch + (0 if own_state(state)["mid_epoch"] else 1)
        return state

    def load_state_dict(self, state: dict) -> None:
        self._resume_epoch = state.get("sampler_epoch")
        self.data_order.resume_from(state)


def _data_orders(trainer: pl.Trainer) -> list[DataOrder]:
    """The `DataOrder` of every training loader (`ResumableLoader`, `suite.data.tensor_batches.TensorBatches`)."""
    loader = trainer.fit_loop._combined_loader
    loaders = loader.flattened if loader is not None else []
    return [item.data_order for item in loaders if isinstance(getattr(item, "data_order", None), DataOrder)]


def _accumulated(trainer: pl.Trainer) -> dict:
    """The training epoch's metrics logged with ``on_epoch=True`` as a mean or a sum, by key."""
    return {key: metric for key, metric in trainer.fit_loop.epoch_loop._results.items()
            if metric.is_tensor and metric.meta.on_epoch and (metric.meta.is_mean_reduction or metric.meta.is_sum_reduction)}


def epoch_sums(trainer: pl.Trainer) -> dict:
    """What the epoch's logged means and sums hold so far (Lightning keeps it in memory only): a run
    resumed mid-epoch adds it back, so its epoch metrics cover the whole epoch."""
    return {key: {"value": metric.value.detach().cpu(),
                  "count": metric.cumulated_batch_size.detach().cpu() if metric.meta.is_mean_reduction else None}
            for key, metric in _accumulated(trainer).items()}


def add_epoch_sums(trainer: pl.Trainer, sums: dict) -> None:
    for key, metric in _accumulated(trainer).items():
        if key in sums:
            metric.value = metric.value + sums[key]["value"].to(metric.value.device)
            if sums[key]["count"] is not None:
                metric.cumulated_batch_size = metric.cumulated_batch_size + sums[key]["count"].to(metric.value.device)


def metric_states(module: torch.nn.Module) -> dict:
    """The accumulated states of `module`'s torchmetrics metrics (not in its state_dict), by module name."""
    return {name: {"states": {key: value.detach().cpu() if isinstance(value, torch.Tensor)
                              else [item.detach().cpu() for item in value] for key, value in metric.metric_state.items()},
                   "updates": metric._update_count}
            for name, metric in module.named_modules() if isinstance(metric, Metric)}


def set_metric_states(module: torch.nn.Module, saved: dict) -> None:
    """Put back `metric_states` before the resumed epoch's first update."""
    for name, metric in module.named_modules():
        if name in saved:
            for key, value in saved[name]["states"].items():
                setattr(metric, key, value.to(metric.device) if isinstance(value, torch.Tensor)
                        else [item.to(metric.device) for item in value])
            metric._update_count = saved[name]["updates"]
            metric._computed = None


def callback_floats(trainer: pl.Trainer) -> dict[str, float]:
    """What the trainer's metrics hold now, as floats."""
    return {key: float(value) for key, value in trainer.callback_metrics.items()}


def save_atomic(trainer: pl.Trainer, path: Path, weights_only: bool = False) -> None:
    """``trainer.save_checkpoint`` through `suite.results.atomic_path` (a temporary file renamed over
    `path`). Every rank calls ``save_checkpoint`` (it ends in a barrier); only rank 0 writes, so only
    rank 0 has a temporary file, and no other rank can remove it before it is renamed."""
    if not trainer.is_global_zero:
        trainer.save_checkpoint(path, weights_only=weights_only)  # writes nothing: joins rank 0's barrier
        return
    with atomic_path(path) as temporary:  # a failed write leaves the last good checkpoint alone
        trainer.save_checkpoint(temporary, weights_only=weights_only)


class RunCheckpoint(Callback):
    """Writes the checkpoints of one phase and sets the random states of a mid-epoch resume (see the
    module docstring). `fit_metrics`: the metrics the phase's training ended with, once it has."""

    @staticmethod
    def of(trainer: pl.Trainer) -> "RunCheckpoint":
        """The `RunCheckpoint` among `trainer`'s callbacks."""
        return next(callback for callback in trainer.callbacks if isinstance(callback, RunCheckpoint))

    def __init__(self, directory: Path, every_min: float | None, stop: StopRequest, save: bool = True,
                 keep_optimizer: bool = False):
        self.directory = Path(directory)
        self.every_s = None if every_min is None else 60.0 * every_min
        self.stop = stop
        self.save = save
        self.keep_optimizer = keep_optimizer
        self._saved_at = time.monotonic()
        self._epoch_sums: dict = {}
        self._restored_sums: dict = {}
        self._metric_states: dict = {}
        self._restored_metrics: dict = {}
        self._epoch_end_metrics: dict[str, float] = {}
        self.fit_metrics: dict[str, float] = {}
        self._finished = False

    @property
    def path(self) -> Path:
        return self.directory / LAST

    def state_dict(self) -> dict:
        return {"epoch_sums": self._epoch_sums, "metric_states": self._metric_states,
                "metrics": self._epoch_end_metrics}

    def load_state_dict(self, state_dict: dict) -> None:
        self._restored_sums = own_state(state_dict.get("epoch_sums", {}))
        self._restored_metrics = own_state(state_dict.get("metric_states", {}))
        self.fit_metrics = state_dict.get("metrics", {})  # final if nothing is left to train

    def write(self, trainer: pl.Trainer, mid_epoch: bool) -> None:
        """Every process calls it at the same batch (its collectives: the per-process states, then
        ``save_checkpoint``'s barrier); rank 0 writes."""
        if not self.save:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        trained = trainer.fit_loop.epoch_loop.batch_progress.current.processed if mid_epoch else None
        for order in _data_orders(trainer):
            order.mark(trained)
        self._epoch_sums = every_rank(epoch_sums(trainer)) if mid_epoch else {}
        self._metric_states = every_rank(metric_states(trainer.lightning_module)) if mid_epoch else {}
        # At an epoch end Lightning has reduced the epoch's metrics (ModelCheckpoint monitors them here).
        self._epoch_end_metrics = {} if mid_epoch else callback_floats(trainer)
        save_atomic(trainer, self.path)
        self._saved_at = time.monotonic()

    def _take_signals(self, trainer) -> None:
        """Our handlers, not the one Lightning installs at each fit and test (`StopRequest.reclaim`); a
        signal to the launching process goes on to the DDP processes it started."""
        self.stop.reclaim(getattr(trainer.strategy.launcher, "procs", ()))

    def on_test_start(self, trainer, pl_module) -> None:
        self._take_signals(trainer)

    def on_train_start(self, trainer, pl_module) -> None:
        self._take_signals(trainer)
        self.stop.in_training = True
        fit_loop = trainer.fit_loop
        if fit_loop._combined_loader_states_to_load:
            # Lightning loads a loader's state only when it sets the loader up after the restore and the
            # epoch is unfinished; here it was set up before (the schedules' estimated_stepping_batches),
            # or the checkpoint is an epoch end's: load it, and draw the first batch again.
            fit_loop._combined_loader._load_state_dicts(fit_loop._combined_loader_states_to_load)
            fit_loop._combined_loader_states_to_load = []
            iter(fit_loop._data_fetcher)
        set_metric_states(pl_module, self._restored_metrics)
        self._restored_metrics = {}
        for order in _data_orders(trainer):
            if order.pending_random is not None:
                set_random_states(order.pending_random)
                order.pending_random = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self._restored_sums:  # the first batch after a mid-epoch resume has logged: add the epoch so far
            add_epoch_sums(trainer, self._restored_sums)
            self._restored_sums = {}
        if trainer.fit_loop.epoch_loop.batch_progress.current.processed >= trainer.num_training_batches:
            return  # the epoch's last batch: validation and the epoch-end checkpoint come next
        due = self.every_s is not None and time.monotonic() - self._saved_at >= self.every_s
        # Under DDP all processes stop (or write) at the same batch: a signal may reach one process only,
        # and each process's clock says "due" at its own moment.
        signum, due = agreed_maximum([self.stop.signum or 0, int(due)], pl_module.device)
        if signum:
            self.write(trainer, mid_epoch=True)
            raise Interrupted(signum)
        if due:
            self.write(trainer, mid_epoch=True)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.write(trainer, mid_epoch=False)
        (signum,) = agreed_maximum([self.stop.signum or 0], pl_module.device)
        if signum:
            raise Interrupted(signum)

    def on_train_end(self, trainer, pl_module) -> None:
        self.stop.in_training = False
        self.fit_metrics = callback_floats(trainer)
        self.finish(trainer)

    def on_fit_end(self, trainer, pl_module) -> None:
        self.finish(trainer)  # resumed from the last epoch end: no training, so no on_train_end

    def finish(self, trainer: pl.Trainer) -> None:
        """Write ``done`` (the final metrics; last.ckpt holds the final weights), then drop the optimizer
        state: a kill between the two leaves the full checkpoint, whose weights are the same."""
        if self._finished or not self.save or not self.path.is_file():
            return
        self._finished = True
        if trainer.is_global_zero:
            write_json_atomic(self.directory / DONE, self.fit_metrics)
        if not self.keep_optimizer:
            save_atomic(trainer, self.path, weights_only=True)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.stop.in_training = False
