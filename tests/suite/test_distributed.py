"""Data-parallel runs: config checks, ranks and run ids from the environment, and a real 2-process DDP run."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from suite.config import validate
from suite.distributed import RUN_ID_VARIABLE, evaluation_sampler, global_rank, processes_share, shared_run_id
from suite.errors import UserError

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
