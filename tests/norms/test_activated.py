"""Norms that include their activation replace norm-activation pairs; never an activation stacked on another."""
import pytest
import timm
import torch
from torch import nn

import norms
from norms.convert import ACTIVATIONS

ACTIVATED = ["frn", "evonorm_b0", "evonorm_s0"]


def applied_activations(model: nn.Module) -> int:
    """Activations the forward applies: activation modules (each called once in these models) plus layers
    that apply their own."""
    return sum(isinstance(m, ACTIVATIONS) or bool(getattr(m, "includes_activation", False) and m.apply_activation)
               for m in model.modules())


class LeafNorms(torch.fx.Tracer):
    def is_leaf_module(self, module, qualified_name):
        return norms.is_norm_layer(module) or super().is_leaf_module(module, qualified_name)


def stacked_activations(model: nn.Module) -> list[str]:
    """Activation calls whose input is, through identities, the output of a layer that applied its own."""
    graph = LeafNorms().trace(model)
    stacked = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(model.get_submodule(node.target), ACTIVATIONS):
            continue
        source = node.args[0]
        while source.op == "call_module" and isinstance(model.get_submodule(source.target), nn.Identity):
            source = source.args[0]
        producer = model.get_submodule(source.target) if source.op == "call_module" else None
        if getattr(producer, "includes_activation", False) and producer.apply_activation:
            stacked.append(node.target)
    return stacked


@pytest.mark.parametrize("name", ACTIVATED)
def test_converted_resnet18_keeps_its_activation_count_and_stacks_none(name):
    model = timm.create_model("resnet18", pretrained=False, num_classes=5)
    before = applied_activations(model)  # 17: the stem's, two per basic block
    norms.convert(model, name)
    assert applied_activations(model) == before == 17
    assert not stacked_activations(model)
    # What each layer replaced: the stem's bn1+act1 and each block's bn1+act1 pair; bn2 and the shortcut
    # norm alone (before the add), whose ReLU after the add stays.
    assert model.bn1.apply_activation and isinstance(model.act1, nn.Identity)
    block = model.layer2[0]
    assert block.bn1.apply_activation and isinstance(block.act1, nn.Identity)
    assert not block.bn2.apply_activation and isinstance(block.act2, nn.ReLU)
    assert not block.downsample[1].apply_activation
    model(torch.randn(2, 3, 32, 32)).sum().backward()


@pytest.mark.parametrize("model_name", ["efficientnet_b0", "densenet121", "regnetx_002"])
def test_fused_timm_layers_take_the_activation_or_not_as_they_had_it(model_name):
    model = timm.create_model(model_name, pretrained=False, num_classes=5)
    fused = {name: not isinstance(m.act, nn.Identity) for name, m in model.named_modules()
             if isinstance(m, nn.BatchNorm2d) and hasattr(m, "act")}
    before = applied_activations(model)
    norms.convert(model, "frn")
    assert applied_activations(model) == before
    for name, had_activation in fused.items():
        assert model.get_submodule(name).apply_activation == had_activation, name


def test_a_norm_activation_left_by_an_earlier_conversion_is_replaced_whole():
    model = norms.convert(timm.create_model("efficientnet_b0", pretrained=False, num_classes=5), "bn")
    before = applied_activations(model)
    assert any(isinstance(m, norms.NormActivation) for m in model.modules())
    norms.convert(model, "evonorm_b0")
    assert applied_activations(model) == before
    assert not any(isinstance(m, norms.NormActivation) for m in model.modules())


def test_shared_activation_is_kept_and_the_norm_built_without_its_own():
    class SharedReLU(nn.Module):  # torchvision's BasicBlock calls one ReLU twice
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.relu = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU()

        def forward(self, x):
            return self.relu(self.relu(self.bn(self.conv(x))) + x)

    model = norms.convert(SharedReLU(), "frn")
    assert not model.bn.apply_activation and isinstance(model.relu, nn.ReLU)


def test_norm_layer_builds_the_norm_alone_and_norm_then_activation_the_pair():
    make = norms.norm_layer("frn")
    assert not make(8).apply_activation  # a library applies its own activation after norm_layer(C)
    (pair,) = norms.norm_then_activation(make, 8, nn.ReLU)
    assert pair.apply_activation
    norm, act = norms.norm_then_activation(norms.norm_layer("gn", num_groups=2), 8, nn.ReLU)
    assert isinstance(norm, norms.GroupNorm) and isinstance(act, nn.ReLU)


def test_converting_an_activated_layer_to_a_plain_norm_is_refused():
    model = norms.convert(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.ReLU()), "frn")
    assert isinstance(model[2], nn.Identity)
    with pytest.raises(ValueError, match="1: FilterResponseNorm applies its own activation"):
        norms.convert(model, "bn")
    assert isinstance(norms.convert(model, "evonorm_s0", num_groups=2)[1], norms.EvoNormS0)
    assert model[1].apply_activation
