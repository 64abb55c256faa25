"""suite.timing.LoopTimer: epoch and startup times land in a run's metrics."""
import json
from pathlib import Path

from suite.run import run


def test_epoch_and_first_step_times_are_recorded(make_config):
    cfg = make_config("model.name=resnet10t", "data.image_size=16", "trainer.limit_train_batches=2",
                      "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "run_id=timed")
    metrics = run(cfg)
    written = json.loads((Path(cfg.paths.runs) / "cls" / "bn" / "timed" / "metrics.json").read_text())
    assert 0 < metrics["time/epoch_s"] < written["wall_time_s"]  # the epoch is part of the run
    assert metrics["time/epoch_cpu_s"] > 0
    # Launch to first step covers this test process's imports and earlier tests, so it exceeds the epoch.
    assert metrics["time/first_step_s"] > metrics["time/epoch_s"]
