"""`nifti`: 3-D volumes in a tree ``root/{train,val,test}/<class>/<volume>.nii[.gz]`` (an ADNI export, say).

Read with nibabel through MONAI's ``LoadImage`` and transforms: each volume is put channel-first and in RAS
orientation, resampled (trilinear, anti-aliased) to ``data.volume_size`` (D, H, W) and standardized per
volume and channel (MONAI ``NormalizeIntensity``: zero mean, unit variance), so `ImageSplits.mean`/``std``
are 0 and 1. ``data.flip_prob`` flips training volumes along a random axis and ``data.affine_prob`` applies
a random rotation (up to ``data.rotate_degrees`` per axis) and scaling (1 ± ``data.scale_range``); both 0
by default. A missing ``val`` is a seeded, stratified hold-out of ``train`` (``data.val_fraction``);
``test`` is required.

A file nibabel cannot read is named with its path: skipped and counted in one warning
(``data.skip_unreadable=true``), or a one-line error (``false``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from suite.data.splits import ImageSplits, stratified_split
from suite.errors import UserError

log = logging.getLogger(__name__)

SUFFIXES = (".nii", ".nii.gz")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Volume:
    path: Path
    label: int


def is_volume_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(SUFFIXES)


def volume_channels(path: Path) -> int:
    """Channels of a NIfTI file from its header: 1 for (X, Y, Z), T for (X, Y, Z, T); ValueError if unreadable."""
    import nibabel

    try:
        shape = nibabel.load(str(path)).shape
    except Exception as error:  # nibabel raises several types (ImageFileError, EOFError, OSError, ...)
        raise ValueError(f"{type(error).__name__}: {error}") from None
    if len(shape) not in (3, 4):
        raise ValueError(f"has shape {shape}, not a 3-D volume (X, Y, Z) or (X, Y, Z, channels)")
    return 1 if len(shape) == 3 else shape[3]


def scan_split(root: Path, split: str, classes: list[str] | None, skip_unreadable: bool
               ) -> tuple[list[Volume], list[str], list[str], set[int]] | None:
    """The readable volumes of ``root/split``, its class names, the unreadable files (path: reason) and the
    channel counts seen; None when the folder is missing."""
    folder = root / split
    if not folder.is_dir():
        return None
    found = sorted(path.name for path in folder.iterdir() if path.is_dir())
    if classes is not None and found != classes:
        raise UserError(f"{folder} has classes {found} but train has {classes}; use the same class folders")
    volumes, unreadable, channels = [], [], set()
    for label, name in enumerate(found):
        for path in sorted(p for p in (folder / name).iterdir() if is_volume_file(p)):
            try:
                channels.add(volume_channels(path))
            except ValueError as error:
                if not skip_unreadable:
                    raise UserError(f"cannot read volume {path} ({error}): remove or fix it, or set "
                                    f"data.skip_unreadable=true") from None
                unreadable.append(f"{path} ({error})")
                continue
            volumes.append(Volume(path, label))
    if not volumes:
        raise UserError(f"{folder} has no readable volumes: put files <class>/<volume>.nii[.gz] under it")
    return volumes, found, unreadable, channels


def volume_transforms(cfg, train: bool):
    """MONAI transforms from a file path to a (C, D, H, W) float tensor (see the module docstring)."""
    from monai import transforms as mt

    steps = [mt.LoadImage(reader="NibabelReader", image_only=True, ensure_channel_first=True),
             mt.Orientation(axcodes="RAS", labels=None),
             mt.Resize(spatial_size=tuple(cfg.volume_size), mode="trilinear", anti_aliasing=True)]
    if train and cfg.flip_prob > 0:
        steps.append(mt.RandAxisFlip(prob=cfg.flip_prob))
    if train and cfg.affine_prob > 0:
        angle = math.radians(cfg.rotate_degrees)
        steps.append(mt.RandAffine(prob=cfg.affine_prob, rotate_range=(angle,) * 3,
                                   scale_range=(cfg.scale_range,) * 3, padding_mode="zeros"))
    steps += [mt.NormalizeIntensity(channel_wise=True), mt.EnsureType(data_type="tensor", track_meta=False)]
    return mt.Compose(steps)


class VolumeDataset(Dataset):
    """``(volume (C, D, H, W) float32, label)`` pairs from NIfTI files through MONAI transforms.

    Random transforms draw their seed from torch's generator on every item, so they follow the run's
    seed and differ between DataLoader workers (torch seeds each worker apart).
    """

    def __init__(self, volumes: list[Volume], transform):
        self.volumes = volumes
        self.transform = transform

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        volume = self.volumes[index]
        self.transform.set_random_state(seed=int(torch.randint(2**31 - 1, ()).item()))
        try:
            image = self.transform(str(volume.path))
        except Exception as error:  # header readable, data not (a truncated file): name it
            raise RuntimeError(f"cannot load volume {volume.path}: {error}") from error
        return torch.as_tensor(image, dtype=torch.float32), volume.label


def build_nifti(cfg) -> ImageSplits:
    root = Path(cfg.root).expanduser()
    if len(cfg.volume_size) != 3 or min(cfg.volume_size) < 1:
        raise UserError(f"data.volume_size must be three positive sizes [D, H, W], got {list(cfg.volume_size)}")
    train = scan_split(root, "train", None, cfg.skip_unreadable)
    if train is None:
        raise UserError(f"no training volumes: expected {root}/train/<class>/<volume>.nii.gz; "
                        f"set data.root to the tree's top")
    classes = train[1]
    scanned = {"train": train, "val": scan_split(root, "val", classes, cfg.skip_unreadable),
               "test": scan_split(root, "test", classes, cfg.skip_unreadable)}
    if scanned["test"] is None:
        raise UserError(f"no test volumes: expected {root}/test/<class>/<volume>.nii.gz (test is never taken "
                        f"from train or val)")
    unreadable = [entry for found in scanned.values() if found for entry in found[2]]
    if unreadable:
        log.warning("data=nifti: skipped %d unreadable volumes (data.skip_unreadable=true): %s",
                    len(unreadable), "; ".join(unreadable))
    channels = set().union(*(found[3] for found in scanned.values() if found))
    if len(channels) > 1:
        raise UserError(f"volumes under {root} have different channel counts {sorted(channels)}; "
                        f"use volumes with the same number of channels")
    volumes = {split: found[0] for split, found in scanned.items() if found}
    if "val" not in volumes:
        labels = np.array([volume.label for volume in volumes["train"]])
        keep, held = stratified_split(labels, (1.0 - cfg.val_fraction, cfg.val_fraction), cfg.split_seed)
        volumes["val"] = [volumes["train"][i] for i in held]
        volumes["train"] = [volumes["train"][i] for i in keep]
    datasets = {split: VolumeDataset(volumes[split], volume_transforms(cfg, train=split == "train"))
                for split in SPLITS}
    in_channels = channels.pop()
    return ImageSplits(**datasets, num_classes=len(classes), in_channels=in_channels,
                       image_size=tuple(cfg.volume_size), mean=(0.0,) * in_channels, std=(1.0,) * in_channels,
                       name=f"nifti:{root.name}")
