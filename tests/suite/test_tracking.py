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
