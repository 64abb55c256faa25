"""Input validation shared by every normsuite layer: one-line ValueErrors that name the fix."""
import torch


def check_input(x: torch.Tensor, num_channels: int, layer: str) -> None:
    """Require ``x`` of shape (N, C, *) with 0 to 3 spatial dimensions and C == ``num_channels``."""
    if not 2 <= x.dim() <= 5:
        raise ValueError(
            f"{layer} expects an input of shape (N, C) to (N, C, D, H, W), i.e. rank 2 to 5, "
            f"got rank {x.dim()} with shape {tuple(x.shape)}; reshape the input to (N, C, *)"
        )
    if x.shape[1] != num_channels:
        raise ValueError(
            f"{layer} expected {num_channels} channels, got {x.shape[1]} (input shape "
            f"{tuple(x.shape)}); pass channels first or build the layer with num_channels={x.shape[1]}"
        )


def check_statistic_size(values_per_statistic: int, x: torch.Tensor, layer: str, over: str) -> None:
    """Refuse a training batch whose mean/variance would come from a single value, as torch's BatchNorm does.

    Such a statistic makes the normalized output zero whatever the input, so training would silently learn
    nothing; ``over`` names what the statistic spans, for the message.
    """
    if values_per_statistic < 2:
        raise ValueError(
            f"{layer} got input shape {tuple(x.shape)} in training mode, where each statistic "
            f"({over}) would be computed from a single value; use more than one value per statistic "
            f"(a larger batch or spatial size) or call .eval()"
        )
