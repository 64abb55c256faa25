"""Task `nas`: tiny DARTS searches on the built-in digits through the real configs, and its bad-input errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import norms
from suite.config import compose_config, validate
from suite.errors import UserError
from suite.run import run
from tasks.search.architecture import check_architecture, save_architecture

# NNI's hub DARTS "darts-v2" cells, shared with tests/tasks/search/test_architecture.py.
DARTS_V2 = json.loads((Path(__file__).parent / "search" / "darts_v2.json").read_text())

TINY = [
    "task=nas", "data.image_size=16", "model.input_pool=4", "model.search.width=2", "model.search.num_cells=3",
    "model.retrain.width=4", "model.retrain.num_cells=3", "task.search_epochs=1", "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "data.batch_size=16",
]


def run_dir(cfg) -> Path:
    (directory,) = (Path(cfg.paths.runs) / "nas" / cfg.norm.name).iterdir()
    return directory


def test_search_exports_the_strongest_ops_and_retrains(make_config):
    cfg = make_config(*TINY, "norm=gn", "norm.num_groups=2", "task.group_rule=strict")
    metrics = run(cfg)
    assert {"search/train_loss", "search/val_acc", "train/loss", "val/acc", "test/acc"} <= set(metrics)
    directory = run_dir(cfg)
    architecture = json.loads((directory / "architecture.json").read_text())
    check_architecture(architecture, num_nodes=4)
    weights = json.loads((directory / "architecture_weights.json").read_text())
    # Every exported op is the strongest op of its edge (DARTS keeps the argmax op of the best edges).
    for label, operation in architecture.items():
        if "/op_" in label:
            cell, node = label.split("/")[0], label.split("_")[1]
            (source,) = architecture[label.replace("/op_", "/input_")]
            edge = weights[f"{cell}/{node}_{source}"]
            assert operation == max(edge, key=edge.get)
    results = json.loads((directory / "metrics.json").read_text())
    assert results["status"] == "finished"
    assert set(results["artifacts"]) == {"architecture", "architecture_weights", "cells"}
    assert (directory / "cells.png").stat().st_size > 10_000


def test_retrain_false_stops_after_search(make_config):
    cfg = make_config(*TINY, "norm=bn", "task.retrain=false")
    metrics = run(cfg)
    assert "search/val_loss" in metrics and "test/acc" not in metrics
    assert (run_dir(cfg) / "architecture.json").is_file()


@pytest.mark.parametrize("norm", norms.available())
def test_given_architecture_retrains_with_every_norm(make_config, tmp_path, norm):
    path = save_architecture(DARTS_V2, tmp_path / "darts_v2.json")
    cfg = make_config(*TINY, f"norm={norm}", f"task.arch={path}")
    metrics = run(cfg)
    assert "test/acc" in metrics and not any(key.startswith("search/") for key in metrics)
    assert json.loads((run_dir(cfg) / "architecture.json").read_text()) == DARTS_V2


@pytest.mark.parametrize("overrides,message", [
    (["norm=gn", "norm.num_groups=3", "model.search.width=4", "task.group_rule=strict"],
     "norm.num_groups=3 does not divide the 4 channels of a norm in the search network"),
    (["norm=bgn", "norm.num_groups=8", "task.group_rule=strict"], r"model.search.width=2 gives norms of 2 channels, fewer than norm.num_groups=8"),
    (["task.group_rule=loose"], "task.group_rule must be one of"),
    (["norm=gn", "norm.channels_per_group=3", "model.search.width=4", "task.group_rule=strict"],
     "norm.channels_per_group=3 does not divide the 4 channels of a norm in the search network"),
    (["model.operations=[sep_conv_3x3,conv_9x9]"], r"model.operations has \['conv_9x9'\]"),
    (["model.search.num_cells=2"], "DARTS needs at least 3"),
    (["model.retrain.auxiliary=true"], "the auxiliary head needs 8x8 features"),
    (["task.arch=/nonexistent/architecture.json"], "is not a file"),
])
def test_bad_input_is_a_clear_error_before_training(make_config, overrides, message):
    cfg = make_config(*TINY, *overrides)
    with pytest.raises(UserError, match=message):
        validate(cfg)


def test_architecture_file_that_does_not_fit_is_rejected(make_config, tmp_path):
    path = save_architecture({**DARTS_V2, "normal/op_2_0": "conv_9x9"}, tmp_path / "bad.json")
    with pytest.raises(UserError, match=r"does not fit the space .*normal/op_2_0='conv_9x9'"):
        validate(make_config(*TINY, f"task.arch={path}"))
    five_nodes = make_config(*TINY, f"task.arch={save_architecture(DARTS_V2, tmp_path / 'v2.json')}",
                             "model.num_nodes=5")
    with pytest.raises(UserError, match="missing"):
        validate(five_nodes)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(UserError, match="does not fit the space"):
        validate(make_config(*TINY, f"task.arch={tmp_path / 'broken.json'}"))


def test_cifar10_preset_has_the_paper_settings():
    cfg = compose_config(["task=nas", "experiment=nas_cifar10", "norm=bn", "logger.mode=disabled"])
    validate(cfg)
    assert (cfg.model.search.num_cells, cfg.model.search.width, cfg.task.search_epochs) == (8, 16, 50)
    assert (cfg.model.retrain.num_cells, cfg.model.retrain.width, cfg.task.retrain_epochs) == (20, 36, 600)
    assert cfg.task.search_batch_size == 64 and cfg.task.cutout_length == 16 and cfg.task.drop_path_prob == 0.2
    assert cfg.model.retrain.auxiliary and cfg.data.name == "cifar10"
