import os
import subprocess
import sys

import pytest

from suite.config import validate
from suite.errors import UserError
from suite.results import read_metrics
from suite.session import RunSession


def test_a_crash_still_writes_the_metrics_recorded_so_far(make_config):
    cfg = make_config("run_id=crash")
    with pytest.raises(RuntimeError, match="boom"):
        with RunSession(cfg) as session:
            session.record({"search/acc": 0.75})
            raise RuntimeError("boom")
    written = read_metrics(session.run_dir / "metrics.json")
    assert written["status"] == "failed" and written["error"] == "RuntimeError: boom"
    recorded = {key: value for key, value in written["metrics"].items() if not key.startswith("memory/")}
    assert recorded == {"search/acc": 0.75} and written["peak_memory_source"] == "cpu_rss_sampled"
    assert written["config"]["run_id"] == "crash" and written["main_metric"] == "test/acc"
    assert (session.run_dir / "config.yaml").is_file()
    assert session.run_dir.parts[-3:] == ("cls", "bn", "crash")


def test_a_second_process_on_a_running_run_id_is_refused_and_a_dead_ones_lock_taken_over(make_config):
    cfg = make_config("run_id=busy")
    with RunSession(cfg) as session:
        holder = subprocess.run([sys.executable, "-c", LOCK_ONCE, str(session.run_dir)], capture_output=True, text=True)
        assert f"run_id=busy is in use by process {os.getpid()}" in holder.stdout
    # The child took the lock and died without releasing it: the kernel dropped it, this run takes it.
    subprocess.run([sys.executable, "-c", LOCK_AND_DIE, str(session.run_dir)], check=False)
    with RunSession(make_config("run_id=busy")):
        pass


def test_reusing_a_finished_run_id_is_refused_before_anything_runs(make_config):
    with RunSession(make_config("run_id=done")):
        pass
    with pytest.raises(UserError, match="run_id=done is a finished run .*: choose a fresh run_id"):
        validate(make_config("run_id=done"))


def test_a_corrupt_metrics_json_is_reported_with_its_path(make_config):
    with RunSession(make_config("run_id=torn")) as session:
        pass
    (session.run_dir / "metrics.json").write_text('{"status": "fini')
    with pytest.raises(UserError, match=f"{session.run_dir / 'metrics.json'} is corrupt"):
        validate(make_config("run_id=torn"))


LOCK_ONCE = """
import sys
from suite.errors import UserError
from suite.locks import DirectoryLock
try:
    DirectoryLock(sys.argv[1], "run_id=busy", "wait").__enter__()
except UserError as error:
    print(error)
"""
LOCK_AND_DIE = """
import os, sys
from suite.locks import DirectoryLock
DirectoryLock(sys.argv[1], "run_id=busy", "wait").__enter__()
os._exit(9)
"""
