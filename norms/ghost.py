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

When k divides N, bn (torch's ``_BatchNorm.forward``) and contiguous-group bgn take one vectorized call
instead of a loop over chunks (`fused_chunks`): the batch viewed as (k, G·C, *) puts chunk j's channels in
block j, so one batch-norm (bgn: G·num_groups groups) over it gives every chunk its own statistics; the cost
no longer grows as k shrinks. Other layers (brn, evonorm_b0, interleaved bgn) and uneven chunks use the loop.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import torch.nn.functional as F

from .batch_group_norm import BatchGroupNorm, BatchGroupNormFunction


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
        if x.shape[0] % self.chunk_size == 0 and fusable(self.norm):
            return fused_chunks(self.norm, x, x.shape[0] // self.chunk_size)
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


def fusable(norm: nn.Module) -> bool:
    """Layers `fused_chunks` computes exactly: torch's batch norm forward, contiguous-group bgn, both with
    running statistics of a fixed momentum (or none at all)."""
    if norm.momentum is None and norm.track_running_stats:
        return False
    if isinstance(norm, _BatchNorm):
        return type(norm).forward is _BatchNorm.forward
    return type(norm) is BatchGroupNorm and not norm.interleaved


def fused_chunks(norm: nn.Module, x: torch.Tensor, num_chunks: int) -> torch.Tensor:
    """`norm` (a `fusable` layer in training mode) on each of `num_chunks` chunks j = samples j, j + G, ... of
    x (N, C, *), in one call on x viewed as (k, G·C, *); the running buffers get one update from the mean of
    the chunks' statistics, as in the loop."""
    batch, channels, rest = x.shape[0], x.shape[1], x.shape[2:]
    stacked = x.reshape(batch // num_chunks, num_chunks * channels, *rest)
    weight, bias = (None if p is None else p.repeat(num_chunks) for p in (norm.weight, norm.bias))
    tracking = norm.track_running_stats
    if isinstance(norm, _BatchNorm):
        running = [None if not tracking else buffer.repeat(num_chunks) for buffer in (norm.running_mean, norm.running_var)]
        y = F.batch_norm(stacked, *running, weight, bias, True, norm.momentum or 0.0, norm.eps)
        if tracking:
            with torch.no_grad():
                for buffer, chunked in zip((norm.running_mean, norm.running_var), running):
                    buffer.copy_(chunked.view(num_chunks, channels).mean(0))
                norm.num_batches_tracked.add_(1)
        return y.reshape(x.shape)
    y, mean, var = BatchGroupNormFunction.apply(stacked, weight, bias, norm.num_groups * num_chunks, norm.eps, False)
    if tracking:
        values_per_group = stacked.numel() // (norm.num_groups * num_chunks)
        norm._update_running_stats(mean.view(num_chunks, -1).mean(0), var.view(num_chunks, -1).mean(0),
                                   values_per_group)
    return y.reshape(x.shape)


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
