"""``gn``, ``ln``, ``in``: group counts and agreement with torch's own layers."""
import pytest
import torch
from torch import nn

import norms


def test_group_counts_exposed():
    assert norms.build("gn", 64).num_groups == 32  # the GN paper's default
    assert norms.build("ln", 64).num_groups == 1
    assert norms.build("in", 64).num_groups == 64


def test_instance_norm_matches_torch():
    x = torch.randn(3, 8, 5, 5)
    torch.testing.assert_close(norms.build("in", 8, affine=False)(x), nn.InstanceNorm2d(8)(x))


def test_same_output_in_train_and_eval():
    layer = norms.build("gn", 8, num_groups=2)
    x = torch.randn(2, 8, 4)
    torch.testing.assert_close(layer.train()(x), layer.eval()(x))


def test_instance_norm_with_one_position_in_training_is_refused():
    with pytest.raises(ValueError, match="single value"):
        norms.build("in", 8)(torch.randn(4, 8, 1, 1))


def test_group_norm_groups_must_divide_channels():
    with pytest.raises(ValueError, match="num_groups=32 does not divide num_channels=24"):
        norms.build("gn", 24)
