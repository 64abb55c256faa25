"""Batches of an in-memory `TensorDataset` held on the training device: no per-step collate or copy."""
from __future__ import annotations

import math

import torch
from torch.utils.data import RandomSampler, TensorDataset

from suite.resume import DataOrder

# Above this size a tensor dataset goes through a DataLoader instead (the per-epoch shuffled copy doubles it).
MAX_RESIDENT_BYTES = 2**30


def fits_on_device(dataset) -> bool:
    """Whether `dataset` is a `TensorDataset` small enough to keep on the device."""
    return isinstance(dataset, TensorDataset) and \
        sum(tensor.nelement() * tensor.element_size() for tensor in dataset.tensors) <= MAX_RESIDENT_BYTES


class TensorBatches:
    """Yields ``[images, labels]`` batches (slices of `dataset`'s tensors) as ``DataLoader(dataset,
    batch_size, shuffle=generator is not None, drop_last, generator=generator)`` would, the same
    batches in the same order, but from tensors moved to `device` once. Its `data_order` position is
    saved in checkpoints (Lightning calls `state_dict`/`load_state_dict`), so a resumed run continues it.

    Shuffling draws from `generator` exactly what DataLoader draws (its workers' base seed, then a
    `RandomSampler` permutation) once per pass, so one generator gives a new order every epoch and the
    orders DataLoader gives. A shuffled pass gathers the tensors once (one copy per epoch); batches are
    views of it.
    """

    def __init__(self, dataset: TensorDataset, batch_size: int, device: torch.device, drop_last: bool = False,
                 generator: torch.Generator | None = None):
        self.dataset = dataset
        self.tensors = tuple(tensor.to(device) for tensor in dataset.tensors)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.generator = generator
        self.data_order = DataOrder(generator)

    def state_dict(self) -> dict:
        """The position in the order, saved with Lightning's loop state (see `suite.resume.DataOrder`)."""
        return self.data_order.position or {}

    def load_state_dict(self, state: dict) -> None:
        self.data_order.resume_from(state)

    def __len__(self) -> int:
        size = len(self.dataset)
        return size // self.batch_size if self.drop_last else math.ceil(size / self.batch_size)

    def __iter__(self):
        tensors = self.tensors
        skip = self.data_order.start()
        if self.generator is not None:
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)
            order = torch.as_tensor(list(RandomSampler(self.dataset, generator=self.generator)))
            order = order.to(tensors[0].device)
            tensors = tuple(tensor[order] for tensor in tensors)
        for start in range(skip * self.batch_size, len(self) * self.batch_size, self.batch_size):
            yield [tensor[start:start + self.batch_size] for tensor in tensors]
