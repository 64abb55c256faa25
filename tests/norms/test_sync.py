"""SyncBatchGroupNorm on 2 gloo processes against the single-process layer on the concatenated batch."""
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import norms
from norms.sync import SyncBatchGroupNorm, convert_sync

# (name, build keywords, global input shape, per-process batch sizes): unequal shards, 2-D to 4-D inputs.
CASES = [
    ("bgn", {"num_groups": 4}, (8, 8, 3, 4), (3, 5)),
    ("bgn", {"num_groups": 2}, (5, 8, 6), (2, 3)),
    ("bn", {}, (7, 8, 5), (4, 3)),
    ("bn", {}, (6, 8), (1, 5)),
    ("bgn", {"num_groups": 8, "momentum": None}, (4, 8, 2, 3), (2, 2)),
]
STEPS = 2  # two training steps, so running statistics are updated twice


def _layer(name, kw):
    torch.manual_seed(1)
    layer = norms.build(name, 8, **kw)
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5)
        layer.bias.uniform_(-0.5, 0.5)
    return layer


def _inputs(shape, step):
    generator = torch.Generator().manual_seed(100 + step)
    x = torch.randn(shape, generator=generator) * 3 + 2
    return x, torch.randn(shape, generator=generator)  # input and the output weights of the loss


def _run(layer, case, shard):
    """Train `layer` for STEPS steps on the `shard` slice of each step's batch; loss Σ y·w."""
    _, _, shape, _ = case
    outputs, input_grads = [], []
    for step in range(STEPS):
        x, loss_weights = _inputs(shape, step)
        x = x[shard].clone().requires_grad_()
        y = layer(x)
        (y * loss_weights[shard]).sum().backward()
        outputs.append(y.detach())
        input_grads.append(x.grad)
    return outputs, input_grads


def _worker(rank, port, result_path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    results = []
    for case in CASES:
        name, kw, _, sizes = case
        layer = convert_sync(_layer(name, kw))
        start = sum(sizes[:rank])
        outputs, input_grads = _run(layer, case, slice(start, start + sizes[rank]))
        affine_grads = torch.stack([layer.weight.grad, layer.bias.grad])
        dist.all_reduce(affine_grads)  # the concatenated batch's loss is the sum of the shards' losses
        results.append((outputs, input_grads, affine_grads, layer.running_mean, layer.running_var))
    torch.save(results, f"{result_path}.{rank}")
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    result_path = tmp_path_factory.mktemp("sync") / "results"
    mp.spawn(_worker, args=(_free_port(), str(result_path)), nprocs=2, join=True)
    return [torch.load(f"{result_path}.{rank}") for rank in range(2)]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c[0]}-{len(c[2])}d-{c[3]}" for c in CASES])
def test_two_processes_match_one_process_on_the_concatenated_batch(two_process_results, index):
    case = CASES[index]
    name, kw, _, sizes = case
    reference = _layer(name, kw)
    outputs, input_grads = _run(reference, case, slice(None))
    for rank in range(2):
        got_outputs, got_input_grads, affine_grads, running_mean, running_var = two_process_results[rank][index]
        shard = slice(sum(sizes[:rank]), sum(sizes[:rank + 1]))
        for step in range(STEPS):
            torch.testing.assert_close(got_outputs[step], outputs[step][shard], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(got_input_grads[step], input_grads[step][shard], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(affine_grads, torch.stack([reference.weight.grad, reference.bias.grad]),
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(running_mean, reference.running_mean, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(running_var, reference.running_var, atol=1e-5, rtol=1e-5)


def test_convert_sync_keeps_parameters_buffers_and_settings():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), norms.build("bn", 8, momentum=0.3), nn.ReLU(),
                          norms.build("bgn", 8, num_groups=2, eps=1e-3), norms.build("gn", 8, num_groups=4),
                          nn.BatchNorm1d(8))
    model[1].running_mean.fill_(0.5)
    bn, bgn, gn = model[1], model[3], model[4]
    model.eval()
    x = torch.randn(2, 3, 6, 6)
    before = model[:5](x)
    convert_sync(model)
    assert isinstance(model[1], SyncBatchGroupNorm) and model[1].num_groups == 8 and model[1].momentum == 0.3
    assert isinstance(model[3], SyncBatchGroupNorm) and model[3].num_groups == 2 and model[3].eps == 1e-3
    assert isinstance(model[5], SyncBatchGroupNorm) and model[5].num_groups == 8
    assert model[4] is gn  # per-sample norms are left alone
    assert model[1].weight is bn.weight and model[1].running_mean is bn.running_mean
    assert model[3].bias is bgn.bias and model[3].num_batches_tracked is bgn.num_batches_tracked
    assert not model[1].training
    torch.testing.assert_close(model[:5](x), before)
    assert convert_sync(model)[1] is model[1]  # converting twice changes nothing


def test_one_process_is_batch_group_norm():
    x = torch.randn(4, 8, 3, 3)
    plain, synced = _layer("bgn", {"num_groups": 4}), convert_sync(_layer("bgn", {"num_groups": 4}))
    torch.testing.assert_close(synced(x), plain(x), atol=0, rtol=0)
    torch.testing.assert_close(synced.running_var, plain.running_var, atol=0, rtol=0)
