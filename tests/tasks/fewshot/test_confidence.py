"""Mean accuracy and its 95% confidence interval against scipy's normal quantile and numpy."""
import numpy as np
import pytest
import torch
from scipy import stats

from tasks.fewshot.confidence import mean_and_ci95


def test_matches_numpy_and_scipy():
    values = np.random.default_rng(0).uniform(0.3, 1.0, size=600)
    mean, ci95 = mean_and_ci95(torch.tensor(values, dtype=torch.float32))
    expected = stats.norm.ppf(0.975) * values.std(ddof=1) / np.sqrt(len(values))
    assert mean == pytest.approx(values.mean(), rel=1e-6)
    assert ci95 == pytest.approx(expected, rel=1e-5)


def test_needs_two_episodes():
    with pytest.raises(ValueError, match="at least 2"):
        mean_and_ci95(torch.tensor([0.5]))
