"""BGN: the custom autograd function, equality with nn.BatchNorm at G = C, and G < C against a reference."""
import pytest
import torch
from torch import nn

import norms
from norms.batch_group_norm import BatchGroupNormFunction

BATCH_NORMS = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


GRADCHECK_CASES = [((5, 8), 4, True), ((2, 8, 3), 4, True), ((2, 8, 2, 1, 2), 4, True),  # every rank
                   ((2, 8, 2, 3), 1, True), ((2, 8, 2, 3), 8, True), ((2, 8, 2, 3), 2, False),  # groups, affine
                   ((2, 8, 2, 3), 2, True)]


@pytest.mark.parametrize("small_shape, groups, affine", GRADCHECK_CASES)
def test_function_gradcheck_float64(small_shape, groups, affine):
    """gradcheck of (input, weight, bias); the full Jacobian for one case, fast mode (random projections) for
    the rest, as the full check costs a backward per output element and this machine's per-op overhead."""
    x = (torch.randn(small_shape, dtype=torch.float64) * 2 + 1).requires_grad_()
    weight = torch.randn(8, dtype=torch.float64, requires_grad=True) if affine else None
    bias = torch.randn(8, dtype=torch.float64, requires_grad=True) if affine else None
    inputs = (x, weight, bias) if affine else (x,)

    def output(x, weight=None, bias=None):
        return BatchGroupNormFunction.apply(x, weight, bias, groups, 1e-5)[0]

    assert torch.autograd.gradcheck(output, inputs, fast_mode=(small_shape, groups) != ((2, 8, 2, 3), 2))


@pytest.mark.parametrize("groups", [2, 8])
def test_function_matches_autograd_of_plain_formula(shape, groups, reference):
    x = (torch.randn(shape, dtype=torch.float64) * 3 + 5).requires_grad_()
    weight = torch.randn(8, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(8, dtype=torch.float64, requires_grad=True)
    grad_y = torch.randn(shape, dtype=torch.float64)
    y, mean, var = BatchGroupNormFunction.apply(x, weight, bias, groups, 1e-5)
    grads = torch.autograd.grad(y, (x, weight, bias), grad_y)
    inputs = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
    ref_mean, ref_var, _ = reference.batch_group_statistics(inputs[0], groups)
    ref_y = reference.batch_group_norm(inputs[0], groups, ref_mean, ref_var, inputs[1], inputs[2], 1e-5)
    ref_grads = torch.autograd.grad(ref_y, inputs, grad_y)
    torch.testing.assert_close(y, ref_y)
    torch.testing.assert_close((mean, var), (ref_mean, ref_var))
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad)


def test_function_float32_is_accurate_for_large_means():
    x = torch.randn(16, 8, 6, 6) * 0.1 + 100
    y = BatchGroupNormFunction.apply(x, None, None, 4, 1e-5)[0]
    grouped = x.double().reshape(16, 4, -1).transpose(0, 1).reshape(4, -1)
    normalized = (grouped - grouped.mean(1, keepdim=True)) / torch.sqrt(grouped.var(1, unbiased=False, keepdim=True) + 1e-5)
    expected = normalized.reshape(4, 16, -1).transpose(0, 1).reshape(x.shape)
    torch.testing.assert_close(y.double(), expected, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "cumulative"])
def test_groups_equal_channels_is_batch_norm(shape, momentum):
    torch_bn = BATCH_NORMS[len(shape)](8, momentum=momentum)
    bgn = norms.build("bgn", 8, num_groups=8, momentum=momentum)
    with torch.no_grad():
        torch_bn.weight.normal_(), torch_bn.bias.normal_()
        bgn.weight.copy_(torch_bn.weight), bgn.bias.copy_(torch_bn.bias)
    for _ in range(4):
        x = (torch.randn(shape) * 2 + 1).requires_grad_()
        x_bn = x.detach().clone().requires_grad_()
        grad_y = torch.randn(shape)
        y, y_bn = bgn(x), torch_bn(x_bn)
        y.backward(grad_y), y_bn.backward(grad_y)
        torch.testing.assert_close(y, y_bn)
        torch.testing.assert_close(x.grad, x_bn.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(bgn.weight.grad, torch_bn.weight.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(bgn.bias.grad, torch_bn.bias.grad)
    torch.testing.assert_close(bgn.running_mean, torch_bn.running_mean)
    torch.testing.assert_close(bgn.running_var, torch_bn.running_var)
    assert bgn.num_batches_tracked == torch_bn.num_batches_tracked == 4
    x = torch.randn(shape)
    torch.testing.assert_close(bgn.eval()(x), torch_bn.eval()(x))


@pytest.mark.parametrize("momentum", [0.3, None], ids=["momentum0.3", "cumulative"])
def test_running_statistics_fewer_groups_than_channels(momentum, reference):
    bgn = norms.build("bgn", 8, num_groups=2, momentum=momentum).double()
    running_mean, running_var = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    for step in range(1, 5):
        x = torch.randn(4, 8, 3, 3, dtype=torch.float64) * step + step
        bgn(x)
        mean, var, count = reference.batch_group_statistics(x, 2)
        factor = 1 / step if momentum is None else momentum
        running_mean = (1 - factor) * running_mean + factor * mean
        running_var = (1 - factor) * running_var + factor * var * count / (count - 1)
    torch.testing.assert_close(bgn.running_mean, running_mean)
    torch.testing.assert_close(bgn.running_var, running_var)
    assert bgn.running_mean.shape == (2,) and int(bgn.num_batches_tracked) == 4
    x = torch.randn(4, 8, 3, 3, dtype=torch.float64)
    expected = reference.batch_group_norm(x, 2, running_mean, running_var, bgn.weight, bgn.bias, 1e-5)
    torch.testing.assert_close(bgn.eval()(x), expected)


def test_without_running_stats_eval_uses_batch_statistics(reference):
    bgn = norms.build("bgn", 8, num_groups=4, track_running_stats=False).double().eval()
    assert bgn.running_mean is None and "running_mean" not in bgn.state_dict()
    x = torch.randn(4, 8, 5, dtype=torch.float64)
    mean, var, _ = reference.batch_group_statistics(x, 4)
    torch.testing.assert_close(bgn(x), reference.batch_group_norm(x, 4, mean, var, bgn.weight, bgn.bias, 1e-5))


def test_eval_mode_leaves_running_statistics_alone():
    bgn = norms.build("bgn", 8, num_groups=4).eval()
    bgn(torch.randn(4, 8, 3))
    assert int(bgn.num_batches_tracked) == 0 and bgn.running_mean.eq(0).all()


def test_single_value_per_group_in_training_is_refused():
    bgn = norms.build("bgn", 8, num_groups=8)
    with pytest.raises(ValueError, match="single value.*call .eval()"):
        bgn(torch.randn(1, 8))
    bgn.eval()(torch.randn(1, 8))  # running statistics: fine


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"num_groups=32 does not divide num_channels=40; pass one of \[1, 2, 4, 5, 8, 10, 20, 40\]"):
        norms.build("bgn", 40)
    with pytest.raises(ValueError, match="num_groups must be at least 1, got 0"):
        norms.build("bgn", 40, num_groups=0)


def interleaved_reference(x, groups, weight, bias, eps, mean=None, var=None):
    """Group g holds channels g, g + G, g + 2G, ...: selected by a channel mask, statistics over the
    selected values (batch statistics unless ``mean``/``var`` per group are given)."""
    y = torch.empty_like(x)
    members = torch.arange(x.shape[1]) % groups
    for g in range(groups):
        values = x[:, members == g]
        mean_g = values.mean() if mean is None else mean[g]
        var_g = values.var(unbiased=False) if var is None else var[g]
        y[:, members == g] = (values - mean_g) / torch.sqrt(var_g + eps)
    shape = (1, -1, *([1] * (x.dim() - 2)))
    return y * weight.view(shape) + bias.view(shape)


def test_interleaved_layout_matches_channel_mask_reference(shape):
    bgn = norms.build("bgn", 8, num_groups=2, group_layout="interleaved", momentum=1.0).double()
    with torch.no_grad():
        bgn.weight.normal_(), bgn.bias.normal_()
    x = (torch.randn(shape, dtype=torch.float64) * 3 + 1).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    weight, bias = (p.detach().clone().requires_grad_() for p in (bgn.weight, bgn.bias))
    grad_y = torch.randn(shape, dtype=torch.float64)
    bgn(x).backward(grad_y)
    interleaved_reference(x_ref, 2, weight, bias, 1e-5).backward(grad_y)
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close((bgn.weight.grad, bgn.bias.grad), (weight.grad, bias.grad))
    members = torch.arange(8) % 2  # momentum 1: the running statistics are this batch's (variance unbiased)
    expected_mean = torch.stack([x_ref[:, members == g].mean() for g in range(2)])
    expected_var = torch.stack([x_ref[:, members == g].var() for g in range(2)])
    torch.testing.assert_close((bgn.running_mean, bgn.running_var), (expected_mean, expected_var))
    x_eval = torch.randn(shape, dtype=torch.float64)
    expected = interleaved_reference(x_eval, 2, bgn.weight, bgn.bias, 1e-5, expected_mean, expected_var)
    torch.testing.assert_close(bgn.eval()(x_eval), expected)


def test_interleaved_layout_differs_from_contiguous():
    x = torch.randn(4, 8, 3) + torch.arange(8.0).view(1, 8, 1)  # channel means differ, so the split matters
    contiguous = norms.build("bgn", 8, num_groups=2)(x)
    interleaved = norms.build("bgn", 8, num_groups=2, group_layout="interleaved")(x)
    assert not torch.allclose(contiguous, interleaved, atol=1e-2)


def test_unknown_group_layout_is_refused():
    with pytest.raises(ValueError, match="group_layout='strided' is not a BGN group layout; pass one of"):
        norms.build("bgn", 8, num_groups=2, group_layout="strided")


def test_convert_sync_refuses_interleaved_layout():
    with pytest.raises(ValueError, match="convert_sync supports group_layout='contiguous' only"):
        norms.convert_sync(norms.build("bgn", 8, num_groups=2, group_layout="interleaved"))
