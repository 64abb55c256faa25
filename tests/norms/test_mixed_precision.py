"""Every registered norm under bfloat16 autocast on CPU against a float32 reference.

CUDA float16/bfloat16 autocast takes the same code paths except BGN's Triton kernels, which
tests/norms/test_batch_group_norm_kernels.py checks in float16 and bfloat16 against the eager path.

Tolerance: the autocast output and gradients equal float32 autograd on the same bfloat16-rounded input
and output gradient within ``TOLERANCE`` of the reference's largest magnitude, i.e. a few bfloat16
roundings (2**-8 each). Statistics accumulated in bfloat16 over the 512+ values per statistic used here
would miss by far more; the running statistics (accumulated in float32) must match to float32 precision.
"""
import copy

import pytest
import torch
import torch.nn.functional as F

import norms

SHAPE = (8, 8, 8, 8)
TOLERANCE = 2e-2


def native_output_dtype(norm_name, x, reference):
    """The dtype torch's closest native norm returns for x under the current autocast; None if undeclared."""
    native = reference.NATIVE_COUNTERPART.get(norm_name)
    if native is None:
        return None
    weight, bias = torch.ones(x.shape[1]), torch.zeros(x.shape[1])
    calls = {
        "batch_norm": lambda: F.batch_norm(x, None, None, weight, bias, True),
        "group_norm": lambda: F.group_norm(x, 1, weight, bias),
        "layer_norm": lambda: F.layer_norm(x.movedim(1, -1), (x.shape[1],), weight, bias),
        "identity": lambda: x,
    }
    return calls[native]().dtype


def build(norm_name, reference):
    module = norms.build(norm_name, SHAPE[1], **reference.BUILD_KW.get(norm_name, {})).train()
    with torch.no_grad():
        for name in ("weight", "bias"):
            if isinstance(getattr(module, name, None), torch.Tensor):
                getattr(module, name).normal_()
    return module


def assert_close_to(actual, expected):
    torch.testing.assert_close(actual.float(), expected, rtol=0, atol=TOLERANCE * expected.abs().max().item())


def test_bf16_autocast_output_dtype_is_the_native_norms(norm_name, reference):
    x = torch.randn(SHAPE).bfloat16()
    module = build(norm_name, reference)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = native_output_dtype(norm_name, x, reference)
        if expected is None:
            pytest.skip(f"no native counterpart declared for {norm_name!r}: add it to NATIVE_COUNTERPART in "
                        f"tests/norms/conftest.py")
        assert module(x).dtype == expected


@pytest.mark.parametrize("input_dtype", [torch.bfloat16, torch.float32], ids=["bf16-input", "fp32-input"])
def test_bf16_autocast_matches_float32_reference(norm_name, input_dtype, reference, request):
    if norm_name in reference.MIXED_PRECISION_GAPS and input_dtype == torch.bfloat16:
        request.applymarker(pytest.mark.xfail(reason=reference.MIXED_PRECISION_GAPS[norm_name], strict=True))
    module = build(norm_name, reference)
    shadow = copy.deepcopy(module)
    x = (torch.randn(SHAPE) * 2 + 1).to(input_dtype).requires_grad_()
    grad_y = torch.randn(SHAPE).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = module(x)
    y.backward(grad_y.to(y.dtype))

    x_ref = x.detach().float().requires_grad_()
    y_ref = shadow(x_ref)
    y_ref.backward(grad_y.float())
    assert torch.isfinite(y).all() and x.grad.dtype == x.dtype
    assert_close_to(y, y_ref.detach())
    assert_close_to(x.grad, x_ref.grad)
    for (name, parameter), ref in zip(module.named_parameters(), shadow.parameters()):
        assert parameter.grad.dtype == parameter.dtype == torch.float32, name
        assert_close_to(parameter.grad, ref.grad)
    for name, buffer in module.named_buffers():  # running statistics: accumulated in float32
        torch.testing.assert_close(buffer, dict(shadow.named_buffers())[name], rtol=1e-5, atol=1e-5)
