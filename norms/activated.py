"""Norms that include their activation (FRN + TLU, EvoNorm): what ``convert`` and the factories ask of them.

Such a layer replaces a norm-then-activation pair of a model. Where a model's norm is followed by no
activation (the last norm of a residual branch, before the add; the norm that ends a DARTS
ReLU-conv-norm operation; a timm norm+act layer built with ``apply_act=False``), the layer is built with
``apply_activation=False``: it then replaces the norm only, and the model's own activation (after the
add, at the start of the next operation) stays, so no activation is ever stacked on another and none
is added where the model had none.
"""
from typing import Callable

from torch import nn


class IncludesActivation:
    """Mixin for a norm whose output is already activated; its constructor takes ``apply_activation``."""

    includes_activation = True
    apply_activation: bool = True


def includes_activation(cls: type[nn.Module]) -> bool:
    """True for a norm class that applies its own activation (and takes ``apply_activation``)."""
    return isinstance(cls, type) and issubclass(cls, IncludesActivation)


def norm_then_activation(norm_layer: Callable[..., nn.Module], num_channels: int,
                         activation: Callable[[], nn.Module]) -> list[nn.Module]:
    """The modules of a norm-then-activation pair, for a backbone's ``nn.Sequential``: one call per pair.

    ``[norm_layer(C), activation()]`` for a plain norm; ``[norm_layer(C, apply_activation=True)]`` alone for
    a norm that includes its activation (FRN's TLU, EvoNorm's), which then replaces the pair.
    ``norm_layer`` is a ``norms.norm_layer`` factory (or any ``make(C, **kw)`` that takes
    ``apply_activation`` for such norms).
    """
    norm = norm_layer(num_channels)
    if getattr(norm, "includes_activation", False):
        return [norm_layer(num_channels, apply_activation=True)]
    return [norm, activation()]
