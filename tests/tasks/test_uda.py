import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from suite.errors import UserError
from suite.run import run
from suite.session import RunSession
from tasks.uda import DomainAdaptationTask

SHORT = ["task=uda", "data.image_size=16", "trainer.limit_train_batches=4", "trainer.limit_val_batches=1",
         "trainer.limit_test_batches=1", "data.eval_batch_size=64", "task.target.eval_batch_size=64"]


def _parameters(module):
    return {name: value.detach().clone() for name, value in module.named_parameters()}


def _changed(before, module):
    return all(not torch.equal(before[name], value) for name, value in module.named_parameters() if value.ndim >= 2)


HEADS = ("features", "classifier", "discriminator")


class RecordingTask(DomainAdaptationTask):
    """The real task, keeping the data and module it builds and a copy of its initial weights."""

    def datamodule(self, cfg):
        self.data = super().datamodule(cfg)
        return self.data

    def module(self, cfg, datamodule):
        self.built = super().module(cfg, datamodule)
        self.initial = {part: _parameters(getattr(self.built, part)) for part in HEADS}
        return self.built


@pytest.mark.parametrize("norm", ["bgn"])
def test_short_dann_run_trains_both_heads_and_reports_target_and_source_accuracy(make_config, norm):
    cfg = make_config(*SHORT, f"norm={norm}")
    task = RecordingTask()
    task.validate(cfg)
    with RunSession(cfg) as session:
        metrics = task.run(cfg, session)
    for part in HEADS:
        assert _changed(task.initial[part], getattr(task.built, part)), f"{part} did not train"
    # limit_test_batches=1: each test accuracy is the trained model's on the first batch of its domain.
    target_loader, source_loader = task.data.test_dataloader()  # EVAL_DOMAINS order
    for key, loader in (("test/acc", target_loader), ("test/source_acc", source_loader)):
        images, labels = next(iter(loader))
        with torch.no_grad():
            expected = (task.built.eval()(images).argmax(1) == labels).float().mean().item()
        assert metrics[key] == pytest.approx(expected, abs=1e-6), key
    assert metrics["train/domain_loss"] > 0
    assert metrics["train/loss"] > metrics["train/class_loss"]  # the domain loss is in the objective
    # limit_val_batches=1, one epoch: validation saw the first val batch of each domain with the final weights.
    (target_images, target_labels), (source_images, source_labels) = (next(iter(loader)) for loader in
                                                                      task.data.val_dataloader())
    with torch.no_grad():
        target_features, source_features = task.built.features(target_images), task.built.features(source_images)
    for key, features, labels in (("val/acc", target_features, target_labels),
                                  ("val/source_acc", source_features, source_labels)):
        expected = (task.built.classifier(features).argmax(1) == labels).float().mean().item()
        assert metrics[key] == pytest.approx(expected, abs=1e-6), key
    domains = np.r_[np.ones(len(source_features)), np.zeros(len(target_features))]
    held_out = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
                               torch.cat([source_features, target_features]).double().numpy(), domains,
                               cv=StratifiedKFold(2, shuffle=True, random_state=0)).mean()
    assert metrics["val/domain_acc"] == pytest.approx(held_out, abs=1e-6)
    assert metrics["val/proxy_a_distance"] == pytest.approx(2 * (1 - 2 * min(held_out, 1 - held_out)), abs=1e-6)


def test_run_writes_target_and_source_accuracy_to_metrics_json(make_config):
    cfg = make_config(*SHORT, "norm=bn", "task.adapt=false", "run_id=uda-test")
    metrics = run(cfg)
    results = json.loads((Path(cfg.paths.runs) / "uda" / "bn" / "uda-test" / "metrics.json").read_text())
    assert results["status"] == "finished" and results["main_metric"] == "test/acc"
    for key in ("test/acc", "test/source_acc"):
        assert results["metrics"][key] == pytest.approx(metrics[key])
        assert metrics[key] * 64 == pytest.approx(round(metrics[key] * 64), abs=1e-4)  # a count over one batch of 64
    # Source-only: the domain loss is measured but carries no weight.
    assert metrics["train/loss"] == pytest.approx(metrics["train/class_loss"], rel=1e-6)


@pytest.mark.parametrize("norm, batch_dependent", [("bgn", True), ("gn", False)])
def test_norm_batches_changes_source_features_only_for_batch_dependent_norms(make_config, norm, batch_dependent):
    task = DomainAdaptationTask()
    datamodule = task.datamodule(make_config(*SHORT))
    joint, separate = (task.module(make_config(*SHORT, f"norm={norm}", f"task.norm_batches={mode}"), datamodule).train()
                       for mode in ("joint", "separate"))
    separate.load_state_dict(joint.state_dict())
    torch.manual_seed(0)
    source, target = torch.rand(8, 3, 16, 16), torch.rand(8, 3, 16, 16) * 0.5
    with torch.no_grad():
        joint_source, _ = joint.domain_features(source, target)
        separate_source, _ = separate.domain_features(source, target)
        alone = separate.features(source)
    assert torch.allclose(separate_source, alone)
    assert torch.allclose(joint_source, separate_source, atol=1e-5) != batch_dependent


def test_bad_task_options_fail_before_training(make_config):
    task = DomainAdaptationTask()
    with pytest.raises(UserError, match="norm_batches"):
        task.validate(make_config("task=uda", "task.norm_batches=mixed"))
    with pytest.raises(UserError, match="task.target.image_size=28"):
        task.validate(make_config("task=uda", "task.target.image_size=32"))
    with pytest.raises(UserError, match="adapt=false"):
        task.validate(make_config("task=uda", "task.domain_loss_weight=0"))
    with pytest.raises(UserError, match="at least 8 px"):
        task.validate(make_config("task=uda", "data.image_size=4"))
    with pytest.raises(UserError, match="unknown model"):
        task.validate(make_config("task=uda", "model.name=not_a_model"))


def test_grey_source_with_colour_target_is_a_clear_error(make_config):
    with pytest.raises(UserError, match="set data.channels=3"):
        run(make_config(*SHORT, "data.channels=1"))


def _office_tree(root: Path, domain: str, classes: list[str]) -> None:
    for index, name in enumerate(classes):
        folder = root / domain / "images" / name
        folder.mkdir(parents=True)
        for image in range(3):
            colour = (40 * index, 10 * image, 200 - 30 * index)
            Image.new("RGB", (20, 20), colour).save(folder / f"{image}.jpg")


def test_office31_pair_runs_and_different_class_sets_are_a_clear_error(make_config, tmp_path):
    _office_tree(tmp_path, "amazon", ["back_pack", "bike"])
    _office_tree(tmp_path, "webcam", ["back_pack", "bike"])
    _office_tree(tmp_path, "dslr", ["back_pack", "calculator"])
    office = ["task=uda", "experiment=uda_office31", f"data.root={tmp_path}", "data.image_size=16",
              "model.name=test_resnet", "model.pretrained=false", "data.batch_size=2", "data.num_workers=0",
              "task.target.num_workers=0", "trainer.limit_train_batches=2", "trainer.max_epochs=1"]
    metrics = run(make_config(*office))
    assert metrics["test/acc"] * 6 == pytest.approx(round(metrics["test/acc"] * 6), abs=1e-4)  # webcam: 6 images
    with pytest.raises(UserError, match="different class folders.*bike.*calculator"):
        DomainAdaptationTask().datamodule(make_config(*office, "task.target.domain=dslr"))


@pytest.mark.parametrize("experiment", ["uda_mnist5k_m", "uda_mnist5k_digits"])
def test_built_in_mnist5k_pairs_run(make_config, fake_mnist5k, experiment):
    cfg = make_config("task=uda", f"experiment={experiment}", f"data.file={fake_mnist5k}",
                      "trainer.limit_train_batches=6", "trainer.limit_val_batches=1", "norm=bn", "task.optim.lr=0.05")
    metrics = run(cfg)
    assert cfg.data.name == "mnist5k" and cfg.task.target.name in ("mnist5k_m", "digits")
    assert "test/acc" in metrics
    assert metrics["test/source_acc"] > 0.3, "10 classes: chance is 0.1"
