"""Replace every normalization layer of an existing model by a registered norm, in place."""
import logging

import torch
import torch.fx
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from .activated import includes_activation
from .batch_group_norm import BatchGroupNorm
from .batch_renorm import BatchRenorm
from .norm_activation import NormActivation
from .registry import NORMS, accepted_keywords, build_with_group_rule

logger = logging.getLogger("norms")

# The activations a norm that includes its own (FRN's TLU, EvoNorm's) replaces when one directly follows it.
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
               nn.Hardswish, nn.Hardtanh, nn.Softplus)
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


class _NormActivationTracer(torch.fx.Tracer):
    """Traces a model's forward with norm layers and activations as single calls."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        leaf = is_norm_layer(module) or isinstance(module, ACTIVATIONS)
        return leaf or super().is_leaf_module(module, qualified_name)


def _activation_calls(model: nn.Module) -> dict[str, str]:
    """``{norm's qualified name: qualified name of the activation module that alone consumes its output}``.

    From the traced forward (torch.fx), so attributes such as timm ResNet's ``bn1``/``act1`` count; an
    activation module called more than once (a shared ReLU, as torchvision's ResNet has) is left out,
    since removing it would remove its other uses. A model fx cannot trace falls back to neighbours in an
    ``nn.Sequential``.
    """
    try:
        graph = _NormActivationTracer().trace(model)
    except Exception as error:  # noqa: BLE001 - any untraceable forward: use the Sequential neighbours
        logger.info("convert: cannot trace %s (%s); pairing norms with activations in nn.Sequential only",
                    type(model).__name__, str(error).splitlines()[0] if str(error) else type(error).__name__)
        return _sequential_activation_calls(model)
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = {}
    for node in graph.nodes:
        if node.op != "call_module" or not is_norm_layer(model.get_submodule(node.target)) or len(node.users) != 1:
            continue
        user = next(iter(node.users))
        while (user.op == "call_module" and isinstance(model.get_submodule(user.target), nn.Identity)
               and len(user.users) == 1):  # timm's disabled drop_block between bn1 and act1
            user = next(iter(user.users))
        if (user.op == "call_module" and isinstance(model.get_submodule(user.target), ACTIVATIONS)
                and calls[user.target] == 1 and calls[node.target] == 1):
            pairs[node.target] = user.target
    return pairs


def _sequential_activation_calls(model: nn.Module) -> dict[str, str]:
    pairs = {}
    for prefix, parent in model.named_modules():
        if isinstance(parent, nn.Sequential):
            names = [name for name, _ in parent.named_children()]
            for first, second in zip(names, names[1:]):
                if is_norm_layer(parent[int(first)] if first.isdigit() else getattr(parent, first)) and \
                        isinstance(getattr(parent, second), ACTIVATIONS):
                    pairs[f"{prefix}.{first}".lstrip(".")] = f"{prefix}.{second}".lstrip(".")
    uses = {}
    for _, module in model.named_modules(remove_duplicate=False):
        uses[id(module)] = uses.get(id(module), 0) + 1
    return {norm: act for norm, act in pairs.items() if uses[id(model.get_submodule(act))] == 1}


def _replacement(old: nn.Module, name: str, where: str, kw: dict, model_placement: dict,
                 followed_by_activation: bool = False) -> nn.Module:
    cls = NORMS.get(name)
    accepted = accepted_keywords(cls)
    source = old.norm if isinstance(old, NormActivation) else old
    carried = {k: v for k, v in _carried_keywords(source).items() if accepted is None or k in accepted}
    if includes_activation(cls):
        carried.pop("eps", None)  # its eps means something else (FRN: added to the mean square); keep its own
    drop, act = getattr(old, "drop", None), getattr(old, "act", None)
    fused = isinstance(drop, nn.Module) and isinstance(act, nn.Module)  # timm's BatchNormAct2d, our NormActivation
    activated = getattr(source, "apply_activation", False) and getattr(source, "includes_activation", False)
    if includes_activation(cls):  # it replaces the activation that follows the norm, fused or next in the model
        fused_activation = fused and not isinstance(act, nn.Identity)
        carried["apply_activation"] = activated or followed_by_activation or fused_activation
    elif activated:
        raise ValueError(f"{where}: {type(source).__name__} applies its own activation, which a {name!r} layer "
                         f"would drop, and which activation it replaced is unknown; rebuild the model with {name!r}")
    new = build_with_group_rule(name, _num_channels(source), where, **{**carried, **kw})
    new.to(**(_placement(old) or model_placement))  # a layer without tensors follows the model
    _copy_state(source, new)
    new.train(old.training)
    if includes_activation(cls):  # the old activation is inside `new` now; a real dropout is kept after it
        if fused and not isinstance(drop, nn.Identity):
            return NormActivation(new, drop, nn.Identity()).train(old.training)
        return new
    if fused and not isinstance(old, NormActivation):
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

    A norm that includes its activation (frn, evonorm_*; ``norms.activated``) replaces the pair where an
    activation module alone consumes the norm's output (found by tracing the forward with torch.fx; that
    activation becomes ``nn.Identity``) or where a fused layer has a real ``act`` (dropped); elsewhere (a
    norm before a residual add, an activation shared or applied functionally) it is built with
    ``apply_activation=False`` and the model's activations stay. ``apply_activation`` in ``kw`` overrides
    this for every layer and removes no activation.
    """
    cls = NORMS.get(name)  # an unknown name fails before the model is touched
    if is_norm_layer(model):
        return _replacement(model, name, type(model).__name__, kw, {})
    with_activation = includes_activation(cls) and "apply_activation" not in kw
    pairs = _activation_calls(model) if with_activation else {}
    followed = {id(model.get_submodule(norm)) for norm in pairs}
    qualified_names = {module: qualified for qualified, module in model.named_modules(remove_duplicate=False)}
    model_placement = _placement(model)
    replaced: dict[int, nn.Module] = {}  # a layer shared by two parents gets one replacement
    for parent in list(model.modules()):
        if id(parent) in replaced:  # inside a NormActivation already replaced as a whole
            continue
        for child_name, child in list(parent.named_children()):
            if not (is_norm_layer(child) or (with_activation and isinstance(child, NormActivation))):
                continue
            if id(child) not in replaced:
                replaced[id(child)] = _replacement(child, name, qualified_names[child], kw, model_placement,
                                                   followed_by_activation=id(child) in followed)
            setattr(parent, child_name, replaced[id(child)])
    for activation in pairs.values():  # now inside the norm that follows it
        parent_name, _, attribute = activation.rpartition(".")
        setattr(model.get_submodule(parent_name), attribute, nn.Identity())
        logger.info("%s: removed, %s applies its own activation in its place", activation, name)
    return model


def group_assignments(model: nn.Module) -> list[tuple[str, int, int]]:
    """``(qualified_name, num_channels, num_groups)`` of every layer with group statistics (gn, ln, in, bgn,
    nn.GroupNorm, ...), in module order."""
    return [(qualified, module.num_channels, module.num_groups) for qualified, module in model.named_modules()
            if isinstance(getattr(module, "num_groups", None), int)
            and isinstance(getattr(module, "num_channels", None), int)]
