"""Task `adv` end to end on digits: every norm, the metrics against an independent computation,
adversarial training buying robustness, the presets and the bad-input errors."""
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import norms
import suite.data.digits
from suite.errors import UserError
from suite.run import run
from suite.session import RunSession
from tasks.adv import AdversarialTask
from tasks.adversarial.attacks import ThreatModel, adversarial_examples

TINY = [
    "task=adv", "data.image_size=16", "model.widths=[8,16]", "data.batch_size=16", "data.eval_batch_size=64",
    "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
    "task.train_steps=2", "task.eval_pgd_steps=[2,3]", "task.main_metric=test/robust_acc_pgd2", "task.val_pgd_steps=2",
]
ATTACK_METRICS = ["test/robust_acc_fgsm", "test/robust_acc_pgd2", "test/robust_acc_pgd3"]


@pytest.mark.parametrize("name", norms.available())
def test_tiny_run_every_norm_reports_clean_and_robust_accuracy(make_config, name):
    cfg = make_config(*TINY, f"norm={name}")
    metrics = run(cfg)
    for key in ATTACK_METRICS:
        assert 0.0 <= metrics[key] <= metrics["test/acc"], key  # same samples: no attack beats clean
    (results_file,) = (Path(cfg.paths.runs) / "adv" / name).glob("*/metrics.json")
    recorded = json.loads(results_file.read_text())["metrics"]
    for key in ATTACK_METRICS:
        assert recorded[key] == pytest.approx(metrics[key]), key


def fgsm_by_hand(network, images, labels, epsilon):
    images = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(network(images), labels), images)
    return (images + epsilon * grad.sign()).clamp(0, 1).detach()


def test_clean_and_fgsm_accuracy_match_an_independent_computation(make_config):
    cfg = make_config(*TINY, "norm=bgn", "data.eval_batch_size=512", "task.epsilon=0.1")
    task = AdversarialTask()
    task.validate(cfg)
    datamodule = task.datamodule(cfg)
    module = task.module(cfg, datamodule)
    with RunSession(cfg) as session:
        metrics = session.fit_and_test(module, datamodule, inference_mode=False)
    images, labels = next(iter(datamodule.test_dataloader()))
    assert len(labels) == len(datamodule.splits.test)  # one batch: the whole test set
    network = module.network.eval()
    clean_correct = network(images).argmax(1) == labels
    attacked_correct = network(fgsm_by_hand(network, images, labels, 0.1)).argmax(1) == labels
    assert metrics["test/acc"] == pytest.approx(clean_correct.float().mean().item())
    assert metrics["test/robust_acc_fgsm"] == pytest.approx((clean_correct & attacked_correct).float().mean().item())
    assert metrics["test/robust_acc_fgsm"] < metrics["test/acc"]
    # The last (here the only) validation also scores its val batch under the task's PGD, in eval mode.
    images, labels = next(iter(datamodule.val_dataloader()))
    pgd = ThreatModel(0.1, cfg.task.eval_step_size, 2)
    attacked = adversarial_examples(network, images, labels, "pgd", pgd, "eval", 10, cfg.seed)
    robust = (network(images).argmax(1) == labels) & (network(attacked).argmax(1) == labels)
    # PGD starts at a random point of the ball (a fresh draw here): a few images may fall either way.
    assert metrics["val/robust_acc_pgd2"] == pytest.approx(robust.float().mean().item(), abs=0.05)
    assert metrics["val/robust_acc_pgd2"] <= metrics["val/acc"]


def test_adversarial_training_is_more_robust_than_normal_training(make_config):
    """Same data, model, seed and schedule; only task.adv_ratio differs (0: normal training)."""
    shared = ["task=adv", "norm=bn", "data.image_size=8", "model.widths=[16,32]", "trainer.max_epochs=3",
              "trainer.limit_val_batches=1", "task.epsilon=0.15", "task.step_size=0.05", "task.train_steps=4",
              "task.eval_pgd_steps=[10]", "task.main_metric=test/robust_acc_pgd10", "task.optim.lr=0.1"]
    normal = run(make_config(*shared, "task.adv_ratio=0"))
    adversarial = run(make_config(*shared, "task.adv_ratio=1"))
    assert adversarial["test/robust_acc_pgd10"] > normal["test/robust_acc_pgd10"] + 0.1
    for metrics in (normal, adversarial):
        assert metrics["test/robust_acc_pgd10"] <= metrics["test/robust_acc_fgsm"] + 0.05 <= metrics["test/acc"] + 0.05


def test_autoattack_is_reported_when_enabled(make_config):
    cfg = make_config(*TINY, "norm=gn", "data.eval_batch_size=8", "task.eval_autoattack=true",
                      "task.eval_pgd_steps=[2]", "task.main_metric=test/robust_acc_autoattack")
    metrics = run(cfg)
    assert 0.0 <= metrics["test/robust_acc_autoattack"] <= metrics["test/acc"]


def test_a_timm_model_trains_adversarially(make_config):
    cfg = make_config(*TINY, "norm=bgn", "model.name=resnet18", "data.eval_batch_size=8", "task.eval_pgd_steps=[2]")
    metrics = run(cfg)
    assert 0.0 <= metrics["test/robust_acc_pgd2"] <= metrics["test/acc"]


def test_cifar10_preset_is_the_standard_threat_model(make_config):
    cfg = make_config("task=adv", "experiment=adv_cifar10")
    assert (cfg.data.name, cfg.model.name) == ("cifar10", "resnet18")
    assert cfg.task.epsilon == pytest.approx(8 / 255) and cfg.task.step_size == pytest.approx(2 / 255)
    assert cfg.task.train_steps == 10 and 20 in cfg.task.eval_pgd_steps
    assert cfg.task.main_metric == "test/robust_acc_pgd20"
    AdversarialTask().validate(cfg)


@pytest.mark.parametrize("override, message", [
    ("task.epsilon=1.5", r"task.epsilon=1.5 is outside \[0, 1\]"),
    ("task.epsilon=-0.1", r"outside \[0, 1\]"),
    ("task.train_steps=0", "task.train_steps must be a positive integer, got 0"),
    ("task.eval_pgd_steps=[20,0]", "task.eval_pgd_steps must be a list of a positive integer"),
    ("task.step_size=0", "task.step_size must be a finite number > 0, got 0"),
    ("task.adv_ratio=1.5", r"task.adv_ratio must be a number in \[0, 1\], got 1.5"),
    ("task.attack_norm_mode=batch", "task.attack_norm_mode must be one of eval, train"),
    ("task.main_metric=test/robust_acc_pgd7", "is not measured"),
    ("model.name=no_such_net", "unknown model 'no_such_net'"),
])
def test_bad_configuration_fails_before_training(make_config, tmp_path, override, message):
    with pytest.raises(UserError, match=message):
        run(make_config("task=adv", override))
    assert not (tmp_path / "runs").exists()


def test_data_outside_the_unit_range_is_a_clear_error(make_config, monkeypatch):
    """A data builder that normalizes (mean 0, std 1) would hand the attacks something that is not pixels."""
    pixel_images = suite.data.digits.digit_images

    def standardized_images(image_size, channels):
        images, labels = pixel_images(image_size, channels)
        return (images - images.mean()) / images.std(), labels

    monkeypatch.setattr(suite.data.digits, "digit_images", standardized_images)
    with pytest.raises(UserError, match=r"first training batch: attacks need images in \[0, 1\]"):
        run(make_config(*TINY))
