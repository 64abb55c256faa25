"""``pn``: statistics across channels at each position."""
import pytest
import torch

import norms


def test_every_position_has_zero_mean_unit_variance_across_channels():
    y = norms.build("pn", 16, affine=False)(torch.randn(2, 16, 3, 4) * 5 + 3)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 3, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(2, 3, 4), atol=1e-3, rtol=0)


def test_output_is_contiguous():
    assert norms.build("pn", 8)(torch.randn(2, 8, 3, 3)).is_contiguous()


def test_one_channel_in_training_is_refused():
    with pytest.raises(ValueError, match="single value"):
        norms.build("pn", 1)(torch.randn(2, 1, 3))
