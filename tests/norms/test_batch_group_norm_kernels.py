"""BGN's Triton kernels equal the eager path: run on CPU by Triton's interpreter in a subprocess.

The acceptance tests of ``norms.kernels.batch_group_norm`` (see tests/norms/bgn_kernel_cases.py for the
cases and why a subprocess). Relative tolerance on each output's largest magnitude: 1e-5 in float32
(only summation order differs); in float16/bfloat16 one rounding of the output (2**-10, 2**-7) plus
float32 noise, so 2e-3 and 1.6e-2.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

CASES = Path(__file__).with_name("bgn_kernel_cases.py")
ROOT = Path(__file__).parents[2]
TOLERANCE = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1.6e-2}
sys.path.insert(0, str(CASES.parent))
import bgn_kernel_cases  # noqa: E402  (the case lists only; triton is imported in the subprocess)


def interpret(tier, tmp_path_factory):
    out = tmp_path_factory.mktemp("bgn_kernels") / f"{tier}.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, str(CASES), tier, str(out)], check=True, cwd=ROOT, env=env, timeout=1800)
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def fast_results(tmp_path_factory):
    return interpret("fast", tmp_path_factory)


@pytest.fixture(scope="module")
def sweep_results(tmp_path_factory):
    return interpret("sweep", tmp_path_factory)


def check(result, dtype):
    assert result.pop("dtypes_match") and result.pop("y_strides_match") and result.pop("grad_x_strides_match")
    assert max(result.values()) <= TOLERANCE[dtype], result


@pytest.mark.parametrize("case", bgn_kernel_cases.FAST, ids=[case[0] for case in bgn_kernel_cases.FAST])
def test_triton_equals_eager(case, fast_results):
    check(fast_results[case[0]], case[4])


@pytest.mark.slow
@pytest.mark.parametrize("case", bgn_kernel_cases.sweep(), ids=[case[0] for case in bgn_kernel_cases.sweep()])
def test_triton_equals_eager_sweep(case, sweep_results):
    check(sweep_results[case[0]], case[4])


def test_import_norms_and_cpu_training_do_not_import_triton():
    code = ("import sys, torch, norms; layer = norms.build('bgn', 8, num_groups=4); "
            "layer(torch.randn(2, 8, 3, requires_grad=True)).sum().backward(); "
            "print(sorted(m for m in ('triton', 'norms.kernels.batch_group_norm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
