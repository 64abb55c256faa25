"""The group rule: the largest divisor of C not above the request."""
import pytest

import norms


@pytest.mark.parametrize("channels", [1, 3, 7, 16, 24, 40, 64, 112, 120, 1280])
@pytest.mark.parametrize("requested", [1, 2, 8, 16, 32, 4096])
def test_largest_divisor_not_above_request(channels, requested):
    expected = next(g for g in range(min(channels, requested), 0, -1) if channels % g == 0)
    assert norms.resolve_groups(channels, requested) == expected


def test_examples_from_real_networks():
    assert [norms.resolve_groups(c, 32) for c in (24, 40, 112, 16, 64)] == [24, 20, 28, 16, 32]


@pytest.mark.parametrize("channels, requested, message", [
    (8, 0, "num_groups must be at least 1, got 0"),
    (0, 4, "num_channels must be at least 1, got 0"),
])
def test_bad_values_are_refused(channels, requested, message):
    with pytest.raises(ValueError, match=message):
        norms.resolve_groups(channels, requested)
