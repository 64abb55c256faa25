"""Each epoch's train and val metrics (metrics.json's ``history``): one row per epoch, continued by a resume."""
from __future__ import annotations

from types import SimpleNamespace

import torch

from suite.history import EpochHistory, read_history
from suite.results import read_metrics
from suite.run import run

TINY = ["task=cls", "model.name=resnet10t", "trainer.limit_train_batches=3", "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=1", "trainer.max_epochs=3"]


def test_a_run_records_one_row_per_epoch_that_ends_where_its_final_metrics_are(make_config, tmp_path):
    run(make_config(*TINY, "run_id=curves"))
    run_dir = tmp_path / "runs" / "cls" / "bn" / "curves"
    record = read_metrics(run_dir / "metrics.json")
    rows = record["history"]["fit"]
    assert [(row["epoch"], row["step"]) for row in rows] == [(1, 3), (2, 6), (3, 9)]
    assert rows == read_history(run_dir / "checkpoints" / "fit")
    for key in ("val/acc", "val/loss", "train/loss", "train/acc"):
        assert rows[-1][key] == record["metrics"][key]  # the last epoch's are the metrics training ended with
    assert len({row["val/loss"] for row in rows}) == 3  # an epoch's own values, not one repeated
    assert not any(key.startswith(("test/", "time/")) for row in rows for key in row)


def test_a_resumed_phase_replaces_the_rows_of_the_epochs_it_trains_again(tmp_path):
    """A kill after epoch 2's row but before its checkpoint: the resumed run trains epoch 2 again."""
    first = EpochHistory(tmp_path)
    for epoch, loss in enumerate([0.9, 0.7]):
        first.on_train_epoch_end(trainer(epoch, loss), None)
    resumed = EpochHistory(tmp_path)
    resumed.on_fit_start(None, None)
    assert resumed.rows == first.rows
    resumed.on_train_epoch_end(trainer(1, 0.6), None)
    resumed.on_train_epoch_end(trainer(2, 0.5), None)
    assert [(row["epoch"], row["val/loss"]) for row in read_history(tmp_path)] == [(1, 0.9), (2, 0.6), (3, 0.5)]


def trainer(epoch: int, val_loss: float) -> SimpleNamespace:
    """What EpochHistory reads of a Trainer at the end of 0-based `epoch` (3 steps an epoch)."""
    metrics = {"val/loss": torch.tensor(val_loss, dtype=torch.float64), "time/epoch_s": torch.tensor(1.0)}
    return SimpleNamespace(current_epoch=epoch, global_step=3 * (epoch + 1), callback_metrics=metrics,
                           is_global_zero=True)
