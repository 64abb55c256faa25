"""The DARTS cell search space (Liu et al., 2019) built from NNI 3 primitives, with a pluggable norm.

NNI's hub DARTS space (``nni.nas.hub.pytorch.nasnet``) hard-codes ``MutableBatchNorm2d``; this space
takes a ``norm_layer(num_channels) -> nn.Module`` factory instead and builds every normalization of
the network with it: the stem, the cell preprocessors (``ReLUConvNorm`` and the stride-2
``FactorizedReduce``), every ``sep_conv``/``dil_conv``, the norm after pooling during search (as in
DARTS's ``MixedOp``), and the auxiliary head.

Norms that include their activation (frn, evonorm_*): DARTS's operations are ReLU-conv-norm, so a norm
ends each operation and the activation is the ReLU that starts the next one, after the node's sum. There
(and in the stem and after pooling) ``norm_layer(C)`` builds them without their activation
(``apply_activation=False``): the layer replaces the norm only and the ReLUs stay. The auxiliary head's
conv-norm-ReLU pairs are one ``norms.norm_then_activation`` call each: there the layer replaces the pair.

The network follows DARTS's ``NetworkCIFAR``: an optional input average pooling, a 3x3 stem with ``stem_multiplier * width`` channels,
``num_cells`` cells of ``num_nodes`` nodes with two inputs each (NNI's ``Cell``, concatenating all
nodes), reduction cells (stride 2, channels doubled) at 1/3 and 2/3 of the depth, global average
pooling and a linear classifier. All normal cells share one architecture (label ``normal``), all
reduction cells another (``reduce``). Images (N, C_in, H, W) in [0, 1] -> logits (N, num_classes);
with ``auxiliary=True`` a training-mode forward returns ``(logits, auxiliary_logits)``.
"""
from __future__ import annotations

from typing import Callable

import torch
from nni.nas.nn.pytorch import Cell, ModelSpace
from nni.nas.space import model_context
from torch import nn

import norms
from suite.models import InputNormalization

NormLayer = Callable[[int], nn.Module]

DARTS_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5")
"""DARTS's candidate operations; its ``none`` (zero) op is the extra weight NNI's differentiable cell
adds on every edge, and is never exported (as in DARTS's ``genotype()``)."""

NUM_PREDECESSORS = 2
NUM_OPS_PER_NODE = 2
AUXILIARY_CHANNELS = (128, 768)


class ReLUConvNorm(nn.Sequential):
    """ReLU, convolution without bias, norm: (N, C_in, H, W) -> (N, C_out, H / stride, W / stride)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
                 norm_layer: NormLayer):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
            norm_layer(out_channels),
        )


class DilConv(nn.Sequential):
    """ReLU, dilated depthwise convolution, pointwise convolution, norm (DARTS's ``dil_conv``)."""

    def __init__(self, channels: int, kernel_size: int, stride: int, padding: int, dilation: int,
                 norm_layer: NormLayer):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                      groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            norm_layer(channels),
        )


class SepConv(nn.Sequential):
    """Two stacked ``DilConv`` with dilation 1, the first one strided (DARTS's ``sep_conv``)."""

    def __init__(self, channels: int, kernel_size: int, stride: int, padding: int, norm_layer: NormLayer):
        super().__init__(
            DilConv(channels, kernel_size, stride, padding, 1, norm_layer),
            DilConv(channels, kernel_size, 1, padding, 1, norm_layer),
        )


class FactorizedReduce(nn.Module):
    """Stride-2 reduction by two 1x1 convolutions on pixel grids offset by one, concatenated, then a norm.

    (N, C_in, H, W) -> (N, C_out, ceil(H / 2), ceil(W / 2)); ``C_out`` must be even.
    """

    def __init__(self, in_channels: int, out_channels: int, norm_layer: NormLayer):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {out_channels}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_even = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.conv_odd = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0.0)  # odd sizes: both grids give ceil(H / 2) rows
        self.norm = norm_layer(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = self.pad(x)[:, :, 1:, 1:]
        return self.norm(torch.cat([self.conv_even(x), self.conv_odd(shifted)], dim=1))


class DropPath(nn.Module):
    """Drops a whole operation output per sample with probability ``drop_prob`` while training,
    scaling the kept ones by 1 / (1 - drop_prob) (FractalNet's drop-path, as DARTS retrains with)."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob <= 0.0:
            return x
        keep_prob = 1.0 - self.drop_prob
        mask = torch.empty(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype).bernoulli_(keep_prob)
        return x * mask / keep_prob


def build_operation(name: str, channels: int, stride: int, norm_layer: NormLayer, pool_norm: bool) -> nn.Module:
    """One candidate operation on ``channels`` channels; ``pool_norm`` follows pooling by a norm (DARTS search)."""
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = (nn.MaxPool2d(3, stride=stride, padding=1) if name == "max_pool_3x3"
                else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
        return nn.Sequential(pool, norm_layer(channels)) if pool_norm else pool
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, norm_layer)
    if name == "sep_conv_3x3":
        return SepConv(channels, 3, stride, 1, norm_layer)
    if name == "sep_conv_5x5":
        return SepConv(channels, 5, stride, 2, norm_layer)
    if name == "dil_conv_3x3":
        return DilConv(channels, 3, stride, 2, 2, norm_layer)
    if name == "dil_conv_5x5":
        return DilConv(channels, 5, stride, 4, 2, norm_layer)
    raise ValueError(f"unknown DARTS operation {name!r}; choose from {', '.join(DARTS_OPS)}")


class OperationFactory:
    """What NNI's ``Cell`` calls as ``factory(node_index, op_index, input_index)`` for one op name.

    Edges from the cell's two inputs are strided in a reduction cell. ``input_index`` is None only in
    the plain space's placeholder ops; the DARTS supernet and frozen networks pass the real input.
    """

    def __init__(self, name: str, channels: int, reduction: bool, norm_layer: NormLayer, pool_norm: bool,
                 drop_path_prob: float):
        self.name, self.channels, self.reduction = name, channels, reduction
        self.norm_layer, self.pool_norm, self.drop_path_prob = norm_layer, pool_norm, drop_path_prob

    def __call__(self, node_index: int, op_index: int, input_index: int | None) -> nn.Module:
        from_cell_input = input_index is None or input_index < NUM_PREDECESSORS
        stride = 2 if self.reduction and from_cell_input else 1
        operation = build_operation(self.name, self.channels, stride, self.norm_layer, self.pool_norm)
        if self.drop_path_prob > 0 and not isinstance(operation, nn.Identity):
            return nn.Sequential(operation, DropPath(self.drop_path_prob))
        return operation


class CellPreprocessor(nn.Module):
    """Brings the two cell inputs to ``channels`` channels and the same resolution."""

    def __init__(self, pprev_channels: int, prev_channels: int, channels: int, previous_was_reduction: bool,
                 norm_layer: NormLayer):
        super().__init__()
        self.pre0 = (FactorizedReduce(pprev_channels, channels, norm_layer) if previous_was_reduction
                     else ReLUConvNorm(pprev_channels, channels, 1, 1, 0, norm_layer))
        self.pre1 = ReLUConvNorm(prev_channels, channels, 1, 1, 0, norm_layer)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        pprev, prev = inputs
        return [self.pre0(pprev), self.pre1(prev)]


class CellPostprocessor(nn.Module):
    """Outputs [previous cell, this cell], the two inputs of the next cell."""

    def forward(self, this_cell: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [inputs[-1], this_cell]


class AuxiliaryHead(nn.Module):
    """DARTS's CIFAR auxiliary classifier on the 2/3-depth features (at least 8x8): (N, C, H, W) -> (N, K)."""

    def __init__(self, channels: int, num_classes: int, norm_layer: NormLayer):
        super().__init__()
        hidden, wide = AUXILIARY_CHANNELS
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, hidden, 1, bias=False), *norms.norm_then_activation(norm_layer, hidden, nn.ReLU),
            nn.Conv2d(hidden, wide, 2, bias=False), *norms.norm_then_activation(norm_layer, wide, nn.ReLU),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Linear(wide, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


def reduction_indices(num_cells: int) -> tuple[int, ...]:
    """Indices of the reduction cells: at 1/3 and 2/3 of the depth (DARTS)."""
    return tuple(sorted({num_cells // 3, 2 * num_cells // 3}))


def norm_channel_counts(width: int, num_cells: int, stem_multiplier: int = 3, auxiliary: bool = False) -> list[int]:
    """Every channel count a norm layer of `DartsSpace` gets, sorted (for group-count checks).

    The stem normalizes ``stem_multiplier * width`` channels; every norm inside a cell (preprocessors
    and operations) normalizes the cell's ``width * 2 ** (reductions so far)`` channels; the auxiliary
    head adds 128 and 768.
    """
    counts = {stem_multiplier * width}
    channels = width
    for index in range(num_cells):
        if index in reduction_indices(num_cells):
            channels *= 2
        counts.add(channels)
    if auxiliary:
        counts.update(AUXILIARY_CHANNELS)
    return sorted(counts)


class DartsSpace(ModelSpace):
    """DARTS's CIFAR network as an NNI model space (see the module docstring).

    Args:
        in_channels, num_classes: image channels and classes.
        norm_layer: ``norm_layer(num_channels)`` builds every norm (non-affine ones for search, as in DARTS).
        width: channels of the first cells (DARTS: 16 for search, 36 for retraining).
        num_cells: cells in total (DARTS: 8 for search, 20 for retraining); at least 3.
        num_nodes: intermediate nodes per cell (4); a cell outputs ``num_nodes * channels`` channels.
        stem_multiplier: the stem has ``stem_multiplier * width`` channels (3).
        input_pool: average-pool images by this factor before the stem (1: none). The built-in digits are
            8x8 images upsampled to 40x40, so 4 gives 10x10 maps without losing detail, 16x cheaper.
        pool_norm: follow pooling ops by a norm (True in DARTS's search network, False when retraining).
        auxiliary: add the auxiliary head after the 2/3-depth reduction cell (retraining only).
        drop_path_prob: drop-path on every non-identity op (retraining; scheduled by the trainer).
        input_mean, input_std: per-channel dataset statistics applied to [0, 1] images inside the model.
        operations: candidate op names, a subset of `DARTS_OPS`.
    """

    def __init__(self, in_channels: int, num_classes: int, norm_layer: NormLayer, width: int = 16,
                 num_cells: int = 8, num_nodes: int = 4, stem_multiplier: int = 3, input_pool: int = 1,
                 pool_norm: bool = True,
                 auxiliary: bool = False, drop_path_prob: float = 0.0,
                 input_mean: tuple[float, ...] | None = None, input_std: tuple[float, ...] | None = None,
                 operations: tuple[str, ...] = DARTS_OPS):
        super().__init__()
        if num_cells < 3:
            raise ValueError(f"num_cells must be at least 3 (two of them reduce), got {num_cells}")
        self.auxiliary = auxiliary
        self.normalize_input = (InputNormalization(input_mean, input_std) if input_mean is not None
                                else nn.Identity())
        stem_channels = stem_multiplier * width
        self.stem = nn.Sequential(nn.AvgPool2d(input_pool) if input_pool > 1 else nn.Identity(),
                                  nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
                                  norm_layer(stem_channels))
        pprev_channels, prev_channels, channels = stem_channels, stem_channels, width
        previous_was_reduction = False
        self.cells = nn.ModuleList()
        self.auxiliary_after = 2 * num_cells // 3
        for index in range(num_cells):
            reduction = index in reduction_indices(num_cells)
            channels = channels * 2 if reduction else channels
            factories = {name: OperationFactory(name, channels, reduction, norm_layer, pool_norm, drop_path_prob)
                         for name in operations}
            preprocessor = CellPreprocessor(pprev_channels, prev_channels, channels, previous_was_reduction,
                                            norm_layer)
            self.cells.append(Cell(factories, num_nodes, NUM_OPS_PER_NODE, NUM_PREDECESSORS, "all",
                                   preprocessor=preprocessor, postprocessor=CellPostprocessor(),
                                   label="reduce" if reduction else "normal"))
            previous_was_reduction = reduction
            pprev_channels, prev_channels = prev_channels, num_nodes * channels
            if index == self.auxiliary_after and auxiliary:
                self.auxiliary_head = AuxiliaryHead(prev_channels, num_classes, norm_layer)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(prev_channels, num_classes)

    def forward_with_auxiliary(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, auxiliary logits), the latter None without ``auxiliary``; both (N, num_classes)."""
        states = [self.stem(self.normalize_input(images))] * 2
        auxiliary_logits = None
        for index, cell in enumerate(self.cells):
            states = cell(states)
            if index == self.auxiliary_after and self.auxiliary:
                auxiliary_logits = self.auxiliary_head(states[1])
        return self.classifier(self.global_pooling(states[1]).flatten(1)), auxiliary_logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of images (N, C_in, H, W) in [0, 1]."""
        states = [self.stem(self.normalize_input(images))] * 2
        for cell in self.cells:
            states = cell(states)
        return self.classifier(self.global_pooling(states[1]).flatten(1))


def build_network(architecture: dict, **space_kwargs) -> DartsSpace:
    """The fixed network of ``architecture`` (an exported sample) with the given `DartsSpace` arguments."""
    with model_context(architecture):
        return DartsSpace(**space_kwargs)


def set_drop_path_prob(network: nn.Module, drop_prob: float) -> None:
    """Set every `DropPath` of ``network`` to ``drop_prob`` (DARTS raises it linearly over retraining)."""
    for module in network.modules():
        if isinstance(module, DropPath):
            module.drop_prob = drop_prob
