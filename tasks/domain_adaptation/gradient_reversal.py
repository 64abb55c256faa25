"""The gradient reversal layer (GRL) of DANN (Ganin & Lempitsky 2015, eq. 13-14).

Forward it is the identity; backward it multiplies the incoming gradient by
``-coefficient``. Placed between the feature extractor and the domain
discriminator, one backward pass trains the discriminator to tell the domains apart
and the features to confuse it.
"""
from __future__ import annotations

import torch
from torch import nn


class GradientReversalFunction(torch.autograd.Function):
    """y = x; dL/dx = -coefficient * dL/dy. ``coefficient`` is a float (no gradient)."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, coefficient: float) -> torch.Tensor:
        ctx.coefficient = coefficient
        return inputs.view_as(inputs)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coefficient * grad_output, None


class GradientReversal(nn.Module):
    """`GradientReversalFunction` as a layer; any shape in, the same out.

    ``coefficient`` (λ in the paper, default 1.0) is set each step by the trainer
    from the schedule in `tasks.domain_adaptation.schedules`.
    """

    def __init__(self, coefficient: float = 1.0):
        super().__init__()
        self.coefficient = coefficient

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return GradientReversalFunction.apply(inputs, self.coefficient)

    def extra_repr(self) -> str:
        return f"coefficient={self.coefficient}"
