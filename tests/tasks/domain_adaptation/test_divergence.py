"""The proxy A-distance: separable domains give 2, identical ones about 0; its formula by hand."""
import numpy as np
import pytest

from tasks.domain_adaptation.divergence import domain_accuracy, proxy_a_distance


def test_separable_domains_are_told_apart_and_identical_ones_are_not():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(400, 8))
    assert domain_accuracy(source, rng.normal(size=(400, 8)) + 3.0) == 1.0
    assert domain_accuracy(source, rng.normal(size=(400, 8))) == pytest.approx(0.5, abs=0.06)


@pytest.mark.parametrize("accuracy, distance", [(1.0, 2.0), (0.5, 0.0), (0.75, 1.0), (0.25, 1.0)])
def test_proxy_a_distance_is_two_times_one_minus_twice_the_error(accuracy, distance):
    assert proxy_a_distance(accuracy) == pytest.approx(distance)
