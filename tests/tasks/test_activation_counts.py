"""Each task's own backbones with frn/evonorm: as many activations as with bn, none stacked on another."""
import pytest
import torch
from torch import nn

import norms
from suite.models import SmallConvNet
from tasks.fewshot.backbones import Conv4, ResNet12
from tasks.search.darts_space import DartsSpace, build_network
from tests.norms.test_activated import ACTIVATED, applied_activations, stacked_activations


def darts_network(norm_layer):
    space = DartsSpace(3, 7, norm_layer, width=4, num_cells=3)
    architecture = {label: [int(label[-1])] if "/input_" in label else choice.default()
                    for label, choice in space.simplify().items()}
    return build_network(architecture, in_channels=3, num_classes=7, norm_layer=norm_layer, width=8, num_cells=6,
                         auxiliary=True, pool_norm=False)


BACKBONES = {
    "small_cnn": lambda make: SmallConvNet(3, 7, make, widths=(8, 16)),
    "dann_cnn": lambda make: SmallConvNet(3, None, make, widths=(8, 16), kernel_sizes=(5, 3), downsample="maxpool"),
    "conv4": lambda make: Conv4(3, make, channels=8),
    "resnet12": lambda make: ResNet12(3, make, channels=(8, 8, 8, 8)),
    "darts": darts_network,
}
TRACEABLE = ("small_cnn", "dann_cnn", "conv4", "resnet12")  # NNI's cells do not trace with torch.fx


@pytest.mark.parametrize("name", ACTIVATED)
@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_backbone_keeps_its_activation_count(backbone, name):
    kw = {"num_groups": 4} if name == "evonorm_s0" else {}
    reference, model = BACKBONES[backbone](norms.norm_layer("bn")), BACKBONES[backbone](norms.norm_layer(name, **kw))
    assert applied_activations(model) == applied_activations(reference)
    assert any(getattr(m, "apply_activation", False) for m in model.modules())  # some pair was replaced
    if backbone in TRACEABLE:
        assert not stacked_activations(model)
    model.train()(torch.rand(4, 3, 32, 32))


def test_what_the_layer_replaces_in_resnet12_and_darts():
    block = ResNet12(3, norms.norm_layer("frn"), channels=(8, 8, 8, 8))[0]
    first, second, third = [m for m in block.residual if isinstance(m, norms.FilterResponseNorm)]
    assert first.apply_activation and second.apply_activation and not third.apply_activation
    assert not block.shortcut[1].apply_activation and isinstance(block.activation, nn.LeakyReLU)
    network = darts_network(norms.norm_layer("frn"))
    head = [m for m in network.auxiliary_head.modules() if isinstance(m, norms.FilterResponseNorm)]
    cells = [m for m in network.cells.modules() if isinstance(m, norms.FilterResponseNorm)]
    assert len(head) == 2 and all(m.apply_activation for m in head)  # conv-norm-ReLU pairs
    assert cells and not any(m.apply_activation for m in cells)       # ReLU-conv-norm: the ReLUs stay


@pytest.mark.parametrize("name", ACTIVATED)
def test_timm_models_of_every_task_go_through_convert(name):
    from omegaconf import OmegaConf

    from suite.models import build_timm_model
    from suite.paths import CONFIG_DIR

    norm_cfg = OmegaConf.load(CONFIG_DIR / "norm" / f"{name}.yaml")
    model_cfg = OmegaConf.create({"name": "resnet18", "pretrained": False, "kwargs": {}})
    model = build_timm_model(model_cfg, norm_cfg, in_chans=3, num_classes=5)
    assert applied_activations(model) == 17 and not stacked_activations(model)
