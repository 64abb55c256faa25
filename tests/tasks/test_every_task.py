"""Every registered task x every registered norm, generated from the registries (suite's TASKS, norms'):
a new task or norm is tested here with no edit to this file.

Fast tier: a tiny run of each pair (2 epochs of 4 batches on the real digits) finishes, writes its
metrics.json with a finite main metric, and every training step it took returned a finite loss (per-step
losses recorded by a callback, independent of the task's logging). Learning tier (``make test-learning``): a short
real run of each pair learns: test accuracy beats chance by `MARGIN`, or the training loss falls by `LOSS_DROP`,
whichever the pair can show; pairs without normalization are expected failures (measured below).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl

import norms
import suite.engine
from suite.data import build_splits
from suite.run import run
from suite.study.runner import changed_settings
from suite.task import TASKS

MARGIN = 0.2      # learning tier: test/acc >= chance + MARGIN ...
LOSS_DROP = 0.3   # ... or the training loss falls by this fraction (first fifth of the steps to the last)

TINY = ["trainer.max_epochs=2", "trainer.limit_train_batches=4", "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=2"]
# Optional per-task shrinking on top of TINY / SHORT (a task not listed runs with those alone).
TINY_TASK = {
    "cls": ["model.name=resnet10t", "data.batch_size=16"],
    "nas": ["task.search_epochs=1", "model.search.num_cells=3", "model.search.width=4", "model.retrain.num_cells=3",
            "model.retrain.width=8", "data.batch_size=16"],
    "adv": ["task.train_steps=2", "task.eval_pgd_steps=[2]", "task.main_metric=test/robust_acc_pgd2",
            "task.val_pgd_steps=2", "data.batch_size=16"],
    "fsl": ["task.val_episodes=2", "task.test_episodes=4"],
    "uda": ["data.batch_size=16"],
}
SHORT = ["trainer.max_epochs=5"]
SHORT_TASK = {
    "cls": ["model.name=resnet10t", "trainer.max_epochs=3"],   # in: 0.175 test accuracy after 2 epochs, 0.532 after 3
    "nas": ["task.search_epochs=1", "trainer.limit_train_batches=0.5"],
    "adv": ["task.train_steps=3", "task.step_size=0.04", "task.eval_pgd_steps=[5]",
            "task.main_metric=test/robust_acc_pgd5", "task.val_pgd_steps=5", "task.epsilon_warmup_epochs=3"],
    "fsl": ["trainer.max_epochs=1", "task.train_episodes=30", "task.val_episodes=2", "task.test_episodes=50"],
}
# Measured: nas's DARTS search with evonorm_s0 at its default eps (1e-5, timm's) diverges at step 2 (exit 3, "raise
# the norm's eps"); with 1e-3 it trains (0.379 test accuracy).
SHORT_PAIR = {("nas", "evonorm_s0"): ["norm.eps=1e-3"]}
PAIRS = [(task, norm) for task in TASKS.names() for norm in norms.available()]
IDS = [f"{task}-{norm}" for task, norm in PAIRS]
# Measured: with no normalization adv, nas and uda did not train at their default learning rates in the short
# run (test/acc 0.15 / 0.11 / 0.16, training loss down 0.3-1.2 %), while cls and fsl did; cls failed once on
# earlier code. Fragile either way, so every `none` pair is an expected failure (not strict).
UNNORMALIZED = "none"
LEARNING_PAIRS = [pytest.param(task, norm, id=f"{task}-{norm}", marks=pytest.mark.xfail(
    strict=False, reason="no normalization: may not train at the default learning rate in a short run"))
    if norm == UNNORMALIZED else pytest.param(task, norm, id=f"{task}-{norm}") for task, norm in PAIRS]


class StepLosses(pl.Callback):
    """The loss each training step returned."""

    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self.losses.append(float(loss))


@pytest.fixture
def step_losses(monkeypatch):
    """Every trainer a run builds gets a `StepLosses`; the list holds them in build order."""
    recorders = []
    build_trainer = suite.engine.build_trainer

    def recording(*args, **kwargs):
        trainer = build_trainer(*args, **kwargs)
        recorders.append(StepLosses())
        trainer.callbacks.append(recorders[-1])
        return trainer

    monkeypatch.setattr(suite.engine, "build_trainer", recording)  # RunSession imports it at each call
    return recorders


def chance(cfg) -> float:
    """Accuracy of guessing: 1 / ways for episodic tasks, else 1 / the data's classes."""
    if "test_ways" in cfg.task:
        return 1.0 / cfg.task.test_ways
    return 1.0 / build_splits(cfg.data).num_classes


@pytest.mark.parametrize(("task", "norm"), PAIRS, ids=IDS)
def test_tiny_run_finishes_with_finite_losses_and_writes_metrics(make_config, step_losses, task, norm):
    overrides = [f"task={task}", f"norm={norm}", *TINY, *TINY_TASK.get(task, []), "run_id=tiny"]
    cfg = make_config(*overrides)
    metrics = run(cfg)
    written = json.loads((Path(cfg.paths.runs) / task / norm / "tiny" / "metrics.json").read_text())
    assert written["status"] == "finished" and (written["task"], written["norm"]) == (task, norm)
    # The recorded config is the composed one (a study compares them to find cells run with other settings).
    assert changed_settings(written["config"], make_config(*overrides), []) == []
    main = cfg.task.main_metric
    assert math.isfinite(written["metrics"][main]) and written["metrics"][main] == pytest.approx(metrics[main])
    losses = [loss for recorder in step_losses for loss in recorder.losses]
    assert len(step_losses[-1].losses) == 2 * 4 and all(math.isfinite(loss) for loss in losses)


def loss_drop(losses: list[float]) -> float:
    """1 - (mean loss of the last fifth of the steps) / (mean loss of the first fifth)."""
    fifth = max(1, len(losses) // 5)
    return 1.0 - (sum(losses[-fifth:]) / fifth) / (sum(losses[:fifth]) / fifth)


@pytest.mark.learning
@pytest.mark.parametrize(("task", "norm"), LEARNING_PAIRS)
def test_short_real_run_learns(make_config, step_losses, task, norm):
    """Accuracy beats chance by `MARGIN`, or the training loss of the run's last phase falls by `LOSS_DROP`."""
    cfg = make_config(f"task={task}", f"norm={norm}", *SHORT, *SHORT_TASK.get(task, []),
                      *SHORT_PAIR.get((task, norm), []))
    accuracy = run(cfg)["test/acc"]
    drop = loss_drop(step_losses[-1].losses)
    assert accuracy >= chance(cfg) + MARGIN or drop >= LOSS_DROP, \
        f"test/acc {accuracy:.3f} (chance {chance(cfg):.3f}), training loss fell by {drop:.0%}"
