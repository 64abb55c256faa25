"""Task cls end to end on digits: every norm trains, learning shows, W&B offline, resume."""
import json
from pathlib import Path

import pytest
import torch

import norms
from suite.models import build_timm_model
from suite.run import run

TINY = ["trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
        "data.batch_size=8", "model.name=resnet10t"]


@pytest.mark.parametrize("norm", norms.available())
def test_every_norm_trains_and_writes_metrics_json(make_config, norm):
    cfg = make_config("task=cls", f"norm={norm}", *TINY, "run_id=tiny")
    metrics = run(cfg)
    written = json.loads((Path(cfg.paths.runs) / "cls" / norm / "tiny" / "metrics.json").read_text())
    assert written["status"] == "finished" and written["norm"] == norm
    for key in ("train/loss", "val/acc", "test/acc"):
        assert key in metrics and written["metrics"][key] == pytest.approx(metrics[key])
    assert all(value == value for value in metrics.values())  # no NaN


@pytest.mark.parametrize("model_name", ["resnet10t", "efficientnet_b0", "mobilenetv3_small_050"])
def test_no_original_norm_survives_in_timm_models(make_config, model_name):
    cfg = make_config("norm=gn", "norm.num_groups=8", f"model.name={model_name}")
    model = build_timm_model(cfg.model, cfg.norm, in_chans=1, num_classes=10)
    kinds = {type(module).__name__ for module in model.modules()}
    assert not any("BatchNorm" in kind for kind in kinds), kinds
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 10)


def test_classification_learns_well_above_chance(make_config):
    cfg = make_config("norm=bn", "model.name=resnet10t", "trainer.max_epochs=2")
    metrics = run(cfg)
    assert metrics["test/acc"] > 0.6  # chance is 0.1


def test_resume_continues_from_the_last_checkpoint(make_config, tmp_path):
    run(make_config(*TINY, "trainer.checkpoint=true", "run_id=final"))
    final = torch.load(tmp_path / "runs" / "cls" / "bn" / "final" / "checkpoints" / "fit" / "last.ckpt", weights_only=True)
    assert "state_dict" in final and "optimizer_states" not in final  # a finished run keeps its weights only
    first = make_config(*TINY, "trainer.checkpoint=true", "trainer.keep_checkpoints=true", "run_id=first")
    run(first)
    checkpoint = tmp_path / "runs" / "cls" / "bn" / "first" / "checkpoints" / "fit" / "last.ckpt"
    assert checkpoint.is_file()
    assert torch.load(checkpoint, weights_only=True)["global_step"] == 2
    second = make_config(*TINY, "trainer.checkpoint=true", "trainer.max_epochs=2", f"resume={checkpoint}", "run_id=second")
    run(second)
    resumed = tmp_path / "runs" / "cls" / "bn" / "second" / "checkpoints" / "fit" / "last.ckpt"
    assert torch.load(resumed, weights_only=True)["global_step"] == 4


def test_wandb_offline_run_lands_under_save_dir(make_config, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = make_config(*TINY, "logger.mode=offline", f"logger.save_dir={tmp_path}", "run_id=wb")
    run(cfg)
    offline_runs = list((tmp_path / "wandb").glob("offline-run-*-wb"))
    assert len(offline_runs) == 1 and list(offline_runs[0].glob("*.wandb"))


@pytest.mark.parametrize(("model_name", "converts"), [("resnet10t", False), ("efficientnet_b0", True)])
def test_convert_runs_only_where_timm_left_norms(make_config, monkeypatch, model_name, converts):
    calls = []
    convert = norms.convert
    monkeypatch.setattr(norms, "convert", lambda *args, **kw: calls.append(args[1]) or convert(*args, **kw))
    cfg = make_config("norm=bgn", "norm.num_groups=8", f"model.name={model_name}")
    model = build_timm_model(cfg.model, cfg.norm, in_chans=1, num_classes=10)
    assert calls == (["bgn"] if converts else [])
    layers = [module for module in model.modules() if norms.is_norm_layer(module)]
    assert layers and all(isinstance(layer, norms.BatchGroupNorm) for layer in layers)
