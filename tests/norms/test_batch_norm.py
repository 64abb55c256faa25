"""``bn``: one class equals torch's BatchNorm1d/2d/3d over several steps, at every rank."""
import pytest
import torch
from torch import nn

import norms

BATCH_NORMS = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum0.1", "cumulative"])
def test_matches_torch_batch_norm_over_steps(shape, momentum):
    torch_bn = BATCH_NORMS[len(shape)](8, momentum=momentum)
    bn = norms.build("bn", 8, momentum=momentum)
    bn.load_state_dict(torch_bn.state_dict())
    for step in range(3):
        x = torch.randn(shape) * (step + 1) + step
        torch.testing.assert_close(bn(x), torch_bn(x))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(bn, name), getattr(torch_bn, name))
    x = torch.randn(shape)
    torch.testing.assert_close(bn.eval()(x), torch_bn.eval()(x))


def test_is_a_torch_batch_norm_with_num_channels():
    bn = norms.build("bn", 8)
    assert isinstance(bn, nn.modules.batchnorm._BatchNorm) and bn.num_channels == 8


def test_single_value_per_channel_in_training_is_refused():
    with pytest.raises(ValueError, match="single value"):
        norms.build("bn", 8)(torch.randn(1, 8))
