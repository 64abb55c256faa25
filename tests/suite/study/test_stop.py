"""Stopping a study: its sweep's whole process group stops (politely, then by force), a second driver on
the same study is refused; slow tier: a real driver stopped with SIGTERM, then resumed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from suite.locks import DirectoryLock
from suite.results import read_metrics
from suite.study.__main__ import main as study_main
from suite.study.grid import expand_grid
from suite.study.profile import load_profile
from suite.study.stop import members, stop_sweep

# A "sweep" whose child writes a file when SIGTERM asks it to stop (as a cell writes its checkpoint), and
# whose other child ignores SIGTERM (it must be killed).
SWEEP = """
import signal, subprocess, sys, time
polite = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: (open(sys.argv[1], 'w').write('stopped'), sys.exit(0))); time.sleep(60)"
stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
children = [subprocess.Popen([sys.executable, "-c", polite, sys.argv[1]]), subprocess.Popen([sys.executable, "-c", stubborn])]
print(" ".join(str(child.pid) for child in children), flush=True)
time.sleep(60)
"""


def test_stopping_a_sweep_stops_its_whole_process_group(tmp_path):
    marker = tmp_path / "stopped"
    sweep = subprocess.Popen([sys.executable, "-c", SWEEP, str(marker)], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    children = [int(pid) for pid in sweep.stdout.readline().split()]
    time.sleep(1.0)  # the children have installed their handlers
    assert set(children) <= set(members(sweep.pid))
    started = time.monotonic()
    stop_sweep(sweep, grace_s=3.0)
    assert members(sweep.pid) == []
    assert marker.read_text() == "stopped"  # the polite child stopped on SIGTERM
    assert time.monotonic() - started < 10  # the stubborn one was killed after the grace period


def test_a_second_driver_on_the_same_study_is_refused(tmp_path, capsys):
    profile = ["profile=quick", f"reports_dir={tmp_path}", "results_dir=null", "logger_mode=disabled"]
    study_dir = tmp_path / load_profile("quick").study_id
    with DirectoryLock(study_dir, "the first driver", "wait"):
        assert study_main(profile) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("normsuite study: error: study quick") and f"in use by process {os.getpid()}" in error
    assert "\n" not in error and not (study_dir / "cells").exists()


TINY = "task_overrides.cls=['trainer.max_epochs=4','trainer.limit_train_batches=6','trainer.limit_val_batches=1'," \
       "'trainer.limit_test_batches=1','model.name=resnet10t','trainer.checkpoint_every_min=0.002']"


@pytest.mark.slow
def test_a_study_stopped_with_sigterm_stops_its_cells_reports_and_resumes(tmp_path):
    arguments = ["profile=quick", f"reports_dir={tmp_path}", "results_dir=null", "logger_mode=disabled",
                 "norms=[bn]", "batch_sizes=[8]", "seeds=[0]", "n_jobs=1", TINY]
    (cell,) = expand_grid(load_profile("quick", arguments[1:]))
    record = cell.metrics_path(tmp_path / "quick" / "cells")
    command = [sys.executable, "-m", "suite.study", *arguments]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = record.parent / "checkpoints" / "fit" / "last.ckpt"
    while not checkpoint.is_file():  # the cell is training
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.2)
    driver.send_signal(signal.SIGTERM)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 128 + signal.SIGTERM, err
    assert "normsuite study: interrupted: stopped by SIGTERM" in err
    assert read_metrics(record)["status"] == "interrupted"  # the cell checkpointed and said so
    assert (tmp_path / "quick" / "cells.csv").is_file() and (tmp_path / "quick" / "summary.md").is_file()
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert left == [], "processes of the stopped study are still running"

    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    resumed = read_metrics(record)
    assert resumed["status"] == "finished"
    assert [entry["status"] for entry in resumed["interruptions"]] == ["interrupted"]
