"""The DARTS cell space: every norm reaches every op, channel counts, shapes, frozen networks."""
from __future__ import annotations

import functools

import pytest
import torch
from nni.nas.strategy import DARTS
from torch import nn

import norms
from tasks.search.darts_space import (DARTS_OPS, DartsSpace, DropPath, FactorizedReduce, build_network,
                                      norm_channel_counts, reduction_indices)

NORM_OPTIONS = {"bn": {}, "bgn": {"num_groups": 2}, "gn": {"num_groups": 2}, "ln": {}, "in": {}, "pn": {}, "none": {},
                "brn": {}, "frn": {}, "evonorm_b0": {}, "evonorm_s0": {"num_groups": 2}}


def norm_factory(name: str, **kw):
    return functools.partial(norms.build, name, **NORM_OPTIONS[name], **kw)


def first_architecture(space: DartsSpace) -> dict:
    """A fixed sample: the first operation everywhere; operation k of every node reads cell input k."""
    return {label: [int(label[-1])] if "/input_" in label else choice.default()
            for label, choice in space.simplify().items()}


def norm_layers(model: nn.Module) -> list[nn.Module]:
    return [module for module in model.modules() if isinstance(module, norms.registry.NORMS.classes())]


def test_every_registered_norm_has_options():
    assert set(NORM_OPTIONS) == set(norms.available())


@pytest.mark.parametrize("name", sorted(NORM_OPTIONS))
def test_space_uses_only_the_chosen_norm_and_trains(name):
    space = DartsSpace(1, 10, norm_factory(name), width=4, num_cells=3)
    layers = norm_layers(space)
    assert layers and all(type(layer) is norms.registry.NORMS.get(name) for layer in layers)
    if name != "bn":
        assert not any(isinstance(m, (nn.BatchNorm2d, norms.BatchNorm)) for m in space.modules())
    network = build_network(first_architecture(space), in_channels=1, num_classes=10, norm_layer=norm_factory(name),
                            width=4, num_cells=3)
    logits = network(torch.rand(4, 1, 10, 10))
    assert logits.shape == (4, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in network.parameters())


def test_supernet_keeps_the_chosen_norm_and_trains():
    """NNI's DARTS rebuilds every op per edge from the space's factories: the norm must survive that."""
    supernet = DARTS().mutate_model(DartsSpace(1, 10, norm_factory("gn"), width=2, num_cells=3, num_nodes=2))
    layers = norm_layers(supernet)
    assert layers and all(type(layer) is norms.GroupNorm for layer in layers)
    supernet(torch.rand(2, 1, 4, 4)).sum().backward()


def test_norm_count_matches_the_darts_structure():
    """Count the norms of a supernet by hand: stem 1; per cell 2 preprocessors + edges x ops' norms."""
    num_nodes, num_cells = 4, 3
    supernet = DARTS().mutate_model(DartsSpace(1, 10, norm_factory("bn"), width=4, num_cells=num_cells))
    # Norms per op: pools 1 (search), skip 0 (stride 1) or 1 (FactorizedReduce), sep_conv 2 each, dil_conv 1 each.
    per_edge_normal = 1 + 1 + 0 + 2 + 2 + 1 + 1
    per_edge_reduce = per_edge_normal + 1
    edges = sum(range(2, 2 + num_nodes))  # node i has i incoming edges
    input_edges = 2 * num_nodes  # edges from the two cell inputs (strided in reduction cells)
    expected = 1
    for index in range(num_cells):
        reduce = index in reduction_indices(num_cells)
        expected += 2
        expected += input_edges * (per_edge_reduce if reduce else per_edge_normal)
        expected += (edges - input_edges) * per_edge_normal
    assert len(norm_layers(supernet)) == expected


@pytest.mark.parametrize("width,num_cells,auxiliary", [(4, 3, False), (6, 8, True), (16, 20, True)])
def test_norm_channel_counts_match_the_built_network(width, num_cells, auxiliary):
    network = build_network(first_architecture(DartsSpace(1, 10, norm_factory("bn"), width=4, num_cells=3)),
                            in_channels=3, num_classes=10, norm_layer=norm_factory("bn"), width=width,
                            num_cells=num_cells, auxiliary=auxiliary)
    built = sorted({layer.num_features for layer in norm_layers(network)})
    assert norm_channel_counts(width, num_cells, auxiliary=auxiliary) == built


@pytest.mark.parametrize("affine", [False, True])
def test_affine_switch_reaches_every_norm(affine):
    space = DartsSpace(1, 10, norm_factory("gn", affine=affine), width=4, num_cells=3)
    assert all((layer.weight is not None) == affine for layer in norm_layers(space))


@pytest.mark.parametrize("pool_norm", [True, False])
def test_pool_norm_follows_every_pooling_op_when_asked(pool_norm):
    only_pools = ("max_pool_3x3",)
    space = DartsSpace(1, 10, norm_factory("bn"), width=4, num_cells=3, operations=only_pools)
    fixed = build_network(first_architecture(space), in_channels=1, num_classes=10, norm_layer=norm_factory("bn"),
                          width=4, num_cells=3, pool_norm=pool_norm, operations=only_pools)
    # Stem 1 + 2 preprocessors per cell, and with pool_norm one norm after each of the 2 x 4 pools per cell.
    assert len(norm_layers(fixed)) == 1 + 3 * 2 + (3 * 8 if pool_norm else 0)


def test_fixed_network_shapes_and_auxiliary_head():
    space = DartsSpace(3, 7, norm_factory("bn"), width=4, num_cells=3)
    network = build_network(first_architecture(space), in_channels=3, num_classes=7, norm_layer=norm_factory("bn"),
                            width=6, num_cells=6, auxiliary=True, input_pool=2)
    images = torch.rand(2, 3, 64, 64)  # 8x8 features after two reductions, as CIFAR's 32x32 without pooling
    logits, auxiliary = network.forward_with_auxiliary(images)
    assert logits.shape == auxiliary.shape == (2, 7)
    assert torch.allclose(network(images), logits)
    assert len(network.cells) == 6


def test_fixed_network_has_two_ops_per_node():
    space = DartsSpace(1, 10, norm_factory("bn"), width=4, num_cells=3)
    supernet_params = sum(p.numel() for p in DARTS().mutate_model(space).parameters())
    network = build_network(first_architecture(space), in_channels=1, num_classes=10,
                            norm_layer=norm_factory("bn"), width=4, num_cells=3)
    assert sum(p.numel() for p in network.parameters()) < supernet_params / 3


def test_factorized_reduce_halves_odd_sizes_up():
    reduce = FactorizedReduce(4, 6, norm_factory("bn"))
    assert reduce(torch.rand(2, 4, 5, 5)).shape == (2, 6, 3, 3)
    with pytest.raises(ValueError, match="even"):
        FactorizedReduce(4, 5, norm_factory("bn"))


def test_drop_path_drops_whole_samples_and_keeps_the_mean():
    torch.manual_seed(0)
    drop = DropPath(0.5).train()
    out = drop(torch.ones(4000, 3, 2, 2))
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()
    assert abs(out.mean().item() - 1.0) < 0.05
    assert torch.equal(drop.eval()(torch.ones(3, 2)), torch.ones(3, 2))


def test_unknown_operation_is_an_error():
    with pytest.raises(ValueError, match="unknown DARTS operation"):
        DartsSpace(1, 10, norm_factory("bn"), width=4, num_cells=3, operations=("conv_9x9",))


def test_darts_ops_are_the_papers_seven():
    assert len(DARTS_OPS) == 7 and "none" not in DARTS_OPS
