"""The rule that picks a group count for a layer whose channels the requested count does not divide.

Group Normalization (Wu & He, 2018) and Batch Group Normalization (Zhou et al., 2020) split C channels
into G groups of C / G channels, so G must divide C. Real networks have channel counts such as 24, 40
and 112, and some layers have fewer channels than the requested G; ``convert`` and ``norm_layer`` (and
the NAS task) therefore need one rule that gives every layer a valid count.
"""


def divisors(num_channels: int) -> list[int]:
    """Every group count that divides ``num_channels``, ascending (used in error messages)."""
    return [d for d in range(1, num_channels + 1) if num_channels % d == 0]


def resolve_groups(num_channels: int, requested: int) -> int:
    """The largest divisor of ``num_channels`` that is at most ``requested``.

    Examples with ``requested=32``: 64 -> 32, 112 -> 28, 40 -> 20, 24 -> 24 (fewer channels than
    groups: one channel per group), 7 -> 7. A request at least as large as C gives G = C, so
    ``requested=4096`` asks for one channel per group in every layer of a usual CNN.

    Raises:
        ValueError: ``num_channels`` or ``requested`` is below 1.
    """
    if num_channels < 1:
        raise ValueError(f"num_channels must be at least 1, got {num_channels}")
    if requested < 1:
        raise ValueError(f"num_groups must be at least 1, got {requested}; pass num_groups >= 1")
    return max(d for d in divisors(num_channels) if d <= requested)


def check_groups_divide(num_channels: int, num_groups: int) -> None:
    """Raise ValueError unless ``num_groups`` is at least 1 and divides ``num_channels``."""
    if num_groups < 1:
        raise ValueError(f"num_groups must be at least 1, got {num_groups}; pass num_groups >= 1")
    if num_channels % num_groups:
        raise ValueError(
            f"num_groups={num_groups} does not divide num_channels={num_channels}; pass one of "
            f"{divisors(num_channels)}, or norms.resolve_groups({num_channels}, {num_groups}) "
            f"= {resolve_groups(num_channels, num_groups)}"
        )
