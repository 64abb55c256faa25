"""Replace every normalization layer of an existing model by a registered norm, in place."""
import logging

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from .batch_group_norm import BatchGroupNorm
from .batch_renorm import BatchRenorm
from .norm_activation import NormActivation
from .registry import NORMS, accepted_keywords, build_with_group_rule

logger = logging.getLogger("norms")

_STATE_COPIED = ("weight", "bias")
_RUNNING_STATE = ("running_mean", "running_var", "num_batches_tracked")


def _channels_first_layer_norms() -> tuple[type[nn.Module], ...]:
    """timm's LayerNorm subclasses that normalize (N, C, H, W) over C; plain nn.LayerNorm is channels-last."""
    from timm.layers import LayerNorm2d, LayerNormAct2d

    return LayerNorm2d, LayerNormAct2d


def is_norm_layer(module: nn.Module) -> bool:
    """True for the layers ``convert`` replaces.

    These are BatchNorm1d/2d/3d, SyncBatchNorm, InstanceNorm1d/2d/3d, GroupNorm and their subclasses
    (timm's BatchNormAct2d, SyncBatchNormAct, GroupNormAct, GroupNorm1Act, ...), timm's channels-first
    LayerNorm2d/LayerNormAct2d, and every registered normsuite norm (so converting twice works). A plain
    ``nn.LayerNorm`` is left alone: it normalizes the last dimension of channels-last tokens (ViTs), where
    a channels-first norm does not fit.
    """
    kinds = (_BatchNorm, _InstanceNorm, nn.GroupNorm) + _channels_first_layer_norms() + NORMS.classes()
    return isinstance(module, kinds)


def _num_channels(module: nn.Module) -> int:
    for attribute in ("num_channels", "num_features"):
        if isinstance(getattr(module, attribute, None), int):
            return getattr(module, attribute)
    return module.normalized_shape[0]  # timm's LayerNorm2d


def _uses_batch_statistics(module: nn.Module) -> bool:
    return isinstance(module, (_BatchNorm, BatchGroupNorm, BatchRenorm))


def _carried_keywords(old: nn.Module) -> dict:
    """The old layer's settings that the new one should keep: eps and affine, plus momentum and
    track_running_stats from batch-statistics layers (an InstanceNorm's mean something else)."""
    carried = {}
    if isinstance(getattr(old, "eps", None), float):
        carried["eps"] = old.eps
    affine = getattr(old, "affine", getattr(old, "elementwise_affine", None))
    if isinstance(affine, bool):
        carried["affine"] = affine
    if _uses_batch_statistics(old):
        carried["momentum"] = old.momentum
        carried["track_running_stats"] = getattr(old, "track_running_stats", True)  # brn always tracks
    return carried


def _placement(module: nn.Module) -> dict:
    """Device and dtype of the first floating-point tensor of ``module`` (and its children); {} if none."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point():
            return {"device": tensor.device, "dtype": tensor.dtype}
    return {}


@torch.no_grad()
def _copy_state(old: nn.Module, new: nn.Module) -> None:
    """Copy weight/bias, and running statistics from a batch-statistics layer, wherever the shapes match."""
    names = _STATE_COPIED + (_RUNNING_STATE if _uses_batch_statistics(old) else ())
    for name in names:
        source, target = getattr(old, name, None), getattr(new, name, None)
        if isinstance(source, torch.Tensor) and isinstance(target, torch.Tensor) and source.shape == target.shape:
            target.copy_(source)


def _replacement(old: nn.Module, name: str, where: str, kw: dict, model_placement: dict) -> nn.Module:
    accepted = accepted_keywords(NORMS.get(name))
    carried = {k: v for k, v in _carried_keywords(old).items() if accepted is None or k in accepted}
    new = build_with_group_rule(name, _num_channels(old), where, **{**carried, **kw})
    new.to(**(_placement(old) or model_placement))  # a layer without tensors follows the model
    _copy_state(old, new)
    new.train(old.training)
    drop, act = getattr(old, "drop", None), getattr(old, "act", None)
    if isinstance(drop, nn.Module) and isinstance(act, nn.Module) and not isinstance(old, NormActivation):
        return NormActivation(new, drop, act).train(old.training)
    return new


def convert(model: nn.Module, name: str, **kw) -> nn.Module:
    """Replace every layer ``is_norm_layer`` accepts by the registered norm ``name``, in place; return the model.

    Each new layer gets the old one's channel count, eps, affine flag, device, dtype (the model's if the
    layer has no tensors) and train/eval mode,
    and its weight and bias where the shapes match. From BatchNorm-like layers it also gets momentum,
    track_running_stats and, where shapes match, the running statistics, so ``convert(model, "bn")`` and
    ``convert(model, "bgn", num_groups=<at least the widest layer>)`` leave eval outputs unchanged.
    Keywords in ``kw`` override the carried ones. ``num_groups`` follows ``norms.resolve_groups`` (the
    largest divisor of C not above the request) and every layer's groups are logged (logger "norms",
    INFO); ``group_assignments(model)`` lists them afterwards. A fused timm norm+activation layer becomes
    ``NormActivation(new_norm, old.drop, old.act)``. A model that is itself a norm layer is returned
    replaced (not in place).
    """
    NORMS.get(name)  # an unknown name fails before the model is touched
    if is_norm_layer(model):
        return _replacement(model, name, type(model).__name__, kw, {})
    qualified_names = {module: qualified for qualified, module in model.named_modules(remove_duplicate=False)}
    model_placement = _placement(model)
    replaced: dict[int, nn.Module] = {}  # a layer shared by two parents gets one replacement
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if not is_norm_layer(child):
                continue
            if id(child) not in replaced:
                replaced[id(child)] = _replacement(child, name, qualified_names[child], kw, model_placement)
            setattr(parent, child_name, replaced[id(child)])
    return model


def group_assignments(model: nn.Module) -> list[tuple[str, int, int]]:
    """``(qualified_name, num_channels, num_groups)`` of every layer with group statistics (gn, ln, in, bgn,
    nn.GroupNorm, ...), in module order."""
    return [(qualified, module.num_channels, module.num_groups) for qualified, module in model.named_modules()
            if isinstance(getattr(module, "num_groups", None), int)
            and isinstance(getattr(module, "num_channels", None), int)]
