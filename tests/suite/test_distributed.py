"""Data-parallel runs: config checks, ranks and run ids from the environment, and real 2-process DDP runs
(slow tier): tested over the whole split, killed and resumed, stopped by SIGTERM."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from suite import history
from suite.config import validate
from suite.distributed import (BY_RANK, RUN_ID_VARIABLE, evaluation_sampler, global_rank, own_state, processes_share,
                               shared_run_id)
from suite.errors import UserError
from suite.results import read_metrics
from suite.resume import LAST
from tests.suite.test_resume import DETERMINISTIC, trained

LAUNCH_ENVIRONMENT = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_JOB_ID",
                      RUN_ID_VARIABLE)


@pytest.fixture
def clean_environment(monkeypatch):
    for name in LAUNCH_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("overrides, message", [
    (["trainer.devices=2"], "add trainer.strategy=ddp"),
    (["trainer.strategy=fsdp"], "trainer.strategy=fsdp is not supported"),
    (["trainer.strategy=ddp", "trainer.devices=0"], "trainer.devices must be a positive integer"),
    (["trainer.strategy=ddp", "trainer.num_nodes=2"], "set run_id=NAME"),
    (["trainer.sync_norms=yes"], "trainer.sync_norms must be true or false"),
    (["task=nas", "trainer.strategy=ddp", "trainer.devices=2"], "task=nas runs in one process"),
])
def test_bad_data_parallel_settings_are_one_line_errors(make_config, overrides, message):
    with pytest.raises(UserError, match=message) as error:
        validate(make_config(*overrides))
    assert "\n" not in str(error.value)


def test_rank_and_run_id_come_from_the_launchers_environment(make_config, clean_environment):
    trainer = make_config("trainer.strategy=ddp", "trainer.devices=4", "trainer.num_nodes=2", "run_id=x").trainer
    assert global_rank(trainer) == 0 and shared_run_id(trainer) is None
    clean_environment.setenv("NODE_RANK", "1")
    clean_environment.setenv("LOCAL_RANK", "2")  # Lightning's re-launched process 2 on the second node
    assert global_rank(trainer) == 6
    clean_environment.setenv("SLURM_NTASKS", "8")
    clean_environment.setenv("SLURM_PROCID", "5")
    clean_environment.setenv("SLURM_JOB_ID", "123")
    assert global_rank(trainer) == 5 and shared_run_id(trainer) == "slurm-123-0"
    clean_environment.setenv(RUN_ID_VARIABLE, "chosen-by-rank-0")
    assert shared_run_id(trainer) == "chosen-by-rank-0"


def test_processes_share_sets_the_run_id_only_for_the_run(make_config, clean_environment):
    ddp = make_config("trainer.strategy=ddp", "trainer.devices=2").trainer
    with processes_share("abc", ddp):
        assert os.environ[RUN_ID_VARIABLE] == "abc"
        os.environ["LOCAL_RANK"] = "0"  # what Lightning's launcher leaves behind
    assert RUN_ID_VARIABLE not in os.environ and "LOCAL_RANK" not in os.environ
    with processes_share("abc", make_config().trainer):
        assert RUN_ID_VARIABLE not in os.environ  # one process: nothing to share


def test_one_process_evaluates_sequentially():
    assert evaluation_sampler(list(range(5))) is None


def _evaluate_in_one_process(run_dir: Path) -> float:
    """Test accuracy of the saved last.ckpt over the whole test split, without Lightning or DDP."""
    cfg = OmegaConf.load(run_dir / "config.yaml")
    task = validate(cfg)
    datamodule = task.datamodule(cfg)
    module = task.module(cfg, datamodule)
    checkpoint = torch.load(run_dir / "checkpoints" / "fit" / "last.ckpt", weights_only=False)
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in DataLoader(datamodule.splits.test, batch_size=64):
            correct += (module(images).argmax(1) == labels).sum().item()
            total += len(labels)
    assert total == len(datamodule.splits.test)
    return correct / total


@pytest.mark.slow
@pytest.mark.parametrize("sync_norms", [False, True])
def test_two_process_ddp_run_tests_the_whole_split_like_one_process(tmp_path, sync_norms):
    command = [sys.executable, "-m", "suite", "task=cls", "norm=bgn", "trainer.accelerator=cpu",
               "trainer.devices=2", "trainer.strategy=ddp", f"trainer.sync_norms={str(sync_norms).lower()}",
               "model.name=resnet10t", "trainer.max_epochs=3", "trainer.enable_progress_bar=false",
               "trainer.keep_checkpoints=true",  # the finished checkpoint keeps the optimizer (its learning rate)
               "logger.mode=offline", f"logger.save_dir={tmp_path}", f"paths.runs={tmp_path / 'runs'}"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    environment.pop(RUN_ID_VARIABLE, None)
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    run_dirs = list((tmp_path / "runs" / "cls" / "bgn").iterdir())
    assert len(run_dirs) == 1  # one run id and directory for both processes
    record = json.loads((run_dirs[0] / "metrics.json").read_text())
    assert record["world_size"] == 2 and record["batch_size"] == 32 and record["global_batch_size"] == 64
    accuracy = record["metrics"]["test/acc"]
    assert accuracy > 0.3  # learned: chance is 0.1
    assert accuracy == pytest.approx(_evaluate_in_one_process(run_dirs[0]), abs=1e-6)
    checkpoint = torch.load(run_dirs[0] / "checkpoints" / "fit" / "last.ckpt", weights_only=False)
    assert checkpoint["optimizer_states"][0]["param_groups"][0]["initial_lr"] == pytest.approx(0.05 * 64 / 32)
    assert len(list((tmp_path / "wandb").glob(f"offline-run-*-{run_dirs[0].name}"))) == 1  # one W&B run


# A short deterministic 2-process run; an epoch is 6 batches per process, so step 8 lies inside the second
# epoch, where the distributed sampler's order depends on its epoch.
DDP_RUN = [*DETERMINISTIC, "task=cls", "model.name=resnet10t", "trainer.devices=2", "trainer.strategy=ddp",
           "trainer.max_epochs=3", "trainer.limit_train_batches=6"]
INSIDE_SECOND_EPOCH = 8


def ddp_run(runs: Path, run_id: str, *arguments: str) -> subprocess.Popen:
    """``python -m suite`` with 2 gloo processes, in a process group of its own (Lightning starts rank 1)."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    environment.pop(RUN_ID_VARIABLE, None)
    return subprocess.Popen([sys.executable, "-m", "suite", *DDP_RUN, f"paths.runs={runs}", f"run_id={run_id}",
                             *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=environment, start_new_session=True)


def finished(process: subprocess.Popen) -> str:
    """Wait for `process` to succeed; its stderr."""
    _, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr[-3000:]
    return stderr


def checkpoint_at(path: Path, process: subprocess.Popen, step: int) -> None:
    """Wait until `process`'s checkpoint at `path` holds `step` optimizer steps or more (read each time the
    file is replaced)."""
    read = None
    while True:
        replaced = path.stat().st_mtime_ns if path.is_file() else None
        if replaced not in (None, read):
            read = replaced
            if torch.load(path, weights_only=True, map_location="cpu")["global_step"] >= step:
                return
        assert process.poll() is None, process.stderr.read()[-3000:]
        time.sleep(0.02)


def group_ended(process: subprocess.Popen, within_s: float = 60) -> bool:
    """Whether every process of `process`'s group (rank 0 and the rank 1 it started) has exited."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def loader_positions(checkpoint: Path) -> list[dict]:
    """The training loader's saved position of each process (rank order)."""
    (loader,) = torch.load(checkpoint, weights_only=True)["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    return loader[BY_RANK]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    """metrics.json of the DDP_RUN that nothing stopped."""
    runs = tmp_path_factory.mktemp("ddp-whole")
    finished(ddp_run(runs, "whole", "trainer.checkpoint_every_min=0.002"))
    return read_metrics(runs / "cls" / "bn" / "whole" / "metrics.json")


@pytest.mark.slow
def test_a_ddp_run_killed_inside_an_epoch_resumes_to_the_same_metrics(tmp_path, uninterrupted):
    # Checkpoints at every batch: the kill lands after a mid-epoch one, in the second epoch.
    run_dir = tmp_path / "cls" / "bn" / "killed"
    killed = ddp_run(tmp_path, "killed", "trainer.checkpoint_every_min=0.002")
    checkpoint_at(run_dir / "checkpoints" / "fit" / LAST, killed, INSIDE_SECOND_EPOCH)
    os.killpg(killed.pid, signal.SIGKILL)  # both processes, as a node failure would
    assert killed.wait() == -signal.SIGKILL and group_ended(killed)
    positions = loader_positions(run_dir / "checkpoints" / "fit" / LAST)
    assert len(positions) == 2 and all(position["mid_epoch"] for position in positions)
    print(f"killed after {positions[0]['skip']} batches of the second epoch")

    assert "Restored all states from the checkpoint" in finished(ddp_run(tmp_path, "killed",
                                                                        "trainer.checkpoint_every_min=0.002"))
    resumed = read_metrics(run_dir / "metrics.json")
    assert resumed["status"] == "finished" and resumed["world_size"] == 2
    assert [entry["status"] for entry in resumed["interruptions"]] == ["killed"]
    assert trained(resumed["metrics"]) == trained(uninterrupted["metrics"])
    assert uninterrupted["metrics"]["test/acc"] > 0.2  # learned: chance is 0.1


@pytest.mark.slow
def test_sigterm_to_a_ddp_run_checkpoints_once_and_every_process_stops(tmp_path, uninterrupted):
    # Checkpoints at every batch say where the run is. Once one lies inside the second epoch, both processes
    # are frozen, the signal is sent, and they go on: it lands there however fast the machine is (a fixed
    # sleep after the first epoch's end let a fast machine finish the second epoch first).
    run_dir = tmp_path / "cls" / "bn" / "termed"
    checkpoint = run_dir / "checkpoints" / "fit" / LAST
    termed = ddp_run(tmp_path, "termed", "trainer.checkpoint_every_min=0.002")
    checkpoint_at(checkpoint, termed, INSIDE_SECOND_EPOCH - 1)
    os.killpg(termed.pid, signal.SIGSTOP)
    termed.send_signal(signal.SIGTERM)  # the launching process (rank 0) only, as `kill PID` does
    os.killpg(termed.pid, signal.SIGCONT)
    _, stderr = termed.communicate(timeout=300)
    assert termed.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert group_ended(termed), "rank 1 did not exit"
    assert stderr.count("normsuite: interrupted: stopped by SIGTERM") == 2  # each process's one line
    assert read_metrics(run_dir / "metrics.json")["status"] == "interrupted"
    # one checkpoint beside the epoch history (suite.history), no temporary left
    assert sorted(path.name for path in checkpoint.parent.iterdir()) == sorted([LAST, history.FILE])
    positions = loader_positions(checkpoint)
    # Both processes stopped at the same batch of the second epoch (the one checkpoint), each its own state.
    assert len(positions) == 2 and positions[0]["mid_epoch"] and positions[0]["skip"] == positions[1]["skip"] > 0

    assert "Restored all states from the checkpoint" in finished(ddp_run(tmp_path, "termed",
                                                                        "trainer.checkpoint_every_min=0.002"))
    resumed = read_metrics(run_dir / "metrics.json")
    assert [entry["status"] for entry in resumed["interruptions"]] == ["interrupted"]
    assert trained(resumed["metrics"]) == trained(uninterrupted["metrics"])


def test_a_process_continues_from_its_own_saved_state():
    saved = {BY_RANK: [{"skip": 3}, {"skip": 3, "rank": 1}]}
    assert own_state({"skip": 3}) == {"skip": 3}  # written by one process
    with pytest.raises(UserError, match="written by 2 processes and this run has 1"):
        own_state(saved)


def test_continuing_with_another_number_of_processes_is_refused(make_config, tmp_path):
    from suite.run import run

    run(make_config("task=cls", "model.name=resnet10t", "trainer.checkpoint=true", "trainer.limit_train_batches=2",
                    "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "run_id=one"))
    record = tmp_path / "runs" / "cls" / "bn" / "one" / "metrics.json"
    record.write_text(record.read_text().replace('"status": "finished"', '"status": "running"'))
    with pytest.raises(UserError, match="ran with 1 DDP process.*would continue with 2"):
        validate(make_config("trainer.strategy=ddp", "trainer.devices=2", "run_id=one"))
