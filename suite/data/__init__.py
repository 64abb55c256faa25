"""Datasets by config name, and the data module every task uses (`suite.data.module.ImageDataModule`).

A builder takes the ``data`` config node and returns `ImageSplits`. Register a new
dataset with ``DATASETS.register("name")`` or lazily with ``register_lazy`` (here, or in
a plug-in package such as ``tasks``), and add ``configs/data/<name>.yaml``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from suite.data.splits import ImageSplits
from suite.errors import UserError
from suite.registry import Registry

if TYPE_CHECKING:
    from suite.data.module import ImageDataModule

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


def build_datamodule(data_cfg, seed: int) -> ImageDataModule:
    """Splits and loaders from the ``data`` config node."""
    from suite.data.module import ImageDataModule

    splits = build_splits(data_cfg)
    if len(splits.train) < data_cfg.batch_size:
        raise UserError(f"data.batch_size={data_cfg.batch_size} exceeds the {len(splits.train)} training images "
                        f"of {splits.name}; lower data.batch_size")
    return ImageDataModule(splits, data_cfg.batch_size, data_cfg.eval_batch_size, data_cfg.num_workers, seed)

