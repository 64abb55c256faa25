"""Registry, build, register, norm_layer: names, keywords, user norms and timm's norm_layer= calls."""
import logging

import pytest
import timm
import torch
from torch import nn

import norms
from norms import registry


@pytest.fixture
def scratch_registry(monkeypatch):
    """Lets a test register user norms without leaking them into other tests."""
    monkeypatch.setattr(registry.NORMS, "_entries", dict(registry.NORMS._entries))


class Scale(nn.Module):
    """A user norm: per-channel scale only."""

    def __init__(self, num_channels, eps=1e-5, device=None, dtype=None):
        super().__init__()
        self.num_channels = num_channels
        self.weight = nn.Parameter(torch.ones(num_channels, device=device, dtype=dtype))

    def forward(self, x):
        return x * self.weight.reshape(1, -1, *([1] * (x.dim() - 2)))


def test_available_is_sorted_and_complete():
    assert norms.available() == sorted(["bn", "gn", "ln", "in", "pn", "bgn", "none", "brn", "frn", "evonorm_b0",
                                        "evonorm_s0"])


def test_unknown_name_lists_available():
    with pytest.raises(ValueError, match=r"unknown norm 'batchnorm'; available: bgn, bn, brn, evonorm_b0, evonorm_s0, frn, gn, in, ln, none, pn"):
        norms.build("batchnorm", 8)
    with pytest.raises(ValueError, match="available"):
        norms.norm_layer("batchnorm")
    with pytest.raises(ValueError, match="available"):
        norms.convert(nn.Sequential(nn.BatchNorm2d(4)), "batchnorm")


def test_keyword_the_norm_does_not_take_is_refused():
    with pytest.raises(TypeError, match="norm .gn. does not take momentum; it takes: affine, channels_per_group, "
                                        "device, dtype, eps, num_groups"):
        norms.build("gn", 64, momentum=0.1)
    with pytest.raises(TypeError, match="does not take num_groups"):
        norms.norm_layer("ln", num_groups=4)


def test_none_takes_and_ignores_every_keyword():
    layer = norms.build("none", 8, num_groups=3, eps=0.1, momentum=None, affine=True)
    x = torch.randn(2, 8, 3)
    assert layer(x) is x


def test_register_user_norm_then_build_norm_layer_and_convert(scratch_registry):
    norms.register("scale")(Scale)
    assert "scale" in norms.available()
    assert isinstance(norms.build("scale", 4), Scale)
    assert isinstance(norms.norm_layer("scale")(4, eps=1e-3, momentum=0.1), Scale)  # momentum: not taken, dropped
    model = norms.convert(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)), "scale")
    assert isinstance(model[1], Scale)
    assert isinstance(norms.convert(model, "bn")[1], norms.BatchNorm)  # a user norm is replaced again


def test_duplicate_registration_is_refused(scratch_registry):
    with pytest.raises(ValueError, match="'bgn' is already registered to BatchGroupNorm; choose another name"):
        norms.register("bgn")(Scale)


def test_register_needs_a_module_class(scratch_registry):
    with pytest.raises(TypeError, match="needs an nn.Module subclass"):
        norms.register("function")(lambda num_channels: nn.Identity())


def test_norm_layer_accepts_library_keywords():
    make = norms.norm_layer("bgn", num_groups=32)
    layer = make(64, eps=1e-3, momentum=0.01, affine=False, track_running_stats=True, device="cpu", dtype=torch.float64)
    assert (layer.num_groups, layer.eps, layer.momentum, layer.affine) == (32, 1e-3, 0.01, False)
    assert layer.running_mean.dtype == torch.float64
    assert norms.norm_layer("gn", eps=1e-6)(8, eps=1e-3).eps == 1e-6  # the config wins over the library


def test_norm_layer_resolves_groups_and_logs(caplog):
    make = norms.norm_layer("gn", num_groups=32)
    with caplog.at_level(logging.INFO, logger="norms"):
        layers = [make(c) for c in (24, 40, 112, 64)]
    assert [layer.num_groups for layer in layers] == [24, 20, 28, 32]
    assert "gn with 40 channels gets 20 groups (requested 32)" in caplog.text


def test_norm_layer_bad_groups_fail_at_config_time():
    with pytest.raises(ValueError, match="num_groups must be at least 1, got 0"):
        norms.norm_layer("gn", num_groups=0)


@pytest.mark.parametrize("name", ["bgn", "gn"])
def test_norm_layer_builds_a_timm_resnet(name):
    model = timm.create_model("resnet10t", pretrained=False, num_classes=5, norm_layer=norms.norm_layer(name))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)


@pytest.mark.parametrize("model_name", ["densenet121", "efficientnet_b0", "regnetx_002"])
def test_norm_layer_is_refused_loudly_by_timm_norm_activation_models(model_name):
    with pytest.raises(AssertionError, match="normsuitenormlayer"):
        timm.create_model(model_name, pretrained=False, norm_layer=norms.norm_layer("gn"))
