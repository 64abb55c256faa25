"""How far training has got, for layers whose behaviour follows a schedule over the run (``brn``'s warm-up).

A layer that follows the run's progress subclasses ``FollowsTrainingProgress`` and reads its
``training_progress`` (a fraction in [0, 1], or None while nobody has set it). The training loop calls
``set_training_progress(model, fraction)`` every step; ``suite`` does it with a Lightning callback from
``trainer.global_step / trainer.estimated_stepping_batches``. Layers keep no reference to a trainer.
"""
from torch import nn


class FollowsTrainingProgress:
    """Mixin: ``training_progress`` is the fraction of the run's optimizer steps done, or None if unknown."""

    training_progress: float | None = None


def set_training_progress(model: nn.Module, fraction: float) -> int:
    """Set ``training_progress = fraction`` on every ``FollowsTrainingProgress`` module of ``model``.

    Returns how many layers were set. Raises ValueError for a fraction outside [0, 1].
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"training progress must be a fraction in [0, 1], got {fraction}; "
                         f"pass steps_done / total_steps")
    layers = [module for module in model.modules() if isinstance(module, FollowsTrainingProgress)]
    for layer in layers:
        layer.training_progress = float(fraction)
    return len(layers)
