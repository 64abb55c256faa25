"""The norm registry: short lowercase names mapped to layer classes, and the builders that use it.

Contract of a registered class (checked by ``register`` and ``build``): it is an ``nn.Module`` subclass
called as ``cls(num_channels, **kw)`` for inputs of shape (N, C, *), channels first, returning a module
whose output has the input's shape. A class whose constructor takes ``num_groups`` gets the group rule
(``norms.resolve_groups``) in ``norm_layer`` and ``convert``.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import logging
from typing import Callable

from torch import nn

from .groups import divisors, resolve_groups

logger = logging.getLogger("norms")


class UnknownNameError(ValueError):
    """``Registry.get`` of a name nobody registered; ``kind``, ``name`` and ``available`` say what exists."""

    def __init__(self, kind: str, name: str, available: list[str]):
        super().__init__(f"unknown {kind} {name!r}; available: {', '.join(available)}")
        self.kind, self.name, self.available = kind, name, available


class Registry:
    """Maps a short lowercase name to an object; a duplicate name is an error, a missing one lists the names.

    One class for every family (norms here; tasks and datasets in ``suite``). Entries are added with the
    ``register(name)`` decorator, or lazily as ``register_lazy(name, "package.module:attribute")``, imported
    on the first ``get`` so that listing names does not load every entry's libraries. ``check(name, obj)``,
    if given, enforces the family's contract on every object as it is registered or imported.
    """

    def __init__(self, kind: str, check: Callable[[str, object], None] | None = None):
        self.kind = kind
        self._check = check
        self._entries: dict[str, object] = {}

    def register(self, name: str) -> Callable[[object], object]:
        """Decorator adding ``obj`` under ``name``; returns ``obj`` unchanged."""

        def add(obj: object) -> object:
            if self._check is not None:
                self._check(name, obj)
            self._add(name, obj)
            return obj

        return add

    def register_lazy(self, name: str, target: str) -> None:
        """Add ``"package.module:attribute"`` under ``name``, imported on its first ``get``."""
        if target.count(":") != 1:
            raise ValueError(f"register_lazy({name!r}, {target!r}): write the target as 'package.module:attribute'")
        self._add(name, target)

    def _add(self, name: str, entry: object) -> None:
        if name in self._entries:
            held = self._entries[name]
            raise ValueError(f"{self.kind} {name!r} is already registered to "
                             f"{held if isinstance(held, str) else held.__qualname__}; choose another name")
        self._entries[name] = entry

    def get(self, name: str) -> object:
        """The object registered as ``name`` (imported now if lazy); ``UnknownNameError`` lists the names."""
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, self.names())
        entry = self._entries[name]
        if isinstance(entry, str):
            module_name, attribute = entry.split(":")
            entry = getattr(importlib.import_module(module_name), attribute)
            if self._check is not None:
                self._check(name, entry)
            self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def classes(self) -> tuple:
        """Every registered object (lazy entries imported), in registration order."""
        return tuple(self.get(name) for name in list(self._entries))


def _check_module_class(name: str, cls: object) -> None:
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register({name!r}) needs an nn.Module subclass, got {cls!r}")


NORMS = Registry("norm", check=_check_module_class)


def register(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Decorator adding a user norm ``cls(num_channels, **kw)`` under ``name``; a duplicate name is a ValueError."""
    return NORMS.register(name)


def available() -> list[str]:
    """The registered norm names, sorted."""
    return NORMS.names()


def accepted_keywords(cls: type[nn.Module]) -> set[str] | None:
    """Keyword names the constructor takes after ``num_channels`` (plus ``channels_per_group`` where it takes
    ``num_groups``); None when it takes ``**kwargs``."""
    parameters = list(inspect.signature(cls).parameters.values())[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    names = {p.name for p in parameters}
    return names | {"channels_per_group"} if "num_groups" in names else names


def _groups_from_channels_per_group(num_channels: int, kw: dict, strict: bool) -> None:
    """Replace ``kw['channels_per_group']`` = K (if set, not None) by ``num_groups``: K wins over num_groups.

    ``strict`` (``build``): K must divide C and G = C / K. Otherwise (the group rule of ``norm_layer`` and
    ``convert``): G = ``resolve_groups(C, C // K)``, the largest valid G at most C / K (at least 1).
    """
    per_group = kw.pop("channels_per_group", None)
    if per_group is None:
        return
    if not isinstance(per_group, int) or isinstance(per_group, bool) or per_group < 1:
        raise ValueError(f"channels_per_group must be a positive integer or None, got {per_group!r}; "
                         f"pass channels_per_group >= 1, or None to use num_groups")
    if strict and num_channels % per_group:
        raise ValueError(f"channels_per_group={per_group} does not divide num_channels={num_channels}; pass one "
                         f"of {divisors(num_channels)}, or build through norms.norm_layer/convert (group rule)")
    kw["num_groups"] = (num_channels // per_group if strict
                        else resolve_groups(num_channels, max(1, num_channels // per_group)))


def _check_keywords(name: str, cls: type[nn.Module], kw: dict) -> None:
    accepted = accepted_keywords(cls)
    unknown = set(kw) - accepted if accepted is not None else set()
    if unknown:
        raise TypeError(
            f"norm {name!r} does not take {', '.join(sorted(unknown))}; it takes: {', '.join(sorted(accepted))}"
        )


def build(name: str, num_channels: int, **kw) -> nn.Module:
    """Build the norm ``name`` for ``num_channels`` channels; ``kw`` as its class takes (eps, num_groups, ...).

    Raises:
        ValueError: unknown name (the message lists the available ones) or invalid values (e.g. groups
            that do not divide the channels).
        TypeError: a keyword the norm does not take.
    """
    cls = NORMS.get(name)
    _check_keywords(name, cls, kw)
    kw = dict(kw)
    _groups_from_channels_per_group(num_channels, kw, strict=True)
    module = cls(num_channels, **kw)
    if not isinstance(module, nn.Module):
        raise TypeError(f"norm {name!r} built {type(module).__name__}, not an nn.Module; fix its class")
    return module


def build_with_group_rule(name: str, num_channels: int, where: str, **kw) -> nn.Module:
    """``build``, but a ``num_groups`` that does not divide C is replaced by ``resolve_groups`` (logged), and
    a ``channels_per_group`` K asks for C // K groups under the same rule.

    For norms whose constructor takes ``num_groups``, the requested count is ``kw['num_groups']`` or the
    constructor's default; every layer logs (logger "norms", INFO) the groups it got; ``where`` names the
    layer in the log line.
    """
    cls = NORMS.get(name)
    _check_keywords(name, cls, kw)
    parameter = inspect.signature(cls).parameters.get("num_groups")
    if parameter is not None:
        per_group = kw.get("channels_per_group")
        _groups_from_channels_per_group(num_channels, kw, strict=False)
        requested = kw.get("num_groups", parameter.default)
        kw["num_groups"] = resolve_groups(num_channels, requested)
        asked = f"{per_group} channels per group" if per_group is not None else f"{requested}"
        logger.info("%s: %s with %d channels gets %d groups (requested %s)",
                    where, name, num_channels, kw["num_groups"], asked)
    return build(name, num_channels, **kw)


def check_options(name: str, **kw) -> None:
    """Raise the norm's own one-line error for options it refuses (unknown keywords, r_max < 1, eps <= 0, ...)
    before any model is built, by building it once for 64 channels (any ``num_groups`` follows the group rule)."""
    build_with_group_rule(name, 64, "options check", **kw)


class NormsuiteNormLayer:
    """What ``norm_layer`` binds: calling it builds the configured norm (``__new__`` returns that module).

    It is a class, not a function, because timm treats a function given to a model that fuses norm and
    activation as a norm+activation factory and never passes it the activation (DenseNet would silently
    lose its ReLUs); a class there fails loudly instead, naming this class.
    """

    def __new__(cls, num_channels: int, *, norm_name: str, config: dict, **library_kw) -> nn.Module:
        cls = NORMS.get(norm_name)
        accepted = accepted_keywords(cls)
        taken = {k: v for k, v in library_kw.items() if accepted is None or k in accepted}
        if getattr(cls, "includes_activation", False):  # a norm position: the model applies its own activation
            taken.setdefault("apply_activation", False)
        module = build_with_group_rule(norm_name, num_channels, f"norm_layer({norm_name!r})", **{**taken, **config})
        placement = {k: v for k, v in library_kw.items() if k in ("device", "dtype") and k not in taken}
        return module.to(**placement) if placement else module


def norm_layer(name: str, **kw) -> functools.partial:
    """A factory ``make(num_channels, **library_kw)`` for libraries that take ``norm_layer=`` (timm).

    ``kw`` is checked now, so a bad config fails before a model is built. ``num_groups`` follows the group
    rule (``norms.resolve_groups``) per layer. Keywords the library adds (eps, momentum, affine, device,
    dtype, ...) are used when the norm takes them and ``kw`` does not set them, otherwise dropped; an
    untaken device/dtype is applied with ``.to``. The factory is a ``functools.partial`` of a class, the
    form timm unbinds and rebinds.

    A norm that includes its activation (frn, evonorm_*) is built with ``apply_activation=False`` unless
    the call passes ``apply_activation=True``: a library calling ``norm_layer(C)`` applies its own
    activation where it wants one (timm's ResNet), and FRN's TLU or EvoNorm's activation on top would stack
    two. ``norms.norm_then_activation`` (our backbones) and ``norms.convert`` (timm models) put such a norm
    in place of a norm-then-activation pair instead.

    Models whose layers fuse norm and activation (timm's EfficientNet, RegNet, DenseNet, ...) cannot take
    it: timm raises "No equivalent norm_act layer for normsuitenormlayer". Build those with their default
    norm and call ``norms.convert(model, name, **kw)``, which keeps the activations.
    """
    cls = NORMS.get(name)
    _check_keywords(name, cls, kw)
    if "num_groups" in kw:
        resolve_groups(1, kw["num_groups"])  # validates num_groups >= 1 now
    _groups_from_channels_per_group(1, dict(kw), strict=False)  # validates channels_per_group now
    return functools.partial(NormsuiteNormLayer, norm_name=name, config=dict(kw))
