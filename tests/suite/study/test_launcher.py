"""The study's launcher choice: Hydra overrides per launcher, resource checks, and a real submitit_local study."""
from __future__ import annotations

from pathlib import Path

import pytest

from suite.config import compose_config
from suite.errors import UserError
from suite.results import read_metrics
from suite.study import runner
from suite.study.grid import expand_grid
from suite.study.launcher import check_cell_fits, check_launcher, launcher_overrides, threads_per_cell
from suite.study.profile import load_profile

TWO_EPOCHS = "task_overrides.cls=['trainer.max_epochs=2','trainer.limit_val_batches=1','model.name=resnet10t']"


def test_joblib_is_the_default_launcher():
    profile = load_profile("quick")
    assert launcher_overrides(profile, "cls", 3, Path("s")) == ["hydra/launcher=joblib", "hydra.launcher.n_jobs=3"]


def test_gpu_cluster_profile_sends_each_cell_to_slurm_with_its_resources():
    profile = load_profile("gpu_cluster", ["resources.partition=gpu"])
    check_launcher(profile)
    cls = launcher_overrides(profile, "cls", 16, Path("study"))
    assert cls[:2] == ["hydra/launcher=submitit_slurm", "hydra.launcher.submitit_folder=study/submitit/cls/%j"]
    assert {"hydra.launcher.gpus_per_node=4", "hydra.launcher.tasks_per_node=4", "hydra.launcher.timeout_min=240",
            "hydra.launcher.partition=gpu"} <= set(cls)
    assert not any(override.startswith("hydra.launcher.account=") for override in cls)  # null: not passed
    assert "hydra.launcher.tasks_per_node=1" in launcher_overrides(profile, "nas", 16, Path("study"))
    assert threads_per_cell(profile, "cls", 16) == 8
    first_cells = {cell.task: cell for cell in reversed(expand_grid(profile))}
    for task, cell in first_cells.items():  # every task's cells get one Slurm task per DDP process
        check_cell_fits(profile, task, compose_config(cell.overrides()))


@pytest.mark.parametrize("overrides, message", [
    (["launcher=ray"], "unknown launcher 'ray'"),
    (["launcher=submitit_local", "+resources.partition=gpu"], "launcher=submitit_local takes no resources.partition"),
])
def test_bad_launcher_settings_are_one_line_errors(overrides, message):
    with pytest.raises(UserError, match=message):
        check_launcher(load_profile("quick", overrides))


def test_ddp_cells_need_as_many_slurm_tasks():
    ddp = compose_config(["trainer.strategy=ddp", "trainer.devices=2"])
    with pytest.raises(UserError, match="launcher=submitit_slurm only"):
        check_cell_fits(load_profile("quick"), "cls", ddp)
    with pytest.raises(UserError, match="get 4 Slurm tasks"):
        check_cell_fits(load_profile("gpu_cluster"), "cls", ddp)


@pytest.mark.slow
def test_submitit_local_study_runs_each_cell_as_a_job(tmp_path):
    profile = load_profile("quick", ["norms=[bn]", "batch_sizes=[32]", "seeds=[0,1]", "logger_mode=disabled",
                                     "launcher=submitit_local", "+resources.timeout_min=20",
                                     "+resources.cpus_per_task=1", TWO_EPOCHS])
    cells = expand_grid(profile)
    runner.run_study(profile, tmp_path)
    for cell in cells:
        record = read_metrics(cell.metrics_path(tmp_path / "cells"))
        assert record["status"] == "finished", record["error"]
        assert record["metrics"]["test/acc"] > 0.3  # learned: chance is 0.1
    job_logs = list((tmp_path / "submitit" / "cls").glob("*/*_log.out"))
    assert len(job_logs) == len(cells)  # one submitit job per cell
