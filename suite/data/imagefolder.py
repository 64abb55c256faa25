"""`imagefolder`: an ImageNet-style tree ``root/{train,val[,test]}/<class>/<image>``.

Missing ``val`` is a seeded hold-out of ``train``; missing ``test`` reuses ``val``.
Images are resized to ``data.image_size`` (shorter side, then centre crop);
``data.augment`` adds random resized crops and flips for training.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from torchvision import datasets, transforms
from torchvision.datasets.folder import IMG_EXTENSIONS

from suite.data.splits import ImageSplits, holdout
from suite.errors import UserError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def folder_transforms(size: int, augment: bool) -> tuple[transforms.Compose, transforms.Compose]:
    """(train, eval) transforms for photos: eval resizes the shorter side and centre-crops to ``size``;
    train, with `augment`, takes random resized crops and horizontal flips."""
    plain = transforms.Compose([transforms.Resize(size, antialias=True), transforms.CenterCrop(size),
                                transforms.ToTensor()])
    if not augment:
        return plain, plain
    train = transforms.Compose([transforms.RandomResizedCrop(size, antialias=True),
                                transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    return train, plain


def _folder(root: Path, split: str, transform) -> datasets.ImageFolder | None:
    path = root / split
    if not path.is_dir():
        return None
    try:
        return datasets.ImageFolder(str(path), transform=transform)
    except FileNotFoundError as error:
        raise UserError(f"{path} has no readable images ({error}); put images in {path}/<class>/") from None


def check_image_headers(cfg) -> None:
    """Open every image's header (not its pixels) under ``data.root``: a file PIL cannot identify is
    refused now, naming it, rather than at the first batch that draws it. About 0.1 ms per image."""
    root = Path(cfg.root).expanduser()
    bad = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or not path.name.lower().endswith(IMG_EXTENSIONS):
            continue
        try:
            with Image.open(path):
                pass
        except (OSError, SyntaxError, ValueError):
            bad.append(path)
    if bad:
        raise UserError(f"data.root={cfg.root} has {len(bad)} unreadable image(s), first {bad[0]}: "
                        f"delete or replace them")


def build_imagefolder(cfg) -> ImageSplits:
    root = Path(cfg.root).expanduser()
    size = cfg.image_size
    train_tf, plain = folder_transforms(size, cfg.augment)
    train = _folder(root, "train", train_tf)
    if train is None:
        raise UserError(f"no training images: expected {root}/train/<class>/<image>; set data.root to the tree's top")
    val = _folder(root, "val", plain)
    if val is None:
        labels = np.asarray(train.targets)
        train_eval = _folder(root, "train", plain)
        train, _ = holdout(train, labels, cfg.val_fraction, cfg.split_seed)
        _, val = holdout(train_eval, labels, cfg.val_fraction, cfg.split_seed)
        classes = train_eval.classes
    else:
        classes = train.classes
        if val.classes != classes:
            raise UserError(f"{root}/val has classes {val.classes} but train has {classes}; use the same class folders")
    test = _folder(root, "test", plain)
    if test is None:
        test = val
    elif test.classes != classes:
        raise UserError(f"{root}/test has classes {test.classes} but train has {classes}; use the same class folders")
    return ImageSplits(train=train, val=val, test=test, num_classes=len(classes), in_channels=3,
                       image_size=size, mean=IMAGENET_MEAN, std=IMAGENET_STD, name=f"imagefolder:{root.name}")


build_imagefolder.check = check_image_headers  # run by `suite.config.validate` before the run starts
