"""Runs BGN's Triton kernels under Triton's interpreter on CPU against the eager path; used as a script.

    python tests/norms/bgn_kernel_cases.py fast|sweep OUT.json

TRITON_INTERPRET must be set before triton is first imported, so this runs in its own process
(tests/norms/test_batch_group_norm_kernels.py starts it once per tier and checks each case's result). Each
case runs ``BatchGroupNormFunction`` forward and backward twice on the same CPU tensors, once with the
Triton kernels (``kernels_for`` patched to return them) and once eager, and records the largest
difference of each output relative to the eager output's largest magnitude.
"""
import itertools
import json
import os
import sys

import torch

from norms import batch_group_norm
from norms.batch_group_norm import BatchGroupNormFunction

# (id, shape, groups, layout, dtype, memory format, affine): C/G = 1, C/G not a power of two, spatial sizes
# not powers of two, N = 2, ranks 2 to 5, channels_last, float16/bfloat16, no affine.
FAST = [
    ("rank4-cg3-spatial5x3", (2, 12, 5, 3), 4, "contiguous", "float32", "contiguous", True),
    ("rank4-cg1", (2, 6, 3, 3), 6, "contiguous", "float32", "contiguous", True),
    ("rank3-interleaved", (2, 12, 7), 4, "interleaved", "float32", "contiguous", True),
    ("rank2", (5, 6), 2, "contiguous", "float32", "contiguous", True),
    ("rank5-channels_last", (2, 6, 2, 3, 3), 2, "contiguous", "float32", "channels_last", True),
    ("rank4-channels_last-interleaved", (2, 12, 3, 5), 3, "interleaved", "float32", "channels_last", False),
    ("rank4-float16", (2, 10, 3, 3), 5, "contiguous", "float16", "contiguous", True),
    ("rank4-bfloat16-channels_last", (2, 12, 3, 3), 4, "contiguous", "bfloat16", "channels_last", True),
]


def sweep():
    """Every combination of a few shapes, group counts, layouts, dtypes and memory formats (slow tier)."""
    shapes = [(2, 24, 7, 9), (3, 24, 33), (2, 24, 3, 5, 6), (17, 24), (4, 24, 16, 16)]
    cases = []
    for shape, groups, layout, dtype, memory in itertools.product(
            shapes, (1, 3, 8, 24), ("contiguous", "interleaved"), ("float32", "float16", "bfloat16"),
            ("contiguous", "channels_last")):
        if memory == "channels_last" and len(shape) < 4:
            continue
        name = f"{'x'.join(map(str, shape))}-g{groups}-{layout}-{dtype}-{memory}"
        cases.append((name, shape, groups, layout, dtype, memory, groups != 3))
    return cases


def run(shape, groups, layout, dtype, memory, affine, use_triton):
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=generator) * 3 + 2).to(getattr(torch, dtype))
    if memory == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last if x.dim() == 4 else torch.channels_last_3d)
    grad_y = torch.randn(shape, generator=generator).to(x.dtype)
    weight = torch.randn(shape[1], generator=generator).requires_grad_() if affine else None
    bias = torch.randn(shape[1], generator=generator).requires_grad_() if affine else None
    x.requires_grad_()
    batch_group_norm.kernels_for = (lambda _: kernels) if use_triton else (lambda _: None)
    y, mean, var = BatchGroupNormFunction.apply(x, weight, bias, groups, 1e-5, layout == "interleaved")
    y.backward(grad_y)
    outputs = {"y": y, "mean": mean, "var": var, "grad_x": x.grad}
    if affine:
        outputs |= {"grad_weight": weight.grad, "grad_bias": bias.grad}
    return outputs


def compare(case):
    name, *arguments = case
    triton_out, eager_out = run(*arguments, use_triton=True), run(*arguments, use_triton=False)
    result = {"dtypes_match": all(triton_out[k].dtype == eager_out[k].dtype for k in eager_out),
              "y_strides_match": triton_out["y"].stride() == eager_out["y"].stride(),
              "grad_x_strides_match": triton_out["grad_x"].stride() == eager_out["grad_x"].stride()}
    for key, expected in eager_out.items():
        difference = (triton_out[key].float() - expected.float()).abs().max()
        result[key] = (difference / expected.float().abs().max().clamp_min(1e-12)).item()
    return name, result


if __name__ == "__main__":
    os.environ["TRITON_INTERPRET"] = "1"  # before the kernels module imports triton
    from norms.kernels import batch_group_norm as kernels

    tier, out = sys.argv[1], sys.argv[2]
    cases = FAST if tier == "fast" else sweep()
    with open(out, "w") as file:
        json.dump(dict(compare(case) for case in cases), file)
