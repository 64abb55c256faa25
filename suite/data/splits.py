"""What every dataset builder returns, and the seeded splitting they share."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset


@dataclass
class ImageSplits:
    """Train/val/test datasets of ``(image, label)`` pairs.

    Images are float tensors of shape (C, H, W) with values in [0, 1]; models apply
    ``mean``/``std`` themselves (see `suite.models.InputNormalization`), so attacks and
    augmentations work in pixel space. Volumes (``data=nifti``) are (C, D, H, W), standardized
    per volume (mean 0, std 1), with ``image_size`` (D, H, W).
    """

    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    image_size: int | tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split indices into len(fractions) parts with the class balance of `labels`.

    The split depends only on `seed` (``data.split_seed``), never on the training seed,
    so runs with different seeds see the same test set.
    """
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.round(np.cumsum(fractions) * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, bounds[:-1])):
            part.extend(chunk.tolist())
    return [np.sort(np.asarray(part, dtype=np.int64)) for part in parts]


def holdout(dataset: Dataset, labels: np.ndarray, val_fraction: float, seed: int) -> tuple[Subset, Subset]:
    """Split a training set into (train, val) subsets, stratified and seeded."""
    train_idx, val_idx = stratified_split(labels, (1.0 - val_fraction, val_fraction), seed)
    return Subset(dataset, train_idx.tolist()), Subset(dataset, val_idx.tolist())


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of images (N, C, H, W), as plain tuples."""
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def tensor_splits(images: torch.Tensor, labels: np.ndarray, cfg, name: str) -> ImageSplits:
    """`ImageSplits` over in-memory images (N, C, S, S) in [0, 1] and labels (N,), split by
    ``cfg.split_fractions`` and ``cfg.split_seed`` (stratified); statistics from the train part."""
    train_idx, val_idx, test_idx = stratified_split(labels, tuple(cfg.split_fractions), cfg.split_seed)
    targets = torch.as_tensor(labels)

    def subset(idx: np.ndarray) -> TensorDataset:
        return TensorDataset(images[idx], targets[idx])

    mean, std = channel_stats(images[train_idx])
    return ImageSplits(train=subset(train_idx), val=subset(val_idx), test=subset(test_idx),
                       num_classes=int(labels.max()) + 1, in_channels=images.shape[1], image_size=images.shape[-1],
                       mean=mean, std=std, name=name)
