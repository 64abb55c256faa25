"""channels_per_group=K: wins over num_groups; strict in build, the group rule in norm_layer and convert."""
import logging

import pytest
import timm
import torch

import norms

GROUPED = ["gn", "bgn", "evonorm_s0"]


@pytest.mark.parametrize("name", GROUPED)
def test_build_gives_c_over_k_groups_and_k_wins(name):
    layer = norms.build(name, 64, num_groups=32, channels_per_group=16)
    assert layer.num_groups == 4
    assert norms.build(name, 64, channels_per_group=None, num_groups=8).num_groups == 8  # None: num_groups


@pytest.mark.parametrize("name", GROUPED)
def test_build_is_strict_about_k_dividing_c(name):
    with pytest.raises(ValueError, match=r"channels_per_group=7 does not divide num_channels=64; pass one of "
                                         r"\[1, 2, 4, 8, 16, 32, 64\]") as error:
        norms.build(name, 64, channels_per_group=7)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_k_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="channels_per_group must be a positive integer or None"):
        norms.norm_layer("gn", channels_per_group=bad)


def test_norms_without_groups_refuse_k():
    with pytest.raises(TypeError, match="norm 'ln' does not take channels_per_group"):
        norms.build("ln", 8, channels_per_group=2)


@pytest.mark.parametrize("channels, per_group, expected", [(64, 16, 4), (40, 16, 2), (112, 16, 7), (24, 16, 1),
                                                           (8, 16, 1), (48, 5, 8)])
def test_norm_layer_group_rule_largest_valid_g_at_most_c_over_k(channels, per_group, expected, caplog):
    # Independent: the largest divisor of C not above max(1, C // K).
    assert expected == max(g for g in range(1, max(1, channels // per_group) + 1) if channels % g == 0)
    with caplog.at_level(logging.INFO, logger="norms"):
        layer = norms.norm_layer("bgn", num_groups=32, channels_per_group=per_group)(channels)
    assert layer.num_groups == expected
    assert f"bgn with {channels} channels gets {expected} groups (requested {per_group} channels per group)" \
        in caplog.text


def test_convert_assigns_and_reports_groups_per_layer():
    model = timm.create_model("efficientnet_b0", pretrained=False, num_classes=3)
    norms.convert(model, "gn", channels_per_group=8)
    assignments = norms.group_assignments(model)
    assert {24, 40, 112} <= {c for _, c, _ in assignments}
    for name, channels, groups in assignments:
        assert groups == max(g for g in range(1, max(1, channels // 8) + 1) if channels % g == 0), name
    model(torch.randn(2, 3, 32, 32))
