"""CIFAR-10 and CIFAR-100 through torchvision, read from ``data.root``.

``data.download``: ``auto`` (default) reads the files if present and otherwise
tries to download them; ``true`` always checks/downloads; ``false`` never touches
the network and fails clearly when the files are missing. The validation set is a
seeded, stratified hold-out of the training set (``data.val_fraction``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torchvision
from torchvision import transforms

from suite.data.download import download_mode, should_download
from suite.data.splits import ImageSplits, holdout
from suite.errors import UserError

# Per-channel statistics of the CIFAR training sets (the usual constants).
_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_CLASSES = {"cifar10": (torchvision.datasets.CIFAR10, 10), "cifar100": (torchvision.datasets.CIFAR100, 100)}


def _transforms(image_size: int, augment: bool) -> tuple[transforms.Compose, transforms.Compose]:
    resize = [transforms.Resize(image_size, antialias=True)] if image_size != 32 else []
    plain = transforms.Compose(resize + [transforms.ToTensor()])
    if not augment:
        return plain, plain
    train = transforms.Compose(resize + [transforms.RandomCrop(image_size, padding=image_size // 8),
                                         transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    return train, plain


def _open(dataset_cls, name: str, root: Path, train: bool, transform, download: str):
    folder = root / dataset_cls.base_folder
    try:
        return dataset_cls(str(root), train=train, transform=transform,
                           download=should_download(download, folder.is_dir()))
    except (RuntimeError, OSError) as error:  # missing files, corrupt files or no network
        raise UserError(
            f"{name} is not readable under {folder} ({error}); run once with network access and "
            f"data.download=auto, or copy the python-format archive contents there"
        ) from None


def build_cifar(cfg) -> ImageSplits:
    name = cfg.name
    dataset_cls, num_classes = _CLASSES[name]
    root = Path(cfg.root).expanduser()
    download = download_mode(cfg)
    train_tf, eval_tf = _transforms(cfg.image_size, cfg.augment)
    train_full = _open(dataset_cls, name, root, True, train_tf, download)
    eval_full = _open(dataset_cls, name, root, True, eval_tf, "false")
    labels = np.asarray(train_full.targets)
    train, _ = holdout(train_full, labels, cfg.val_fraction, cfg.split_seed)
    _, val = holdout(eval_full, labels, cfg.val_fraction, cfg.split_seed)
    test = _open(dataset_cls, name, root, False, eval_tf, "false")
    mean, std = _STATS[name]
    return ImageSplits(train=train, val=val, test=test, num_classes=num_classes, in_channels=3,
                       image_size=cfg.image_size, mean=mean, std=std, name=name)
