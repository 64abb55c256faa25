"""`mnist`, `usps`, `svhn`: the digit datasets of the DANN papers, through torchvision,
read from ``data.root``.

Images are resized to ``data.image_size`` and converted to ``data.channels`` (1: grey,
3: RGB; SVHN is colour, MNIST and USPS grey), so any two can be paired in
``task=uda``. ``data.download``: ``auto`` reads the files if present and otherwise
downloads them; ``true`` downloads if missing; ``false`` never touches the network.
The validation set is a seeded, stratified hold-out of the training set
(``data.val_fraction``). Normalization statistics: 0.5 / 0.5 per channel, the usual
choice for these domain-adaptation digits.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torchvision
from PIL import Image
from torchvision import transforms

from suite.data.download import download_mode
from suite.data.splits import ImageSplits, holdout
from suite.errors import UserError


def _open_mnist(root: str, train: bool, transform, download: bool):
    return torchvision.datasets.MNIST(root, train=train, transform=transform, download=download)


def _open_usps(root: str, train: bool, transform, download: bool):
    return torchvision.datasets.USPS(root, train=train, transform=transform, download=download)


def _open_svhn(root: str, train: bool, transform, download: bool):
    return torchvision.datasets.SVHN(root, split="train" if train else "test", transform=transform, download=download)


_OPENERS = {"mnist": _open_mnist, "usps": _open_usps, "svhn": _open_svhn}


def _labels(dataset) -> np.ndarray:
    return np.asarray(dataset.labels if hasattr(dataset, "labels") else dataset.targets)


def _open(name: str, root: Path, train: bool, transform, download: str):
    """Read the files; with ``download=auto`` fetch them only when reading fails."""
    opener = _OPENERS[name]
    try:
        return opener(str(root), train, transform, download == "true")
    except (RuntimeError, OSError) as error:
        if download != "auto":
            failure = error
        else:
            try:
                return opener(str(root), train, transform, True)
            except (RuntimeError, OSError) as download_error:
                failure = download_error
    raise UserError(f"{name} is not readable under {root} ({failure}); run once with network access and "
                    f"data.download=auto, or copy the torchvision-format files there") from None


def build_torchvision_digits(cfg) -> ImageSplits:
    name, root = cfg.name, Path(cfg.root).expanduser()
    download = download_mode(cfg)
    if cfg.channels not in (1, 3):
        raise UserError(f"data.channels must be 1 or 3, got {cfg.channels}")
    to_mode = functools.partial(Image.Image.convert, mode="L" if cfg.channels == 1 else "RGB")
    transform = transforms.Compose([transforms.Lambda(to_mode),
                                    transforms.Resize((cfg.image_size, cfg.image_size), antialias=True),
                                    transforms.ToTensor()])
    train_full = _open(name, root, True, transform, download)
    train, val = holdout(train_full, _labels(train_full), cfg.val_fraction, cfg.split_seed)
    test = _open(name, root, False, transform, "false")
    stats = (0.5,) * cfg.channels
    return ImageSplits(train=train, val=val, test=test, num_classes=10, in_channels=cfg.channels,
                       image_size=cfg.image_size, mean=stats, std=stats, name=name)
