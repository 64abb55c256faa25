"""Independent reference computations for the norms tests: plain float64 tensor ops, no code from ``norms``."""
from types import SimpleNamespace

import pytest
import torch

# One input shape per rank: (N, C), (N, C, L), (N, C, H, W), (N, C, D, H, W); C = 8.
SHAPES = [(6, 8), (4, 8, 5), (3, 8, 4, 5), (2, 8, 3, 4, 5)]
CHANNELS = 8
# Build keywords per norm for the generic tests; names not listed are built with defaults.
BUILD_KW = {"gn": {"num_groups": 4}, "bgn": {"num_groups": 4}, "evonorm_s0": {"num_groups": 4},
            "brn": {"r_max": 1.5, "d_max": 0.5}}  # brn: bounds that clip the random test statistics
# torch's closest native norm per name: its dtype under autocast is the one each norm must give.
NATIVE_COUNTERPART = {"bn": "batch_norm", "bgn": "batch_norm", "brn": "batch_norm", "gn": "group_norm",
                      "ln": "group_norm", "in": "group_norm", "pn": "layer_norm", "none": "identity"}
# Norms known to miss the mixed-precision contract (test_mixed_precision.py), with the reason; strict xfail,
# so a fix turns the test red until its entry is removed.
MIXED_PRECISION_GAPS = {
    "brn": "batch statistics (and so the running statistics) are computed in bfloat16 under autocast",
    "evonorm_b0": "batch variance (and so the running variance) is computed in bfloat16 under autocast",
}


def per_channel(vector, rank):
    """(C,) -> (1, C, 1, ...) for broadcasting against a rank-``rank`` input."""
    return vector.reshape(1, -1, *([1] * (rank - 2)))


def affine(y, weight, bias):
    if weight is None:
        return y
    return y * per_channel(weight, y.dim()) + per_channel(bias, y.dim())


def batch_group_statistics(x, groups):
    """Mean and biased variance per group over (N, C/G, *), and the count of values per group."""
    grouped = x.reshape(x.shape[0], groups, -1).transpose(0, 1).reshape(groups, -1)
    mean = grouped.mean(1)
    var = ((grouped - mean[:, None]) ** 2).mean(1)
    return mean, var, grouped.shape[1]


def batch_group_norm(x, groups, mean, var, weight, bias, eps):
    """Normalize with given per-group statistics (batch or running), then per-channel affine."""
    n, c = x.shape[:2]
    grouped = x.reshape(n, groups, -1)
    y = (grouped - mean[None, :, None]) / torch.sqrt(var[None, :, None] + eps)
    return affine(y.reshape(x.shape), weight, bias)


def sample_group_norm(x, groups, weight, bias, eps):
    """Per-sample statistics over groups of channels and all positions (GN, LN with G=1, IN with G=C)."""
    grouped = x.reshape(x.shape[0], groups, -1)
    mean = grouped.mean(-1, keepdim=True)
    var = ((grouped - mean) ** 2).mean(-1, keepdim=True)
    return affine(((grouped - mean) / torch.sqrt(var + eps)).reshape(x.shape), weight, bias)


def positional_norm(x, weight, bias, eps):
    mean = x.mean(1, keepdim=True)
    var = ((x - mean) ** 2).mean(1, keepdim=True)
    return affine((x - mean) / torch.sqrt(var + eps), weight, bias)


def positions(x):
    """x (N, C, *) as (N, C, P): P positions per sample and channel (1 for (N, C))."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def batch_renorm(x, running_mean, running_var, r_max, d_max, weight, bias, eps):
    """Ioffe (2017), Algorithm 1: batch statistics corrected by r and d from the running ones, clipped;
    r and d detached (constants in backward)."""
    mean, var, _ = batch_group_statistics(x, x.shape[1])
    batch_std, running_std = torch.sqrt(var + eps), torch.sqrt(running_var + eps)
    r = torch.clamp(batch_std / running_std, 1 / r_max, r_max).detach()
    d = torch.clamp((mean - running_mean) / running_std, -d_max, d_max).detach()
    x_hat = (x - per_channel(mean, x.dim())) / per_channel(batch_std, x.dim())
    return affine(x_hat * per_channel(r, x.dim()) + per_channel(d, x.dim()), weight, bias)


def filter_response_norm(x, weight, bias, tau, eps):
    """Singh & Krishnan (2020), Algorithm 1: nu2 = mean(x^2) over positions; max(gamma x_hat + beta, tau)."""
    nu2 = (positions(x) ** 2).mean(-1).reshape(*x.shape[:2], *([1] * (x.dim() - 2)))
    y = affine(x / torch.sqrt(nu2 + eps), weight, bias)
    return y if tau is None else torch.max(y, per_channel(tau, x.dim()))


def evonorm_b0(x, batch_var, v, weight, bias, eps):
    """Liu et al. (2020), Table 1: x / max(sqrt(s2_b + eps), v x + sqrt(s2_inst + eps))."""
    flat = positions(x)
    instance_var = ((flat - flat.mean(-1, keepdim=True)) ** 2).mean(-1).reshape(*x.shape[:2], *([1] * (x.dim() - 2)))
    right = torch.sqrt(instance_var + eps)
    if v is not None:
        right = right + per_channel(v, x.dim()) * x
    return affine(x / torch.max(per_channel(torch.sqrt(batch_var + eps), x.dim()), right), weight, bias)


def evonorm_s0(x, groups, v, weight, bias, eps):
    """Liu et al. (2020), Table 1: x sigmoid(v x) / sqrt(s2_group + eps)."""
    grouped = x.reshape(x.shape[0], groups, -1)
    var = ((grouped - grouped.mean(-1, keepdim=True)) ** 2).mean(-1, keepdim=True)
    std = torch.sqrt(var + eps).expand_as(grouped).reshape(x.shape)
    gate = 1 if v is None else 1 / (1 + torch.exp(-per_channel(v, x.dim()) * x))
    return affine(x * gate / std, weight, bias)


def expected_output(name, module, x, build_kw):
    """What norm ``name`` must output for ``x``, from the module's parameters, buffers and mode."""
    c = x.shape[1]
    weight, bias, eps = getattr(module, "weight", None), getattr(module, "bias", None), getattr(module, "eps", None)
    if name in ("bn", "bgn"):
        groups = c if name == "bn" else build_kw["num_groups"]
        if module.training or not module.track_running_stats:
            mean, var, _ = batch_group_statistics(x, groups)
        else:
            mean, var = module.running_mean, module.running_var
        return batch_group_norm(x, groups, mean, var, weight, bias, eps)
    if name in ("gn", "ln", "in"):
        groups = {"gn": build_kw.get("num_groups"), "ln": 1, "in": c}[name]
        return sample_group_norm(x, groups, weight, bias, eps)
    if name == "pn":
        return positional_norm(x, weight, bias, eps)
    if name == "none":
        return x
    if name == "brn":
        if not module.training:
            return batch_group_norm(x, c, module.running_mean, module.running_var, weight, bias, eps)
        return batch_renorm(x, module.running_mean, module.running_var, build_kw["r_max"], build_kw["d_max"],
                            weight, bias, eps)
    if name == "frn":
        return filter_response_norm(x, weight, bias, module.tau, eps)
    if name == "evonorm_b0":
        batch_var = batch_group_statistics(x, c)[1] if module.training else module.running_var
        return evonorm_b0(x, batch_var, module.v, weight, bias, eps)
    if name == "evonorm_s0":
        return evonorm_s0(x, build_kw["num_groups"], module.v, weight, bias, eps)
    pytest.fail(f"no reference for norm {name!r}: add one to tests/norms/conftest.py")


def values_per_statistic(name, shape, build_kw):
    """How many values each mean/variance of norm ``name`` averages in training (below 2 must be refused)."""
    n, c, spatial = shape[0], shape[1], 1
    for size in shape[2:]:
        spatial *= size
    groups = {"bn": c, "brn": c, "evonorm_b0": c, "bgn": build_kw.get("num_groups"), "gn": build_kw.get("num_groups"),
              "ln": 1, "in": c}
    if name in ("bn", "brn", "evonorm_b0", "bgn"):
        return n * spatial * c // groups[name]
    if name in ("gn", "ln", "in"):
        return spatial * c // groups[name]
    return {"pn": c, "none": 2}.get(name, 2)


@pytest.fixture
def reference():
    return SimpleNamespace(
        SHAPES=SHAPES, CHANNELS=CHANNELS, BUILD_KW=BUILD_KW, NATIVE_COUNTERPART=NATIVE_COUNTERPART,
        MIXED_PRECISION_GAPS=MIXED_PRECISION_GAPS,
        per_channel=per_channel,
        batch_group_statistics=batch_group_statistics, batch_group_norm=batch_group_norm,
        sample_group_norm=sample_group_norm, positional_norm=positional_norm, expected_output=expected_output,
        batch_renorm=batch_renorm, filter_response_norm=filter_response_norm, evonorm_b0=evonorm_b0,
        evonorm_s0=evonorm_s0,
        values_per_statistic=values_per_statistic,
    )


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def pytest_generate_tests(metafunc):
    """Parametrize ``norm_name`` from the registry and ``shape`` over every rank, so new norms are covered."""
    import norms

    if "norm_name" in metafunc.fixturenames:
        metafunc.parametrize("norm_name", norms.available())
    if "shape" in metafunc.fixturenames:
        metafunc.parametrize("shape", SHAPES, ids=[f"rank{len(s)}" for s in SHAPES])
