"""Running studies: a real Hydra joblib sweep, resume, and failures that do not stop it."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from suite.config import compose_config
from suite.results import read_metrics, write_json_atomic
from suite.study import runner
from suite.study.cell import run_cell
from suite.study.grid import expand_grid
from suite.study.profile import load_profile
from tests.suite.study.conftest import SMALL

TINY = "task_overrides.cls=['trainer.max_epochs=1','trainer.limit_train_batches=2'," \
       "'trainer.limit_val_batches=1','trainer.limit_test_batches=1','model.name=resnet10t']"


def forbid_sweeps(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a sweep was launched: {args[0]}")

    monkeypatch.setattr(runner.subprocess, "Popen", refuse)


def test_resume_launches_nothing_when_every_cell_is_finished(tmp_path, monkeypatch, small_profile, write_cell):
    cells = expand_grid(small_profile)
    for cell in cells:
        write_cell(cell, tmp_path / "cells", value=0.5)
    forbid_sweeps(monkeypatch)
    runner.run_study(small_profile, tmp_path)
    assert all(read_metrics(cell.metrics_path(tmp_path / "cells"))["metrics"]["test/acc"] == 0.5 for cell in cells)


def test_resume_sweeps_only_unfinished_failed_and_corrupt_cells(tmp_path, monkeypatch, small_profile, write_cell,
                                                                 capsys):
    cells = expand_grid(small_profile)
    finished = [cell for cell in cells if cell.batch_size == 32]
    for cell in finished:
        write_cell(cell, tmp_path / "cells", value=0.5)
    write_cell(cells[0], tmp_path / "cells", status="failed", error="RuntimeError: earlier attempt")
    torn = finished[0].metrics_path(tmp_path / "cells")
    torn.write_text('{"status": "finished", "metr')  # a truncated record of a finished cell
    swept = []
    monkeypatch.setattr(runner, "sweep", lambda cells, *args: swept.extend(cells) or 0)
    runner.run_study(small_profile, tmp_path)
    assert sorted(c.cell_id + c.norm for c in swept) == \
        sorted(c.cell_id + c.norm for c in cells if c.batch_size == 2 or c == finished[0])
    assert f"{torn} is corrupt" in capsys.readouterr().out and not torn.exists()  # reported, run again
    # The failed attempt's record stays: the cell's run continues it (resume=auto) and lists it as an interruption.
    assert read_metrics(cells[0].metrics_path(tmp_path / "cells"))["status"] == "failed"


def test_a_grown_profile_resumes_running_only_its_new_cells(tmp_path, monkeypatch, small_profile, write_cell):
    """Rows added to a finished study's profile (sweeps: a setting varied; a null value, the main row) keep
    every finished cell: the resumed study sweeps exactly the cells the old profile did not have."""
    for cell in expand_grid(small_profile):
        write_cell(cell, tmp_path / "cells", value=0.5)
    grown = load_profile("quick", [*SMALL, "sweeps=[{task: cls, norm: gn, key: norm.num_groups, values: [1, 4]},"
                                   "{task: cls, norm: bn, key: model.weight_standardization, values: [null, true],"
                                   " table: 'cls:ws', labels: [bn without WS, bn + WS]}]"])
    swept = []
    monkeypatch.setattr(runner, "sweep", lambda cells, *args: swept.extend(cells) or 0)
    runner.run_study(grown, tmp_path)
    old = {cell.cell_id for cell in expand_grid(small_profile)}
    new = {cell.cell_id for cell in expand_grid(grown)} - old
    assert len(new) == 3 * 2 * 3  # gn at 2 group counts, bn + WS: 2 batch sizes x 3 seeds each
    assert sorted(cell.cell_id for cell in swept) == sorted(new)
    without = [cell for cell in expand_grid(grown) if cell.label == "bn without WS"]
    assert {cell.cell_id for cell in without} == {cell.cell_id for cell in expand_grid(small_profile)
                                                  if cell.norm == "bn"}


def test_fine_tuning_sweeps_run_after_every_pretraining_sweep(tmp_path, monkeypatch, small_profile, write_cell):
    """With part of the pre-training finished (gn's seed 0) the runner still launches every fine-tuning sweep
    after the sweeps that hold the pre-training cells it starts from."""
    profile = load_profile("quick", [*SMALL, "transfer=[{task: cls, overrides: ['data=digits'], batch_sizes: [2]}]"])
    cells = expand_grid(profile)
    for cell in cells:
        if (cell.norm, cell.seed, cell.table) == ("gn", 0, None):
            write_cell(cell, tmp_path / "cells", value=0.5)
    launched = []
    monkeypatch.setattr(runner, "sweep", lambda group, *args: launched.append(group) or 0)
    runner.run_study(profile, tmp_path)
    stages = [group[0].stage for group in launched]
    assert stages == sorted(stages) and stages.count(1) >= 1
    pretraining = {cell.cell_id for cell in cells if cell.table == "cls:transfer, pre-training"}
    first_tuning = stages.index(1)
    assert pretraining - {f"gn-bs32-s0-{cells[0].digest}"} <= {cell.cell_id for group in launched[:first_tuning]
                                                             for cell in group}


def test_a_cell_failing_before_its_session_is_recorded(tmp_path):
    cfg = compose_config(["logger.mode=disabled", f"paths.runs={tmp_path}", "run_id=bad", "norm=gn",
                          "norm.eps=-1"])
    assert run_cell(cfg, threads=1) == "failed"
    record = read_metrics(tmp_path / "cls" / "gn" / "bad" / "metrics.json")
    assert record["status"] == "failed" and "norm.eps must be a finite number > 0, got -1" in record["error"]
    assert (record["task"], record["norm"], record["seed"]) == ("cls", "gn", 0)


def test_sweep_runs_cells_in_parallel_records_failures_and_resumes(tmp_path, monkeypatch):
    """bn at batch 8 trains; batch 4096 exceeds digits' training images and fails inside its
    run; a task without a config fails before any sweep; all are recorded, the study goes on."""
    profile = load_profile("quick", [f"reports_dir={tmp_path}", "tasks=[cls,nosuchtask]", "norms=[bn]",
                                     "batch_sizes=[8,4096]",
                                     "logger_mode=disabled", "n_jobs=2", "axis=optimizer", TINY])
    cells = expand_grid(profile)
    runner.run_study(profile, tmp_path)
    records = {(c.task, c.batch_size): read_metrics(c.metrics_path(tmp_path / "cells")) for c in cells}
    accuracy = records["cls", 8]["metrics"]["test/acc"]  # over one test batch: 256 of the 269 test digits
    assert records["cls", 8]["status"] == "finished" and accuracy * 256 == pytest.approx(round(accuracy * 256), abs=1e-3)
    assert records["cls", 4096]["status"] == "failed"
    assert re.search(r"batch_size=4096 exceeds the \d+ training images", records["cls", 4096]["error"])
    assert all(records["nosuchtask", size]["error"].startswith("UserError: unknown task") for size in (8, 4096))
    assert (tmp_path / "logs" / "cls.log").is_file()

    finished = cells[0].metrics_path(tmp_path / "cells")
    before = finished.stat().st_mtime_ns
    forbid_sweeps(monkeypatch)
    runner.run_study(load_profile("quick", [f"reports_dir={tmp_path}", "norms=[bn]", "batch_sizes=[8]",
                                            "logger_mode=disabled", "axis=optimizer", TINY]), tmp_path)
    assert finished.stat().st_mtime_ns == before


def test_cli_errors_are_one_line():
    result = subprocess.run([sys.executable, "-m", "suite.study", "profile=nope"], capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_a_cell_finished_with_settings_the_profile_no_longer_gives_runs_again(tmp_path, monkeypatch, small_profile,
                                                                              write_cell, capsys):
    """A config file's default changed since a cell ran (its id digests only the profile's overrides): the
    recorded config says so, the old run is moved aside and the cell is swept again; unchanged cells are not."""
    cells = runner.runs(expand_grid(small_profile))
    runtime = runner.runtime_overrides(small_profile, tmp_path)
    for cell in cells:
        write_cell(cell, tmp_path / "cells", value=0.5)
        record = read_metrics(cell.metrics_path(tmp_path / "cells"))
        record["config"] = OmegaConf.to_container(compose_config([*cell.overrides(), *runtime]), resolve=True)
        record["config"]["paths"]["runs"] = "elsewhere"  # where it ran: not a setting
        if cell is cells[0]:
            record["config"]["task"]["optim"]["lr"] *= 2  # the task file's default then
        write_json_atomic(cell.metrics_path(tmp_path / "cells"), record)
    swept = []
    monkeypatch.setattr(runner, "sweep", lambda group, *args, **kwargs: swept.extend(group) or 0)
    runner.run_study(small_profile, tmp_path)
    assert swept == [cells[0]]
    assert "ran with other settings (task.optim.lr), runs again" in capsys.readouterr().out
    (aside,) = cells[0].metrics_path(tmp_path / "cells").parent.parent.glob(f"{cells[0].cell_id}.changed-*")
    assert read_metrics(aside / "metrics.json")["metrics"]["test/acc"] == 0.5


def test_a_setting_added_since_counts_only_when_it_is_on():
    cfg = OmegaConf.create({"a": 1, "new": {"off": None, "disabled": False, "on": 3}, "paths": {"runs": "x"}})
    assert runner.changed_settings({"a": 1, "gone": 2, "paths": {"runs": "y"}}, cfg, ["paths.runs=x"]) == ["new.on"]
