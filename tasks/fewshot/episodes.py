"""Episodes from learn2learn's data pipeline, split into support and query sets.

An N-way K-shot episode with Q queries per class draws N classes (``NWays``), K + Q examples of each
(``KShots``, without replacement, so support and query never share an example), loads them
(``LoadData``) and relabels the classes 0..N-1 in random order (``RemapLabels``).
"""
from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Iterator

import learn2learn as l2l
import torch
from learn2learn.data.transforms import KShots, LoadData, NWays, RemapLabels
from torch.utils.data import Dataset, SequentialSampler

from suite.checkpoints import SkippingBatchSampler
from suite.errors import UserError


@dataclass(frozen=True)
class EpisodeShape:
    """``ways`` classes, ``shots`` support and ``query_shots`` query examples per class."""

    ways: int
    shots: int
    query_shots: int

    @property
    def examples_per_class(self) -> int:
        return self.shots + self.query_shots


def as_meta_dataset(dataset: Dataset) -> l2l.data.MetaDataset:
    """learn2learn's class index over a dataset of (image, label) pairs (kept if it already is one)."""
    return dataset if isinstance(dataset, l2l.data.MetaDataset) else l2l.data.MetaDataset(dataset)


def check_episode_fits(meta_dataset: l2l.data.MetaDataset, shape: EpisodeShape, split: str,
                       keys: tuple[str, str, str]) -> None:
    """A `UserError` when the split has too few classes, or a class too few examples, for `shape`;
    `keys` names the config keys of this split's (ways, shots, queries), which the message says to lower."""
    ways_key, shots_key, queries_key = keys
    sizes = {label: len(indices) for label, indices in meta_dataset.labels_to_indices.items()}
    if shape.ways > len(sizes):
        raise UserError(f"{shape.ways}-way episodes need {shape.ways} classes but the {split} split has "
                        f"{len(sizes)}: lower {ways_key} to at most {len(sizes)}")
    smallest_label, smallest = min(sizes.items(), key=lambda item: item[1])
    if shape.examples_per_class > smallest:
        raise UserError(f"{shape.shots} shots + {shape.query_shots} queries per class exceed the {smallest} "
                        f"examples of class {smallest_label} in the {split} split: lower {shots_key} or {queries_key}")


def split_episode(images: torch.Tensor, labels: torch.Tensor, shape: EpisodeShape
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split one episode (ways * (shots + query_shots) examples, labels 0..ways-1, any order) into
    support (ways, shots, C, H, W) with class c in row c, query (ways * query_shots, C, H, W) and
    query labels (ways * query_shots,). Within a class the first `shots` examples (in the sampled
    order, which is random) are the support."""
    order = torch.sort(labels, stable=True).indices
    grouped = images[order].view(shape.ways, shape.examples_per_class, *images.shape[1:])
    support = grouped[:, :shape.shots]
    query = grouped[:, shape.shots:].reshape(shape.ways * shape.query_shots, *images.shape[1:])
    query_labels = torch.arange(shape.ways).repeat_interleave(shape.query_shots)
    return support, query, query_labels


@contextlib.contextmanager
def python_random_seed(seed: int | None) -> Iterator[None]:
    """learn2learn samples with Python's `random`; a seed pins it inside the block and restores the
    global state afterwards (None: use the global state as it is)."""
    if seed is None:
        yield
        return
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


class EpisodeDataset(Dataset):
    """`num_episodes` episodes of `shape` from `dataset`, through learn2learn's ``TaskDataset``.

    Item ``i`` is ``(support, query, query_labels)`` as `split_episode` returns them, drawn with Python's
    `random` seeded by ``seed * 1_000_003 + i``, so validation and test episodes are the same in every
    epoch, run, norm and seed (they depend only on the seed given here); with `seed` None each access
    draws a fresh episode from the global state. Item ``(epoch, i)`` (training: `EpochBatches` asks for
    these) is seeded by `seed`, `epoch` and `i`: fresh episodes every epoch, and the same ones in a run
    resumed from a checkpoint, whatever process or loader worker draws them.
    """

    def __init__(self, dataset: Dataset, shape: EpisodeShape, num_episodes: int, seed: int | None = None,
                 extra_task_transforms: tuple = ()):
        meta_dataset = as_meta_dataset(dataset)
        transforms = [NWays(meta_dataset, shape.ways), KShots(meta_dataset, shape.examples_per_class),
                      LoadData(meta_dataset), RemapLabels(meta_dataset, shuffle=True),
                      *[make(meta_dataset) for make in extra_task_transforms]]
        self.tasks = l2l.data.TaskDataset(meta_dataset, task_transforms=transforms, num_tasks=-1)
        self.shape = shape
        self.num_episodes = num_episodes
        self.seed = seed

    def __len__(self) -> int:
        return self.num_episodes

    def _episode_seed(self, key: int | tuple[int, int]) -> int | str | None:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        if not 0 <= index < self.num_episodes:
            raise IndexError(index)
        if epoch is not None:
            return f"episode {index} of epoch {epoch}, seed {self.seed}"  # str seeds never meet the int ones
        return None if self.seed is None else self.seed * 1_000_003 + index

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with python_random_seed(self._episode_seed(key)):
            images, labels = self.tasks.sample()
        return split_episode(images, torch.as_tensor(labels), self.shape)


class EpochSampler(SequentialSampler):
    """An `EpisodeDataset`'s training indices in order; `set_epoch` notes the epoch (Lightning calls it
    before each training epoch, on this sampler or on the DistributedSampler that replaces it under DDP)."""

    epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class EpochBatches(SkippingBatchSampler):
    """Batches of an `EpisodeDataset`'s training keys ``(epoch, i)``: its episodes in the order of
    `sampler` (an `EpochSampler`, or a DistributedSampler: both know the epoch), new ones every epoch.
    A resumed epoch skips the batches it trained on (`SkippingBatchSampler`), so the episode order is
    fully in the checkpoint."""

    def __iter__(self):
        epoch = self.sampler.epoch
        for batch in super().__iter__():
            yield [(epoch, index) for index in batch]
