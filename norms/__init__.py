"""normsuite's normalization layers: a registry of channels-first norms for inputs (N, C, *) of rank 2 to 5.

    norms.available()                      -> ['bgn', 'bn', 'brn', 'evonorm_b0', 'evonorm_s0', 'frn', 'gn', ...]
    norms.build("bgn", 64, num_groups=8)   -> nn.Module
    norms.norm_layer("gn", num_groups=32)  -> factory for timm's norm_layer=
    norms.convert(model, "bgn", num_groups=16) -> model with every norm replaced, in place
    norms.group_assignments(model)         -> [(qualified_name, num_channels, num_groups), ...]
    norms.resolve_groups(40, 32)           -> 20, the group rule
    norms.convert_sync(model)              -> model with bn and bgn synchronized across processes, in place
    norms.norm_then_activation(make, 64, nn.ReLU) -> [norm, ReLU], or [frn] alone: frn includes its activation
    norms.set_training_progress(model, 0.25)  -> schedules such as brn's warm-up read the run's progress
    norms.standardize_weights(model)       -> every convolution standardizes its weight (Qiao et al., 2019)
    @norms.register("mine") class Mine(nn.Module): def __init__(self, num_channels, **kw): ...
"""
from .batch_group_norm import BatchGroupNorm, BatchGroupNormFunction
from .activated import includes_activation, norm_then_activation
from .batch_norm import BatchNorm
from .batch_renorm import BatchRenorm
from .convert import convert, group_assignments, is_norm_layer
from .evonorm import EvoNormB0, EvoNormS0
from .frn import FilterResponseNorm
from .group_norm import GroupNorm, InstanceNorm, LayerNorm
from .ghost import GhostBatch, ghost_batches, uses_batch_statistics
from .groups import resolve_groups
from .identity import NoNorm
from .norm_activation import NormActivation
from .positional_norm import PositionalNorm
from .progress import FollowsTrainingProgress, set_training_progress
from .registry import available, build, check_options, norm_layer, register
from .sync import SyncBatchGroupNorm, convert_sync
from .weight_standardization import StandardizedWeight, standardize_weights

__all__ = [
    "available", "build", "register", "norm_layer", "convert", "group_assignments", "is_norm_layer",
    "resolve_groups", "BatchNorm", "BatchGroupNorm", "BatchGroupNormFunction", "GroupNorm", "LayerNorm",
    "InstanceNorm", "PositionalNorm", "NoNorm", "NormActivation", "convert_sync", "SyncBatchGroupNorm",
    "BatchRenorm", "FilterResponseNorm", "EvoNormB0", "EvoNormS0", "includes_activation", "norm_then_activation",
    "FollowsTrainingProgress", "set_training_progress", "check_options",
    "standardize_weights", "StandardizedWeight",
    "GhostBatch", "ghost_batches", "uses_batch_statistics",
]
