"""The Lightning data module every image task uses (imported only when a run builds one)."""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, RandomSampler

from suite.checkpoints import ResumableLoader, SkippingBatchSampler

from suite.data.splits import ImageSplits
from suite.data.tensor_batches import TensorBatches, fits_on_device
from suite.distributed import evaluation_sampler


class ImageDataModule(pl.LightningDataModule):
    """Loaders over `ImageSplits`; the training loader shuffles with a seeded
    generator and drops the last incomplete batch (a batch of one sample would give
    batch-dependent norms a single value per statistic).

    In-memory tensor datasets (digits, digits_m, ...) are served by `TensorBatches` from the
    trainer's device (the same batches, without a per-step collate and host-to-device copy);
    file-backed datasets, and every dataset when training on several processes (where Lightning adds
    its distributed sampler), go through a `DataLoader`. `trainer` is the Trainer this module, or
    the data module that owns it, is attached to.
    """

    def __init__(self, splits: ImageSplits, batch_size: int, eval_batch_size: int, num_workers: int, seed: int):
        super().__init__()
        self.splits = splits
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.seed = seed

    def _loader(self, dataset, batch_size: int, train: bool):
        generator = torch.Generator().manual_seed(self.seed) if train else None
        if fits_on_device(dataset) and (self.trainer is None or self.trainer.world_size == 1):
            device = torch.device("cpu") if self.trainer is None else self.trainer.strategy.root_device
            return TensorBatches(dataset, batch_size, device, drop_last=train, generator=generator)
        workers = dict(num_workers=self.num_workers, persistent_workers=self.num_workers > 0)
        if not train:
            return DataLoader(dataset, batch_size=batch_size, sampler=evaluation_sampler(dataset), **workers)
        # As DataLoader(shuffle=True, drop_last=True, generator=generator), whose position a checkpoint
        # saves (`ResumableLoader`). Lightning shards training data itself.
        batches = SkippingBatchSampler(RandomSampler(dataset, generator=generator), batch_size, drop_last=True)
        return ResumableLoader(dataset, batch_sampler=batches, generator=generator, **workers)

    def train_dataloader(self):
        return self._loader(self.splits.train, self.batch_size, train=True)

    def val_dataloader(self):
        return self._loader(self.splits.val, self.eval_batch_size, train=False)

    def test_dataloader(self):
        return self._loader(self.splits.test, self.eval_batch_size, train=False)
