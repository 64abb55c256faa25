"""Adversarial examples from torchattacks under an explicit norm mode: the PGD wrapper of task `adv`.

PGD is Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks": from a
uniformly random start in the L∞ ball of radius ε, ``steps`` signed-gradient ascent steps of size
``step_size`` on the cross-entropy, each projected back onto the ball and onto [0, 1]. FGSM is
Goodfellow et al. 2015 (one step of size ε, no random start); AutoAttack is Croce & Hein 2020 (the
standard L∞ ensemble APGD-CE, APGD-T, FAB-T, Square). The attacks themselves are torchattacks'.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torchattacks
from torch import nn

from suite.norm_modes import norms_in_mode

ATTACKS = ("fgsm", "pgd", "autoattack")


@dataclass(frozen=True)
class ThreatModel:
    """An L∞ threat model in pixel units (images in [0, 1]).

    epsilon: radius of the ball, in [0, 1] (0.3 for MNIST-like digits, 8/255 for CIFAR-10).
    step_size: PGD step (2/255 on CIFAR-10); steps: PGD iterations, at least 1.
    random_start: PGD starts from a uniform point in the ball (Madry et al.), default True.
    """

    epsilon: float
    step_size: float
    steps: int
    random_start: bool = True

    def __post_init__(self):
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1] (pixel units), got {self.epsilon}")
        if not self.step_size > 0.0:
            raise ValueError(f"step_size must be positive, got {self.step_size}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")


class ModeLockedNetwork(nn.Module):
    """``network`` as torchattacks sees it: its ``train()``/``eval()`` do nothing.

    torchattacks puts the model in eval mode before every attack and back in train mode after (its
    finer switch finds norm layers by class name). The modes are set by `suite.norm_modes.norms_in_mode` instead, so
    this wrapper ignores torchattacks' calls. Not to be registered as a submodule of a trained model.
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def train(self, mode: bool = True) -> "ModeLockedNetwork":
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)


def check_pixel_range(images: torch.Tensor) -> None:
    """torchattacks clamps every adversarial image to [0, 1]; inputs outside that range are not pixels."""
    low, high = images.min().item(), images.max().item()
    if low < 0.0 or high > 1.0:
        raise ValueError(f"attacks need images in [0, 1] (pixel space), got values in [{low:.3g}, {high:.3g}]; "
                         f"feed unnormalized pixels and let the model normalize (suite.models.InputNormalization)")


def build_attack(name: str, model: nn.Module, threat: ThreatModel, num_classes: int, seed: int = 0):
    """The torchattacks attack ``name`` (one of `ATTACKS`) on ``model`` for ``threat``."""
    if name == "fgsm":
        return torchattacks.FGSM(model, eps=threat.epsilon)
    if name == "pgd":
        return torchattacks.PGD(model, eps=threat.epsilon, alpha=threat.step_size, steps=threat.steps,
                                random_start=threat.random_start)
    if name == "autoattack":
        return torchattacks.AutoAttack(model, norm="Linf", eps=threat.epsilon, version="standard",
                                       n_classes=num_classes, seed=seed)
    raise ValueError(f"unknown attack {name!r}; choose one of {', '.join(ATTACKS)}")


def warmed_up(threat: ThreatModel, epochs_done: float, warmup_epochs: float) -> ThreatModel:
    """`threat` with ε and the step size scaled by min(1, epochs_done / warmup_epochs): ε scheduling,
    the linear ramp MNIST adversarial training commonly uses (e.g. Wong et al. 2020) so that the model
    learns before facing the full radius; `epochs_done` > 0. ``warmup_epochs <= 0`` returns `threat` unchanged."""
    if warmup_epochs <= 0:
        return threat
    scale = min(1.0, epochs_done / warmup_epochs)
    return replace(threat, epsilon=scale * threat.epsilon, step_size=scale * threat.step_size)


def adversarial_examples(network: nn.Module, images: torch.Tensor, labels: torch.Tensor, attack: str,
                         threat: ThreatModel, norm_mode: str, num_classes: int = 10, seed: int = 0) -> torch.Tensor:
    """Untargeted adversarial versions of ``images`` (N, C, H, W) in [0, 1] with ``labels`` (N,).

    ``network`` maps pixels in [0, 1] to logits (N, K) and normalizes inside. While the attack runs its
    norm layers use ``norm_mode`` statistics ("eval": running, "train": this batch's) and everything else
    is in eval mode; afterwards modes and running statistics are as before (`suite.norm_modes.norms_in_mode`).
    Returns a detached tensor like ``images`` with ||adv - images||_∞ <= ε and values in [0, 1];
    parameter gradients are left untouched (torchattacks differentiates with respect to the input only).
    """
    check_pixel_range(images)
    with norms_in_mode(network, norm_mode), torch.enable_grad():
        adversary = build_attack(attack, ModeLockedNetwork(network), threat, num_classes, seed)
        adversary.set_device(images.device)
        return adversary(images, labels).detach()
