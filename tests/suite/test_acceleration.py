"""trainer.compile and trainer.channels_last: same function, same parameter names, every norm channels-last."""
import copy

import pytest
import torch
from torch import nn

import norms
from suite.acceleration import Acceleration, networks
from suite.config import validate
from suite.errors import UserError
from suite.run import run


class TwoNetworks(nn.Module):
    """A module shaped like DANN's: two networks and an alias of a layer inside the first."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8, 2)
        self.alias = self.features[0]
        self.no_parameters = nn.ReLU()

    def forward(self, images):
        return self.head(self.features(images).mean(dim=(2, 3)))


def test_networks_are_the_parameter_holding_children_not_nested_in_another():
    module = TwoNetworks()
    assert networks(module) == [module.features, module.head]


def test_compiled_and_channels_last_module_computes_the_same_and_keeps_its_parameter_names():
    torch.manual_seed(0)
    eager = TwoNetworks()
    fast = TwoNetworks()
    fast.load_state_dict(eager.state_dict())
    Acceleration(compile=True, channels_last=True, backend="eager").setup(None, fast, "fit")
    assert fast.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.rand(4, 3, 9, 9)
    assert torch.allclose(fast(images), eager(images), atol=1e-5)
    assert list(fast.state_dict()) == list(eager.state_dict())  # no _orig_mod. prefix
    TwoNetworks().load_state_dict(fast.state_dict(), strict=True)


@pytest.mark.parametrize("name", norms.available())
def test_every_norm_gives_the_same_output_for_channels_last_input(name):
    torch.manual_seed(0)
    layer = norms.norm_layer(name)(16).train()
    twin = copy.deepcopy(layer)  # a second forward would see running statistics the first one updated (brn)
    images = torch.randn(4, 16, 5, 6)
    expected = layer(images)
    assert torch.allclose(twin(images.contiguous(memory_format=torch.channels_last)), expected, atol=1e-5)


@pytest.mark.parametrize("overrides, message", [
    (["trainer.compile=maybe"], "trainer.compile must be true or false"),
    (["trainer.channels_last=1"], "trainer.channels_last must be true or false"),
    (["task=nas", "trainer.compile=true"], "does not work with task=nas; set trainer.compile=false"),
])
def test_bad_speed_options_are_one_line_errors(make_config, overrides, message):
    with pytest.raises(UserError, match=message):
        validate(make_config(*overrides))


@pytest.mark.slow
def test_compiled_cls_run_checkpoint_loads_into_an_eager_model(make_config, tmp_path):
    from tests.tasks.test_cls import TINY

    cfg = make_config(*TINY, "trainer.compile=true", "trainer.compile_backend=aot_eager", "trainer.channels_last=true",
                      "trainer.checkpoint=true", "run_id=compiled")
    run(cfg)
    checkpoint = torch.load(tmp_path / "runs" / "cls" / "bn" / "compiled" / "checkpoints" / "fit" / "last.ckpt",
                            weights_only=False)
    assert not any("_orig_mod" in key for key in checkpoint["state_dict"])
    from suite.models import build_timm_model

    eager = build_timm_model(cfg.model, cfg.norm, in_chans=1, num_classes=10)
    weights = {key.removeprefix("network.1."): value for key, value in checkpoint["state_dict"].items()
               if key.startswith("network.1.")}
    eager.load_state_dict(weights, strict=True)
