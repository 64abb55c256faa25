"""Datasets by config name, and the Lightning data module every task uses.

A builder takes the ``data`` config node and returns `ImageSplits`. Register a new
dataset with ``DATASETS.register("name")`` or lazily with ``register_lazy`` (here, or in
a plug-in package such as ``tasks``), and add ``configs/data/<name>.yaml``.
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from suite.data.splits import ImageSplits
from suite.distributed import evaluation_sampler
from suite.errors import UserError
from suite.registry import Registry

DATASETS = Registry("dataset", "data")
DATASETS.register_lazy("digits", "suite.data.digits:build_digits")
DATASETS.register_lazy("cifar10", "suite.data.cifar:build_cifar")
DATASETS.register_lazy("cifar100", "suite.data.cifar:build_cifar")
DATASETS.register_lazy("imagefolder", "suite.data.imagefolder:build_imagefolder")
DATASETS.register_lazy("digits_m", "suite.data.digits_m:build_digits_m")
DATASETS.register_lazy("mnist5k", "suite.data.mnist5k:build_mnist5k")
DATASETS.register_lazy("mnist5k_m", "suite.data.digits_m:build_mnist5k_m")
DATASETS.register_lazy("mnist", "suite.data.torchvision_digits:build_torchvision_digits")
DATASETS.register_lazy("usps", "suite.data.torchvision_digits:build_torchvision_digits")
DATASETS.register_lazy("svhn", "suite.data.torchvision_digits:build_torchvision_digits")
DATASETS.register_lazy("office31", "suite.data.office31:build_office31")
DATASETS.register_lazy("nifti", "suite.data.nifti:build_nifti")


def build_splits(data_cfg) -> ImageSplits:
    """The train/val/test splits named by ``data_cfg.name``."""
    return DATASETS.get(data_cfg.name)(data_cfg)


class ImageDataModule(pl.LightningDataModule):
    """Loaders over `ImageSplits`; the training loader shuffles with a seeded
    generator and drops the last incomplete batch (a batch of one sample would give
    batch-dependent norms a single value per statistic)."""

    def __init__(self, splits: ImageSplits, batch_size: int, eval_batch_size: int, num_workers: int, seed: int):
        super().__init__()
        self.splits = splits
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.seed = seed

    def _loader(self, dataset, batch_size: int, train: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if train else None
        sampler = None if train else evaluation_sampler(dataset)  # Lightning shards training data itself
        return DataLoader(dataset, batch_size=batch_size, shuffle=train, drop_last=train, sampler=sampler,
                          generator=generator, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits.train, self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, self.eval_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, self.eval_batch_size, train=False)


def build_datamodule(data_cfg, seed: int) -> ImageDataModule:
    """Splits and loaders from the ``data`` config node."""
    splits = build_splits(data_cfg)
    if len(splits.train) < data_cfg.batch_size:
        raise UserError(f"data.batch_size={data_cfg.batch_size} exceeds the {len(splits.train)} training images "
                        f"of {splits.name}; lower data.batch_size")
    return ImageDataModule(splits, data_cfg.batch_size, data_cfg.eval_batch_size, data_cfg.num_workers, seed)
