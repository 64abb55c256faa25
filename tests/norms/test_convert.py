"""convert: timm families keep their eval outputs under bn / bgn(G=C), every norm fits odd channel counts."""
import logging

import pytest
import timm
import torch
from timm.layers import LayerNorm2d
from torch import nn

import norms

# Small members of several timm families and an input size that keeps each run short.
MODELS = {"resnet10t": 32, "efficientnet_b0": 32, "mobilenetv3_small_050": 32, "regnetx_002": 32, "densenet121": 32}
ORIGINAL_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm, LayerNorm2d)


def randomized(model):
    """Eval mode with random affine and running statistics, so a conversion that drops them fails."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5), module.bias.normal_(0, 0.3)
                module.running_mean.normal_(0, 0.3), module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def fused_activations(model):
    return [module.act for module in model.modules() if isinstance(getattr(module, "act", None), nn.Module)
            and isinstance(module, ORIGINAL_NORMS)]


def left_over(model):
    registered = tuple(norms.registry.NORMS.classes())
    return [type(m).__name__ for m in model.modules() if isinstance(m, ORIGINAL_NORMS) and not isinstance(m, registered)]


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("target, kw", [("bn", {}), ("bgn", {"num_groups": 4096})], ids=["bn", "bgn-G=C"])
def test_batch_norm_conversions_keep_eval_outputs(model_name, target, kw):
    model = randomized(timm.create_model(model_name, pretrained=False, num_classes=7))
    x = torch.randn(2, 3, MODELS[model_name], MODELS[model_name])
    activations = fused_activations(model)
    with torch.no_grad():
        before = model(x)
    converted = norms.convert(model, target, **kw)
    assert converted is model and not left_over(model)
    kept = {id(m.act) for m in model.modules() if isinstance(m, norms.NormActivation)}
    assert {id(a) for a in activations} <= kept
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, atol=1e-4, rtol=1e-4)
    if target == "bgn":
        assert all(groups == channels for _, channels, groups in norms.group_assignments(model))


@pytest.mark.parametrize("target", ["gn", "ln", "in", "pn", "bgn", "none"])
def test_every_norm_fits_odd_channel_counts_and_reports_groups(target, caplog):
    model = timm.create_model("efficientnet_b0", pretrained=False, num_classes=7)
    with caplog.at_level(logging.INFO, logger="norms"):
        norms.convert(model, target)
    assert not left_over(model)
    model.train()(torch.randn(2, 3, 64, 64)).sum().backward()  # 64 px keeps 2x2 positions for "in"
    assignments = norms.group_assignments(model)
    if target in ("gn", "bgn"):
        channels = {c for _, c, _ in assignments}
        assert {24, 40, 112} <= channels
        for name, c, groups in assignments:
            assert groups == max(g for g in range(1, min(c, 32) + 1) if c % g == 0), name
        assert "blocks.1.0.bn3: %s with 24 channels gets 24 groups (requested 32)" % target in caplog.text


def test_affine_carried_over_and_conversion_chains():
    model = randomized(timm.create_model("resnet10t", pretrained=False))
    weight = model.bn1.weight.detach().clone()
    norms.convert(model, "gn", num_groups=8)
    torch.testing.assert_close(model.bn1.weight, weight)
    norms.convert(model, "bgn", num_groups=4)
    norms.convert(model, "bn")
    torch.testing.assert_close(model.bn1.weight, weight)
    assert isinstance(model.bn1, norms.BatchNorm) and not left_over(model)


def test_bn_to_bgn_to_bn_keeps_running_statistics():
    model = randomized(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()))
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        before = model(x)
        torch.testing.assert_close(norms.convert(norms.convert(model, "bgn", num_groups=8), "bn")(x), before)


def test_device_dtype_and_mode_kept():
    model = nn.Sequential(nn.BatchNorm2d(4), nn.GroupNorm(2, 4), nn.SyncBatchNorm(4), nn.InstanceNorm2d(4)).double()
    model[0].eval()
    norms.convert(model, "bgn", num_groups=2)
    assert [m.training for m in model] == [False, True, True, True]
    assert all(isinstance(m, norms.BatchGroupNorm) and m.running_mean.dtype == torch.float64 for m in model)
    assert model[3].weight is None  # InstanceNorm2d(affine=False) stays without affine


def test_channels_first_layer_norm_replaced_channels_last_kept():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), LayerNorm2d(8), nn.Flatten(2), nn.LayerNorm(4))
    norms.convert(model, "gn", num_groups=2)
    assert isinstance(model[1], norms.GroupNorm) and type(model[3]) is nn.LayerNorm


def test_model_that_is_a_norm_is_returned_replaced():
    assert isinstance(norms.convert(nn.BatchNorm1d(4), "pn"), norms.PositionalNorm)


def test_shared_layer_gets_one_replacement():
    shared = nn.BatchNorm2d(4)
    model = nn.Sequential(nn.Sequential(shared), nn.Sequential(shared))
    norms.convert(model, "gn", num_groups=2)
    assert model[0][0] is model[1][0]
