"""Synthetic study cells: metrics.json files as `RunSession` writes them."""
from __future__ import annotations

import pytest

from suite.results import write_json_atomic
from suite.study.grid import expand_grid
from suite.study.profile import load_profile


def _write_cell(cell, runs_dir, status="finished", value=None, metric="test/acc", error=None, history=None):
    """A cell's metrics.json whose main metric is test/acc, with `metric` = `value`; `history`: its fit
    phase's epochs (suite.history rows)."""
    metrics = {metric: value, "train/loss": 0.5} if value is not None else {}
    write_json_atomic(cell.metrics_path(runs_dir), {
        "status": status, "error": error, "run_id": cell.cell_id, "task": cell.task, "norm": cell.norm,
        "batch_size": cell.batch_size, "seed": cell.seed, "main_metric": "test/acc", "metrics": metrics,
        "wall_time_s": 1.0, **({"history": {"fit": history}} if history is not None else {})})


@pytest.fixture
def write_cell():
    """``write_cell(cell, runs_dir, status="finished", value=None, metric="test/acc", error=None, history=None)``."""
    return _write_cell


# cls only, bn and gn, batch 2 and 32, seeds 0-2, no W&B, every cell its own run (gn too), report in the study dir
SMALL = ["norms=[bn,gn]", "batch_sizes=[2,32]", "seeds=[0,1,2]", "logger_mode=disabled", "share_per_sample=false",
         "results_dir=null"]


@pytest.fixture
def small_profile():
    """The quick profile with the `SMALL` overrides."""
    return load_profile("quick", SMALL)


@pytest.fixture
def small_cells(small_profile):
    return expand_grid(small_profile)
