"""The study's launcher choice: Hydra overrides per launcher, resource checks, a real submitit_local study,
and a cell that submitit asks to stop (preemption, time limit) being requeued and continuing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from suite.config import compose_config
from suite.errors import UserError
from suite.results import read_metrics
from suite.study import runner
from suite.study.grid import expand_grid
from suite.study.launcher import check_cell_fits, check_launcher, launcher_overrides, threads_per_cell
from suite.study.profile import load_profile
from tests.suite.test_distributed import checkpoint_at
from tests.suite.test_resume import DETERMINISTIC, trained

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


@pytest.mark.slow
def test_a_cell_submitit_asks_to_stop_is_requeued_and_continues_from_its_checkpoint(tmp_path):
    # Two cells of one sweep, each a submitit_local job: "requeued" gets submitit's preemption signal
    # (SIGUSR2, what Slurm sends before preempting it or ending its time) inside its second epoch.
    runs = tmp_path / "cells"
    command = [sys.executable, "-m", "suite.study.cell", "-m", *DETERMINISTIC, "task=cls", "model.name=resnet10t",
               "trainer.max_epochs=3", "trainer.limit_train_batches=8", "trainer.checkpoint_every_min=0.002",
               f"paths.runs={runs}", "run_id=whole,requeued",
               "hydra/launcher=submitit_local", f"hydra.launcher.submitit_folder={tmp_path / 'submitit' / '%j'}",
               "hydra.launcher.timeout_min=20", "hydra.launcher.cpus_per_task=1", f"hydra.sweep.dir={tmp_path / 'hydra'}"]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    run_dir = runs / "cls" / "bn" / "requeued"
    checkpoint = run_dir / "checkpoints" / "fit" / "last.ckpt"
    checkpoint_at(checkpoint, sweep, 10)  # inside the second epoch (checkpoints at every batch say where it is)
    job = int((run_dir / ".lock").read_text())  # the job's process, which holds the run's lock
    os.kill(job, signal.SIGSTOP)  # frozen there, so the signal lands inside the epoch however fast the machine is
    os.kill(job, signal.SIGUSR2)
    os.kill(job, signal.SIGCONT)
    _, stderr = sweep.communicate(timeout=900)
    assert sweep.returncode == 0, stderr[-3000:]

    record, whole = read_metrics(run_dir / "metrics.json"), read_metrics(runs / "cls" / "bn" / "whole" / "metrics.json")
    assert record["status"] == "finished"
    assert [(entry["status"], entry["error"]) for entry in record["interruptions"]] == [
        ("interrupted", "Interrupted: stopped by SIGUSR2")]  # checkpointed, not failed
    logs = "".join(path.read_text() for path in (tmp_path / "submitit").glob("*/*_log.*"))
    assert "Requeued job" in logs  # by submitit, which ran the same cell again in the same job
    assert "Restored all states from the checkpoint" in logs  # continued, not restarted
    assert trained(record["metrics"]) == trained(whole["metrics"])
    assert whole["metrics"]["test/acc"] > 0.2  # learned: chance is 0.1
