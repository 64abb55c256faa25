"""Synchronized layers (bn, bgn, brn, evonorm_b0) on 2 gloo processes against the single-process layer on the
concatenated batch."""
import copy
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import norms
from norms.sync import SyncBatchGroupNorm, SyncBatchRenorm, SyncEvoNormB0, convert_sync

# (name, build keywords, global input shape, per-process batch sizes): unequal shards, 2-D to 4-D inputs.
CASES = [
    ("bgn", {"num_groups": 4}, (8, 8, 3, 4), (3, 5)),
    ("bgn", {"num_groups": 2}, (5, 8, 6), (2, 3)),
    ("bn", {}, (7, 8, 5), (4, 3)),
    ("bn", {}, (6, 8), (1, 5)),
    ("bgn", {"num_groups": 8, "momentum": None}, (4, 8, 2, 3), (2, 2)),
    ("brn", {}, (8, 8, 3, 4), (3, 5)),  # r and d from the global moments; r clipped in the first step
    ("brn", {"affine": False}, (6, 8), (2, 4)),
    ("evonorm_b0", {}, (8, 8, 3, 4), (5, 3)),  # global batch variance, per-sample instance variance
    ("evonorm_b0", {"apply_activation": False}, (5, 8, 6), (2, 3)),
]
STEPS = 2  # two training steps, so running statistics are updated twice


def _layer(name, kw):
    torch.manual_seed(1)
    layer = norms.build(name, 8, **kw)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.uniform_(0.5, 1.5)
        if layer.bias is not None:
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
        parameter_grads = {name: parameter.grad for name, parameter in layer.named_parameters()}
        for grad in parameter_grads.values():
            dist.all_reduce(grad)  # the concatenated batch's loss is the sum of the shards' losses
        results.append((outputs, input_grads, parameter_grads, dict(layer.named_buffers())))
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
        got_outputs, got_input_grads, parameter_grads, buffers = two_process_results[rank][index]
        shard = slice(sum(sizes[:rank]), sum(sizes[:rank + 1]))
        for step in range(STEPS):
            torch.testing.assert_close(got_outputs[step], outputs[step][shard], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(got_input_grads[step], input_grads[step][shard], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(parameter_grads, {name: p.grad for name, p in reference.named_parameters()},
                                   atol=1e-5, rtol=1e-5)
        # running statistics (and brn's, bn's step counts)
        torch.testing.assert_close(buffers, dict(reference.named_buffers()), atol=1e-5, rtol=1e-5)


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


@pytest.mark.parametrize("name, synchronized", [("brn", SyncBatchRenorm), ("evonorm_b0", SyncEvoNormB0)])
def test_brn_and_evonorm_b0_become_their_synchronized_layers_with_the_same_state(name, synchronized):
    layer = _layer(name, {"momentum": 0.3})
    layer.running_var.fill_(2.0)
    plain = copy.deepcopy(layer)
    model = convert_sync(nn.Sequential(layer).eval())
    assert type(model[0]) is synchronized and model[0].momentum == 0.3 and not model[0].training
    assert model[0].weight is layer.weight and model[0].running_var is layer.running_var
    assert model[0].state_dict().keys() == layer.state_dict().keys()
    x = torch.randn(3, 8, 4)
    torch.testing.assert_close(model(x), plain.eval()(x), atol=0, rtol=0)
    for _ in range(2):  # one process: the plain layer, running statistics included
        torch.testing.assert_close(model.train()(x), plain.train()(x), atol=0, rtol=0)
    torch.testing.assert_close(model[0].running_var, plain.running_var, atol=0, rtol=0)


def test_a_batch_statistics_layer_without_a_synchronized_version_is_refused():
    class BatchMeanNorm(nn.Module):
        uses_batch_statistics = True

    with pytest.raises(ValueError, match="no synchronized version of BatchMeanNorm.*trainer.sync_norms=false"):
        convert_sync(nn.Sequential(nn.Linear(2, 2), BatchMeanNorm()))
