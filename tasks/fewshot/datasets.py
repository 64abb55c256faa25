"""Episodic datasets by ``data.name``: splits with disjoint classes for train, val and test.

Each builder takes the whole config and returns `EpisodicSplits`; images are float (C, H, W) in [0, 1].
The real benchmarks come from ``learn2learn.vision.datasets`` under ``data.root``; ``data.download``:
``auto`` downloads what is missing, ``true`` always lets learn2learn check/download, ``false`` never
touches the network and fails with a clear message when the files are missing.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import learn2learn as l2l
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset
from torchvision import transforms

from suite.data.digits import digit_images
from suite.data.mnist5k import mnist5k_images
from suite.data.download import download_mode, should_download
from suite.data.splits import channel_stats, stratified_split
from suite.errors import UserError

STATS_SAMPLE_SIZE = 1000  # images whose pixel statistics normalize the inputs of a real benchmark


@dataclass
class EpisodicSplits:
    """Datasets of (image, int label) whose class sets are disjoint (except where `val_note` says)."""

    train: Dataset
    val: Dataset
    test: Dataset
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str
    val_note: str


def sample_stats(dataset: Dataset, seed: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of up to `STATS_SAMPLE_SIZE` training images (a seeded sample)."""
    count = min(STATS_SAMPLE_SIZE, len(dataset))
    indices = np.random.default_rng(seed).choice(len(dataset), size=count, replace=False)
    return channel_stats(torch.stack([dataset[int(i)][0] for i in indices]))


def digit_class_split(cfg, images: torch.Tensor, labels: np.ndarray, name: str) -> EpisodicSplits:
    """A 10-class digit dataset split by class: ``task.digits.train_classes`` (default 0-5) train,
    ``test_classes`` (6-9) test. With only 10 classes there is no third class split: val episodes use
    ``val_fraction`` of each training class's images, held out from training (unseen images of seen
    classes)."""
    split = cfg.task.digits
    targets = torch.as_tensor(labels)

    def classes_subset(classes) -> np.ndarray:
        return np.flatnonzero(np.isin(labels, list(classes)))

    seen = classes_subset(split.train_classes)
    train_part, val_part = stratified_split(labels[seen], (1.0 - split.val_fraction, split.val_fraction),
                                            cfg.data.split_seed)
    train_idx, val_idx, test_idx = seen[train_part], seen[val_part], classes_subset(split.test_classes)
    mean, std = channel_stats(images[train_idx])
    return EpisodicSplits(
        train=TensorDataset(images[train_idx], targets[train_idx]),
        val=TensorDataset(images[val_idx], targets[val_idx]),
        test=TensorDataset(images[test_idx], targets[test_idx]), in_channels=images.shape[1],
        image_size=images.shape[-1], mean=mean, std=std, name=name,
        val_note=f"held-out {split.val_fraction:.0%} of the images of the training classes")


def build_digits(cfg) -> EpisodicSplits:
    """digits (scikit-learn's 1,797), split by class (`digit_class_split`)."""
    return digit_class_split(cfg, *digit_images(cfg.data.image_size, cfg.data.channels), "digits")


def build_mnist5k(cfg) -> EpisodicSplits:
    """mnist5k (5,000 real MNIST digits), split by class (`digit_class_split`)."""
    images, labels = mnist5k_images(cfg.data.image_size, cfg.data.channels, cfg.data.get("file"))
    return digit_class_split(cfg, images, labels, "mnist5k")


def wants_download(cfg, present: bool) -> bool:
    """``data.download`` auto|true|false -> whether learn2learn may download; false with files missing
    is a `UserError` naming the directory."""
    mode = download_mode(cfg.data)
    if mode == "false" and not present:
        raise UserError(f"{cfg.data.name} is not under {Path(cfg.data.root).expanduser()} and data.download=false: "
                        f"set data.root= to the directory holding it, or data.download=auto when online")
    return should_download(mode, present)


def open_learn2learn(cfg, dataset_class, present: bool, **kwargs) -> Dataset:
    """``dataset_class(root, download=..., **kwargs)`` with download/read failures as one-line errors."""
    root = str(Path(cfg.data.root).expanduser())
    download = wants_download(cfg, present)
    try:
        return dataset_class(root=root, download=download, **kwargs)
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise UserError(f"{cfg.data.name} could not be read{' or downloaded' if download else ''} under {root} "
                        f"({type(error).__name__}: {error}); check data.root, or run online with data.download=auto"
                        ) from None


class ScaledImages:
    """learn2learn's miniImageNet tensors (3, 84, 84) in 0..255 -> [0, 1], resized to `image_size`."""

    def __init__(self, image_size: int):
        self.image_size = image_size

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        image = image.float() / 255.0
        if image.shape[-1] != self.image_size:
            image = F.interpolate(image[None], size=(self.image_size, self.image_size), mode="bilinear",
                                  antialias=True, align_corners=False)[0].clamp_(0.0, 1.0)
        return image


def _three_modes(cfg, open_mode) -> EpisodicSplits:
    train, val, test = (open_mode(mode) for mode in ("train", "validation", "test"))
    mean, std = sample_stats(train, cfg.data.split_seed)
    return EpisodicSplits(train=train, val=val, test=test, in_channels=3, image_size=cfg.data.image_size,
                          mean=mean, std=std, name=cfg.data.name, val_note="the benchmark's validation classes")


def build_mini_imagenet(cfg) -> EpisodicSplits:
    """miniImageNet (Vinyals et al. 2016) with the Ravi & Larochelle split: 64/16/20 classes of 600
    84x84 images, learn2learn's pickles ``mini-imagenet-cache-{train,validation,test}.pkl``."""
    root = Path(cfg.data.root).expanduser()
    present = all((root / f"mini-imagenet-cache-{mode}.pkl").is_file() for mode in ("train", "validation", "test"))
    return _three_modes(cfg, lambda mode: open_learn2learn(
        cfg, l2l.vision.datasets.MiniImagenet, present, mode=mode, transform=ScaledImages(cfg.data.image_size)))


def _pil_transform(image_size: int):
    return transforms.Compose([transforms.Resize(image_size, antialias=True), transforms.ToTensor()])


def build_cifarfs(cfg) -> EpisodicSplits:
    """CIFAR-FS (Bertinetto et al. 2019): CIFAR-100 as 64/16/20 classes, 32x32."""
    present = (Path(cfg.data.root).expanduser() / "cifarfs").is_dir()
    return _three_modes(cfg, lambda mode: open_learn2learn(
        cfg, l2l.vision.datasets.CIFARFS, present, mode=mode, transform=_pil_transform(cfg.data.image_size)))


def build_fc100(cfg) -> EpisodicSplits:
    """FC100 (Oreshkin et al. 2018): CIFAR-100 split by superclass, 60/20/20 classes, 32x32."""
    present = (Path(cfg.data.root).expanduser() / "FC100_train.pickle").is_file()
    return _three_modes(cfg, lambda mode: open_learn2learn(
        cfg, l2l.vision.datasets.FC100, present, mode=mode, transform=_pil_transform(cfg.data.image_size)))


class RotatedClasses(Dataset):
    """Omniglot's rotation augmentation (Vinyals et al. 2016; Snell et al. 2017): every class in
    `classes` and each rotation by k * 90 degrees (k = 0..3) is a class of its own, label 4 * c + k."""

    def __init__(self, meta_dataset: l2l.data.MetaDataset, classes: list[int]):
        self.items = [(index, 4 * label + turns) for label in classes for turns in range(4)
                      for index in meta_dataset.labels_to_indices[label]]
        self.dataset = meta_dataset

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        source, label = self.items[index]
        return torch.rot90(self.dataset[source][0], label % 4, dims=(-2, -1)), label

    def meta_dataset(self) -> l2l.data.MetaDataset:
        """Indexed by the known labels, without loading every image (learn2learn would)."""
        labels_to_indices: dict[int, list[int]] = {}
        for position, (_, label) in enumerate(self.items):
            labels_to_indices.setdefault(label, []).append(position)
        return l2l.data.MetaDataset(self, labels_to_indices=labels_to_indices)


def build_omniglot(cfg) -> EpisodicSplits:
    """Omniglot (Lake et al. 2015), 1,623 characters of 20 drawings, white strokes on black at
    ``data.image_size`` (28). Characters shuffled with ``data.split_seed``: 1,100 train, 100 val,
    423 test, as in learn2learn's benchmark (train + val = the 1,200 of Vinyals et al.); every split
    is augmented with the 4 rotations as new classes."""
    root = Path(cfg.data.root).expanduser() / "omniglot-py"
    present = all((root / folder).is_dir() for folder in ("images_background", "images_evaluation"))
    pixels = transforms.Compose([transforms.Resize(cfg.data.image_size, antialias=True), transforms.ToTensor(),
                                 lambda image: 1.0 - image])
    full = l2l.data.MetaDataset(open_learn2learn(cfg, l2l.vision.datasets.FullOmniglot, present, transform=pixels))
    classes = sorted(full.labels_to_indices)
    random.Random(cfg.data.split_seed).shuffle(classes)
    train, val, test = (RotatedClasses(full, part).meta_dataset()
                        for part in (classes[:1100], classes[1100:1200], classes[1200:]))
    mean, std = sample_stats(train, cfg.data.split_seed)
    return EpisodicSplits(train=train, val=val, test=test, in_channels=1, image_size=cfg.data.image_size,
                          mean=mean, std=std, name="omniglot", val_note="100 held-out characters (x4 rotations)")


EPISODIC_DATASETS = {"digits": build_digits, "mnist5k": build_mnist5k, "omniglot": build_omniglot,
                     "mini_imagenet": build_mini_imagenet, "cifarfs": build_cifarfs, "fc100": build_fc100}


def episodic_builder(name: str):
    """The builder of ``data.name``; a dataset without disjoint class splits is a `UserError`."""
    if name not in EPISODIC_DATASETS:
        raise UserError(f"data={name} has no few-shot class splits: for task=fsl choose data= one of "
                        f"{', '.join(EPISODIC_DATASETS)}")
    return EPISODIC_DATASETS[name]


def build_episodic_splits(cfg) -> EpisodicSplits:
    """The train/val/test splits of ``data.name``."""
    return episodic_builder(cfg.data.name)(cfg)
