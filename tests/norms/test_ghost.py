"""Ghost batches: every registered norm, against an independent per-chunk computation."""
import copy

import pytest
import torch
from torch import nn

import norms
from norms.ghost import GhostBatch, chunk_order, ghost_batches, uses_batch_statistics

SHAPE = (12, 8, 3, 3)  # N = 12: chunks of 4 are 3 chunks, chunks of 5 are 2 chunks of 6


def make(norm_name, reference):
    layer = norms.build(norm_name, reference.CHANNELS, **reference.BUILD_KW.get(norm_name, {})).double()
    with torch.no_grad():  # affine away from the identity, so a layer ignoring it fails
        for parameter in layer.parameters():
            parameter.normal_()
    return layer


def mixes_samples(layer) -> bool:
    """Probe: does sample 0's training-mode output change when only sample 1 changes?"""
    x = torch.randn(SHAPE, dtype=torch.float64)
    moved = x.clone()
    moved[1] += 5 * torch.randn_like(moved[1])
    first = copy.deepcopy(layer).train()(x)[0]
    second = copy.deepcopy(layer).train()(moved)[0]
    return not torch.allclose(first, second)


def test_uses_batch_statistics_agrees_with_a_probe(norm_name, reference):
    layer = make(norm_name, reference)
    assert uses_batch_statistics(layer) == mixes_samples(layer)


def batch_norms(reference):
    return [name for name in norms.available() if uses_batch_statistics(make(name, reference))]


@pytest.mark.parametrize("chunk_size", [2, 4, 5])
def test_each_chunk_is_normalized_alone(norm_name, reference, chunk_size):
    layer = make(norm_name, reference)
    if not uses_batch_statistics(layer):
        pytest.skip("per-sample norm: not wrapped")
    x = (torch.randn(SHAPE, dtype=torch.float64) * 2 + 1).requires_grad_()
    x_copy = x.detach().clone().requires_grad_()
    chunks = [list(range(start, SHAPE[0], SHAPE[0] // chunk_size)) for start in range(SHAPE[0] // chunk_size)]
    # independent: a fresh copy of the layer on each chunk, outputs put back at their samples
    copies = [copy.deepcopy(layer).train() for _ in chunks]
    pieces = [piece(x_copy[indices]) for piece, indices in zip(copies, chunks)]
    expected = torch.empty(SHAPE, dtype=torch.float64)
    for piece_output, indices in zip(pieces, chunks):
        expected[indices] = piece_output.detach()
    y = GhostBatch(layer, chunk_size).train()(x)
    assert torch.allclose(y, expected, atol=1e-10)
    # running buffers: one update from the mean of the chunks' updates
    for name, buffer in layer.named_buffers():
        chunk_values = torch.stack([dict(piece.named_buffers())[name].double() for piece in copies])
        assert torch.allclose(buffer.double(), chunk_values.mean(0)), name
    # gradients: the sum of the per-chunk graphs
    weights = torch.randn(SHAPE, dtype=torch.float64)
    (y * weights).sum().backward()
    sum((output * weights[indices]).sum() for output, indices in zip(pieces, chunks)).backward()
    assert torch.allclose(x.grad, x_copy.grad, atol=1e-9)
    for name, parameter in layer.named_parameters():
        summed = sum(dict(piece.named_parameters())[name].grad for piece in copies)
        assert torch.allclose(parameter.grad, summed, atol=1e-9), name


def test_batch_norm_running_statistics_are_the_mean_chunk_statistics(reference):
    """Hand-computed for bn: r' = (1 - m) r + m * mean over chunks of the chunk's (unbiased) statistics."""
    layer = norms.build("bn", 8, momentum=0.1).double()
    x = torch.randn(SHAPE, dtype=torch.float64) * 3 + 2
    GhostBatch(layer, 4).train()(x)
    chunks = [x[start::3] for start in range(3)]
    means = torch.stack([chunk.mean(dim=(0, 2, 3)) for chunk in chunks])
    variances = torch.stack([chunk.var(dim=(0, 2, 3), unbiased=True) for chunk in chunks])
    assert torch.allclose(layer.running_mean, 0.1 * means.mean(0))
    assert torch.allclose(layer.running_var, 0.9 + 0.1 * variances.mean(0))
    assert int(layer.num_batches_tracked) == 1


def test_eval_mode_and_small_batches_are_the_layer_unchanged(reference):
    for name in batch_norms(reference):
        layer = make(name, reference)
        x = torch.randn(SHAPE, dtype=torch.float64)
        assert torch.equal(GhostBatch(copy.deepcopy(layer), 4).eval()(x), copy.deepcopy(layer).eval()(x))
        # the wrapper follows the inner layer's flag (norms_in_mode switches that one)
        ghost = GhostBatch(copy.deepcopy(layer), 12)
        assert torch.allclose(ghost.train()(x), copy.deepcopy(layer).train()(x))


def test_chunks_cover_every_sample_once_with_at_least_k_each():
    for batch, k in [(32, 2), (32, 32), (33, 4), (10, 3), (5, 8)]:
        chunks = chunk_order(batch, k)
        assert sorted(torch.cat(chunks).tolist()) == list(range(batch))
        assert min(len(chunk) for chunk in chunks) >= min(k, batch)


def test_ghost_batches_wraps_only_batch_statistics_layers_once():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), norms.build("bn", 8), nn.ReLU(), norms.build("gn", 8, num_groups=2),
                          norms.NormActivation(norms.build("bgn", 8, num_groups=4), nn.Identity(), nn.ReLU()))
    ghost_batches(model, 4)
    ghost_batches(model, 4)
    assert isinstance(model[1], GhostBatch) and isinstance(model[1].norm, norms.BatchNorm)
    assert isinstance(model[3], norms.GroupNorm)
    assert isinstance(model[4].norm, GhostBatch) and isinstance(model[4].norm.norm, norms.BatchGroupNorm)
    assert sum(isinstance(module, GhostBatch) for module in model.modules()) == 2
    with pytest.raises(ValueError, match="chunk_size"):
        GhostBatch(norms.build("bn", 8), 0)


@pytest.mark.parametrize("name, options", [("bn", {}), ("bgn", {"num_groups": 4})])
def test_the_fused_path_equals_the_loop_over_chunks(name, options, monkeypatch):
    """bn and contiguous bgn take one call on (k, G·C, *) when k divides N: the same outputs, gradients and
    running buffers as the loop (`fusable` switched off)."""
    layer = norms.build(name, 8, **options).double()
    assert norms.ghost.fusable(layer)
    results = []
    for fused in (True, False):
        monkeypatch.setattr(norms.ghost, "fusable", lambda norm, fused=fused: fused)
        copy_ = copy.deepcopy(layer).train()
        x = (torch.randn(SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 + 1)
        x.requires_grad_()
        y = GhostBatch(copy_, 4)(x)
        (y * torch.arange(y.numel(), dtype=torch.float64).view_as(y)).sum().backward()
        results.append([y, x.grad, *copy_.buffers(), *(p.grad for p in copy_.parameters())])
    for fused_value, looped_value in zip(*results):
        assert torch.allclose(fused_value.double(), looped_value.double(), atol=1e-10)


def test_only_layers_the_fused_path_computes_exactly_are_fused():
    assert not norms.ghost.fusable(norms.build("bgn", 8, num_groups=4, group_layout="interleaved"))
    assert not norms.ghost.fusable(norms.build("brn", 8))
    assert not norms.ghost.fusable(norms.build("bn", 8, momentum=None))
