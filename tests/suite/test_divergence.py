"""The finite-loss guard: remembered on the device, raised at a check, with the first bad step."""
from pathlib import Path

import pytest
import torch

from suite.divergence import DivergenceGuard
from suite.errors import TrainingDiverged
from suite.results import read_metrics
from suite.run import run


def test_guard_raises_at_the_check_naming_the_first_non_finite_step():
    guard = DivergenceGuard()
    for step, value in enumerate([1.0, 0.5, float("nan"), float("inf"), 0.1]):
        guard.update(torch.tensor(value), step)  # never raises between checks
    with pytest.raises(TrainingDiverged, match="became nan at step 2"):
        guard.check()


def test_guard_stays_quiet_while_the_loss_is_finite():
    guard = DivergenceGuard()
    guard.check()  # nothing noted yet
    for step in range(5):
        guard.update(torch.tensor(1e30), step)
    guard.check()


def test_a_diverging_run_stops_with_training_diverged(make_config):
    # lr 1e6 overflows within a few SGD steps; log_every_n_steps=50 leaves the check before validation to catch it.
    cfg = make_config("model.name=resnet10t", "data.image_size=16", "data.batch_size=16", "task.optim.lr=1e6",
                      "trainer.limit_train_batches=6", "trainer.log_every_n_steps=50", "run_id=diverged")
    with pytest.raises(TrainingDiverged, match="train/loss became (nan|inf|-inf) at step"):
        run(cfg)
    written = read_metrics(Path(cfg.paths.runs) / "cls" / "bn" / "diverged" / "metrics.json")
    assert written["status"] == "diverged" and "TrainingDiverged" in written["error"]
