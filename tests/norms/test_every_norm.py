"""Every registered norm x forward, backward, train/eval, save/load, every rank, against the references."""
import io

import pytest
import torch

import norms


def make(norm_name, reference, **kw):
    module = norms.build(norm_name, reference.CHANNELS, **{**reference.BUILD_KW.get(norm_name, {}), **kw}).double()
    with torch.no_grad():  # random affine and running statistics, so a layer ignoring them fails
        for name in ("weight", "bias"):
            if isinstance(getattr(module, name, None), torch.Tensor):
                getattr(module, name).normal_()
        if getattr(module, "running_mean", None) is not None:
            module.running_mean.normal_()
        if getattr(module, "running_var", None) is not None:
            module.running_var.uniform_(0.5, 2.0)
    return module


def refuses_training(norm_name, shape, reference):
    return reference.values_per_statistic(norm_name, shape, reference.BUILD_KW.get(norm_name, {})) < 2


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_forward_matches_reference(norm_name, shape, training, reference):
    module = make(norm_name, reference).train(training)
    x = torch.randn(shape, dtype=torch.float64) * 3 + 1
    if training and refuses_training(norm_name, shape, reference):
        with pytest.raises(ValueError, match="single value"):
            module(x)
        return
    expected = reference.expected_output(norm_name, module, x, reference.BUILD_KW.get(norm_name, {}))
    torch.testing.assert_close(module(x), expected)


def test_backward_matches_autograd_of_reference(norm_name, shape, reference):
    if refuses_training(norm_name, shape, reference):
        pytest.skip("training refuses this shape (tested in test_forward_matches_reference)")
    module = make(norm_name, reference).train()
    shadow = make(norm_name, reference).train()
    shadow.load_state_dict(module.state_dict())  # before the forward: brn's output reads the running statistics
    x = (torch.randn(shape, dtype=torch.float64) * 3 + 1).requires_grad_()
    grad_y = torch.randn(shape, dtype=torch.float64)
    module(x).backward(grad_y)
    x_ref = x.detach().clone().requires_grad_()
    params = {n: p.detach().clone().requires_grad_() for n, p in module.named_parameters()}
    for n, p in params.items():
        setattr(shadow, n, torch.nn.Parameter(p))
    expected = reference.expected_output(norm_name, shadow, x_ref, reference.BUILD_KW.get(norm_name, {}))
    expected.backward(grad_y)
    torch.testing.assert_close(x.grad, x_ref.grad)
    for n, p in module.named_parameters():
        torch.testing.assert_close(p.grad, getattr(shadow, n).grad)


def test_parameters_are_per_channel(norm_name, reference):
    module = norms.build(norm_name, reference.CHANNELS, **reference.BUILD_KW.get(norm_name, {}))
    for name, parameter in module.named_parameters():  # weight, bias; FRN's tau, EvoNorm's v
        assert name in ("weight", "bias", "tau", "v") and parameter.shape == (reference.CHANNELS,), name


def test_state_dict_round_trip(norm_name, shape, reference):
    source = make(norm_name, reference).train(not refuses_training(norm_name, shape, reference))
    x = torch.randn(shape, dtype=torch.float64)
    source(x)  # moves running statistics where there are any
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    target = norms.build(norm_name, reference.CHANNELS, **reference.BUILD_KW.get(norm_name, {})).double()
    target.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    for mode in (source.training, False):
        torch.testing.assert_close(target.train(mode)(x), source.train(mode)(x))


def test_output_keeps_shape_dtype_and_device(norm_name, shape, reference):
    module = norms.build(norm_name, reference.CHANNELS, **reference.BUILD_KW.get(norm_name, {}))
    module.train(not refuses_training(norm_name, shape, reference))
    x = torch.randn(shape)
    y = module(x)
    assert (y.shape, y.dtype, y.device) == (x.shape, x.dtype, x.device)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("rank", [1, 6])
def test_rank_outside_2_to_5_is_refused(norm_name, rank, reference):
    module = norms.build(norm_name, reference.CHANNELS, **reference.BUILD_KW.get(norm_name, {}))
    with pytest.raises(ValueError, match=f"rank 2 to 5, got rank {rank}"):
        module(torch.randn((2, reference.CHANNELS, 2, 2, 2, 2)[:rank]))


def test_channel_mismatch_is_refused(norm_name):
    module = norms.build(norm_name, 64, **({"num_groups": 4} if norm_name in ("gn", "bgn") else {}))
    with pytest.raises(ValueError, match="expected 64 channels, got 32"):
        module(torch.randn(2, 32, 4, 4))
