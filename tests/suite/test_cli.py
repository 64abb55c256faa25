"""The CLI in a subprocess (slow tier): bad input from the issue's list refused with one line and
exit code 2 before any run directory exists; a diverging run ends with exit code 3 and status diverged."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from suite.results import read_metrics
from tests.suite.test_config import BAD_INPUTS, bad_input_files, split_case  # noqa: F401 - a fixture

FAST = ["logger.mode=disabled", "trainer.accelerator=cpu", "trainer.max_epochs=1", "trainer.enable_progress_bar=false"]
# The inputs issue 13 found refused late or with a traceback.
FROM_THE_ISSUE = ("task.optim.lr=abc", "task.optim.lr=-0.1", "task.optim.lr=nan", "seed=abc", "trainer.accelerator=gpu",
                  "paths.runs=/proc/normsuite-runs", "paths.runs={tmp}/a_file/runs", "logger.mode=online",
                  "WANDB_MODE=online", "logger.save_dir={tmp}/a_file", "data=omniglot", "data.batch_size=1",
                  "data.root={tmp}/images")
CASES = [case for case in BAD_INPUTS if any(item in case[0] for item in FROM_THE_ISSUE)]


def normsuite(arguments: list[str], environment: dict[str, str], cwd) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-m", "suite", *arguments], capture_output=True, text=True,
                             env={**os.environ, **environment}, cwd=cwd, timeout=120)
    return process, time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "expected"), CASES, ids=[" ".join(case[0]) for case in CASES])
def test_cli_refuses_bad_input_with_one_line_and_exit_2(bad_input_files, overrides, expected):
    overrides, environment = split_case(overrides, bad_input_files)
    runs = bad_input_files / "runs"
    process, seconds = normsuite([*FAST, f"paths.runs={runs}", *overrides],
                                 {"HOME": str(bad_input_files), **environment}, bad_input_files)
    print(f"refused in {seconds:.1f} s: {' '.join(overrides)}")
    assert process.returncode == 2, process.stderr[-2000:]
    assert process.stderr.startswith("normsuite: error: ") and process.stderr.count("\n") == 1, process.stderr
    assert expected.replace("{tmp}", str(bad_input_files)) in process.stderr
    assert not runs.exists() and not (bad_input_files / "wandb").exists()


@pytest.mark.slow
def test_a_diverging_run_exits_3_with_status_diverged(tmp_path):
    process, _ = normsuite([*FAST, f"paths.runs={tmp_path}", "run_id=diverging", "task.optim.lr=1e8",
                            "trainer.limit_train_batches=5"], {}, tmp_path)
    assert process.returncode == 3, process.stderr[-2000:]
    assert process.stderr.strip().splitlines()[-1].startswith("normsuite: diverged: train/loss became nan")
    assert read_metrics(tmp_path / "cls" / "bn" / "diverging" / "metrics.json")["status"] == "diverged"
