"""Ghost batches: a batch-statistics norm computes its statistics over chunks of k samples of the batch
it gets (Hoffer, Hubara & Soudry 2017, "Train longer, generalize better", section 4), so the normalization
batch is varied while the optimizer batch, the steps and the learning rate stay fixed.

    norms.ghost_batches(model, 4)   # every bn/bgn/brn/evonorm_b0 layer now normalizes per 4 samples

A batch of N samples is cut into G = N // k chunks; chunk j holds samples j, j + G, j + 2G, ... (k or k + 1
of them), so chunks mix whatever a task concatenates (uda's source and target halves, fsl's episodes,
ordered by class). Each chunk goes through the wrapped layer on its own, in training mode only; eval mode,
or a batch of at most k samples, is the layer unchanged. Running statistics get one update per forward,
as without chunks, from the chunks' average: every chunk starts from the same running buffers and the
buffers end at the mean of the chunks' results, which for an exponential (or cumulative) average equals
one update with the mean of the chunk statistics. Per-sample norms (gn, ln, in, pn, frn, ...) are left
alone: chunking cannot change them.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .batch_group_norm import BatchGroupNorm


def uses_batch_statistics(module: nn.Module) -> bool:
    """True for layers whose training-mode output for one sample depends on the other samples: torch's and
    timm's BatchNorm family, bgn, and any class that sets ``uses_batch_statistics = True`` (brn, evonorm_b0)."""
    return isinstance(module, (_BatchNorm, BatchGroupNorm)) or getattr(type(module), "uses_batch_statistics", False)


def chunk_order(batch_size: int, chunk_size: int) -> list[torch.Tensor]:
    """The sample indices of each chunk: G = batch_size // chunk_size chunks, chunk j = j, j + G, ..."""
    num_chunks = max(1, batch_size // chunk_size)
    return [torch.arange(start, batch_size, num_chunks) for start in range(num_chunks)]


class GhostBatch(nn.Module):
    """``norm`` with its training-mode statistics computed per chunk of ``chunk_size`` samples.

    Args:
        norm: a batch-statistics layer taking (N, C, *); it stays the module's ``norm`` child, so its
            parameters, buffers and train/eval flag are the ones that count (``norms_in_mode`` switches
            ``norm.training``, not this wrapper's).
        chunk_size: k >= 1, the normalization batch.

    Shape: (N, C, *) in and out.
    """

    def __init__(self, norm: nn.Module, chunk_size: int):
        super().__init__()
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
        self.norm = norm
        self.chunk_size = chunk_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.norm.training or x.shape[0] <= self.chunk_size:
            return self.norm(x)
        chunks = chunk_order(x.shape[0], self.chunk_size)
        # Each chunk runs on its own copy of the running buffers: autograd keeps the buffers a batch-norm
        # kernel read, so one tensor must not be rewritten between chunks.
        slots = [(module._buffers, name) for module in self.norm.modules()
                 for name, buffer in module._buffers.items() if buffer is not None]
        originals = [slot[name] for slot, name in slots]
        sums = [torch.zeros_like(buffer, dtype=torch.float64) for buffer in originals]
        outputs = []
        try:
            for indices in chunks:
                for (slot, name), original in zip(slots, originals):
                    slot[name] = original.detach().clone()
                outputs.append(self.norm(x[indices.to(x.device)]))
                with torch.no_grad():
                    for total, (slot, name) in zip(sums, slots):
                        total += slot[name]
        finally:
            for (slot, name), original in zip(slots, originals):
                slot[name] = original
        with torch.no_grad():
            for original, total in zip(originals, sums):
                # integer buffers (num_batches_tracked) are equal in every chunk: the mean is exact
                original.copy_((total / len(chunks)).to(original.dtype))
        order = torch.cat(chunks).to(x.device)
        return torch.cat(outputs)[torch.argsort(order)]

    def extra_repr(self) -> str:
        return f"chunk_size={self.chunk_size}"


def ghost_batches(model: nn.Module, chunk_size: int) -> nn.Module:
    """Wrap every layer of ``model`` that ``uses_batch_statistics`` in ``GhostBatch(layer, chunk_size)``, in
    place; return the model (a model that is itself such a layer is returned wrapped). Layers already wrapped
    are left as they are, so converting twice is converting once."""
    if uses_batch_statistics(model):
        return GhostBatch(model, chunk_size)
    for parent in list(model.modules()):
        if isinstance(parent, GhostBatch):
            continue
        for child_name, child in list(parent.named_children()):
            if uses_batch_statistics(child):
                setattr(parent, child_name, GhostBatch(child, chunk_size))
    return model
