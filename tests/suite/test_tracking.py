import logging

import pytest

from suite.errors import UserError
from suite.tracking import resolve_mode, run_tags


def test_auto_is_offline_without_an_api_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert resolve_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_mode("auto") == "online"
    assert resolve_mode("disabled") == "disabled"
    with pytest.raises(UserError):
        resolve_mode("loud")


def test_tags_name_norm_groups_and_batch_size(make_config):
    tags = run_tags(make_config("norm=bgn", "norm.num_groups=4", "data.batch_size=8"))
    assert {"task:cls", "norm:bgn", "groups:4", "batch:8", "data:digits"} <= set(tags)


def test_channels_per_group_wins_over_num_groups_in_the_tags(make_config):
    tags = run_tags(make_config("norm=gn", "norm.num_groups=4", "norm.channels_per_group=8"))
    assert "channels_per_group:8" in tags and not any(tag.startswith("groups:") for tag in tags)


def test_a_task_names_its_own_batch_axis(make_config):
    from suite.tracking import batch_size

    assert batch_size(make_config("data.batch_size=8")) == 8
    assert batch_size(make_config("task=fsl", "task.query_shots=3", "data.batch_size=8")) == 3


def test_a_wandb_failure_falls_back_to_offline_instead_of_stopping_the_run(make_config, tmp_path, monkeypatch):
    from suite import tracking

    real = tracking._wandb_logger
    modes = []

    def flaky(cfg, run_id, run_dir, mode):
        modes.append(mode)
        if mode == "online":
            raise ConnectionError("api.wandb.ai unreachable")
        return real(cfg, run_id, run_dir, mode)

    monkeypatch.setattr(tracking, "_wandb_logger", flaky)
    cfg = make_config("logger.mode=online", f"logger.save_dir={tmp_path}")
    logger = tracking.build_wandb_logger(cfg, "fallback", tmp_path)
    try:
        assert modes == ["online", "offline"]
        assert logger.experiment.settings.mode == "offline"
    finally:
        import wandb

        wandb.finish()


@pytest.mark.parametrize("failing", ["log", "finish"])
def test_a_wandb_failure_during_the_run_is_one_warning_and_the_run_finishes(make_config, tmp_path, monkeypatch,
                                                                            caplog, failing):
    """The real wandb (offline), whose Run.log (every metric Lightning logs) or Run.finish raises mid-run."""
    import wandb
    from wandb.sdk.wandb_run import Run

    from suite.results import read_metrics
    from suite.run import run

    calls = []

    def broken(self, *args, **kwargs):
        calls.append(failing)
        raise wandb.Error("wandb-core went away")

    monkeypatch.setattr(Run, failing, broken)
    cfg = make_config("logger.mode=offline", f"logger.save_dir={tmp_path}", "model.name=resnet10t",
                      "trainer.limit_train_batches=3", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
                      "run_id=flaky")
    try:
        with caplog.at_level(logging.WARNING, logger="suite.tracking"):
            metrics = run(cfg)
    finally:
        monkeypatch.undo()
        wandb.finish()
    record = read_metrics(tmp_path / "runs" / "cls" / "bn" / "flaky" / "metrics.json")
    assert calls and record["status"] == "finished"
    assert {"train/loss", "val/acc", "test/acc"} <= record["metrics"].keys() and record["metrics"] == metrics | {
        key: value for key, value in record["metrics"].items() if key.startswith("memory/")}
    warnings = [entry.getMessage() for entry in caplog.records if entry.name == "suite.tracking"]
    assert warnings == ["W&B (offline) failed during the run, logging to W&B is off for the rest of this run: "
                        "Error: wandb-core went away"]


def test_an_online_run_whose_wandb_fails_continues_in_a_fresh_offline_run(make_config, tmp_path, monkeypatch, caplog):
    """The switch an online run makes (an offline run stands in for it: no network in tests)."""
    import wandb
    from wandb.sdk.wandb_run import Run

    from suite.tracking import build_wandb_logger

    logged, log = [], Run.log

    def fails_once(self, data, *args, **kwargs):
        logged.append(dict(data))
        if len(logged) == 1:
            raise wandb.Error("connection reset")
        return log(self, data, *args, **kwargs)

    logger = build_wandb_logger(make_config("logger.mode=offline", f"logger.save_dir={tmp_path}"), "switch", tmp_path)
    try:
        logger.mode = "online"
        failed = logger.experiment
        monkeypatch.setattr(Run, "log", fails_once)
        with caplog.at_level(logging.WARNING, logger="suite.tracking"):
            logger.log_metrics({"train/loss": 1.0}, step=0)
            logger.log_metrics({"train/loss": 0.5}, step=1)
        assert [entry.getMessage() for entry in caplog.records if entry.name == "suite.tracking"] == [
            "W&B (online) failed during the run, logging offline instead: Error: connection reset"]
        assert logger.experiment is not failed and logger.experiment.settings.mode == "offline"
        assert logger.experiment.id == "switch" and not logger.off
        assert [entry["train/loss"] for entry in logged] == [1.0, 0.5]  # the second went to the new run
    finally:
        wandb.finish()


@pytest.mark.parametrize("setting", [["logger.mode=online"], ["WANDB_MODE=online"]])
def test_online_without_an_api_key_is_refused_before_the_task_loads_its_libraries(tmp_path, setting):
    """The refusal comes before `TASKS.get` imports the task (torchmetrics, torchvision, timm: seconds)."""
    import os
    import subprocess
    import sys

    overrides = [item for item in setting if "=" in item and not item.startswith("WANDB_")]
    environment = {key: value for key, value in os.environ.items() if key not in ("WANDB_API_KEY", "WANDB_MODE")}
    environment.update(HOME=str(tmp_path), NETRC=str(tmp_path / "netrc"), OMP_NUM_THREADS="1",
                       **dict(item.split("=") for item in setting if item.startswith("WANDB_")))
    probe = ("import sys; from suite.cli import main; code = main(['task=cls', *sys.argv[1:]]); "
             "print(code, sorted({'tasks.cls', 'torchmetrics', 'torchvision', 'timm'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe, f"paths.runs={tmp_path}", *overrides], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.stdout.split("\n")[0] == "2 []", result.stderr
    assert result.stderr.count("\n") == 1 and "needs a W&B API key" in result.stderr
