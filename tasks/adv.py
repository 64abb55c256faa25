"""Task `adv`: PGD adversarial training (Madry et al. 2018) and clean/robust test accuracy.

Each training batch is replaced (``task.adv_ratio`` of it) by PGD examples crafted with torchattacks,
with every norm layer on running or batch statistics (``task.attack_norm_mode``) while the attack runs;
the test set is scored clean and under FGSM, PGD-<steps> for each of ``task.eval_pgd_steps`` and,
with ``task.eval_autoattack=true``, AutoAttack, all at the same ε. The last validation also scores the val
split under PGD-``task.val_pgd_steps`` (``val/robust_acc_pgd<steps>``): what the training schedule is chosen
on (``python -m suite.select``), never the test set.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

from suite.classifier import ClassifierModule
from suite.checks import check_values, fraction, list_of, optional, positive_int, positive_number
from suite.errors import UserError
from suite.models import (InputNormalization, SmallConvNet, build_timm_model, check_model_name,
                          norm_layer_from_config)
from suite.task import Task
from tasks.adversarial.attacks import ThreatModel, adversarial_examples, check_pixel_range, warmed_up
from suite.norm_modes import NORM_MODES


class AdversarialClassifier(ClassifierModule):
    """`ClassifierModule` trained on adversarial examples and tested against attacks.

    ``train/loss`` and ``train/acc`` are measured on the inputs the model trains on (adversarial, or
    mixed with clean ones). ``test/acc`` is clean accuracy; ``test/robust_acc_<attack>`` counts a test
    image as robust when it is classified correctly both clean and attacked, so on every evaluation
    robust accuracy <= clean accuracy on the same samples. Test attacks always craft in eval mode: they
    attack the function being scored. `val_attacks` score the val split the same way, at the last
    epoch's validation only (an attack per epoch would cost as much as training).
    """

    def __init__(self, network: nn.Module, num_classes: int, optim_cfg, batch_size: int, label_smoothing: float,
                 train_threat: ThreatModel, adv_ratio: float, attack_norm_mode: str,
                 eval_attacks: dict[str, tuple[str, ThreatModel]], seed: int = 0, epsilon_warmup_epochs: float = 0.0,
                 val_attacks: dict[str, tuple[str, ThreatModel]] | None = None):
        super().__init__(network, num_classes, optim_cfg, batch_size, label_smoothing)
        self.num_classes = num_classes
        self.train_threat = train_threat
        self.adv_ratio = adv_ratio
        self.attack_norm_mode = attack_norm_mode
        self.eval_attacks = eval_attacks
        self.seed = seed
        self.epsilon_warmup_epochs = epsilon_warmup_epochs
        self.val_attacks = val_attacks or {}
        self.robust_accuracy = nn.ModuleDict({f"{stage}_{name}": MeanMetric() for stage, attacks in
                                              (("test", eval_attacks), ("val", self.val_attacks)) for name in attacks})

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        num_attacked = round(self.adv_ratio * len(labels))
        if num_attacked:
            attacked = adversarial_examples(self.network, images[:num_attacked], labels[:num_attacked], "pgd",
                                            self.current_train_threat(batch_idx), self.attack_norm_mode,
                                            self.num_classes, self.seed)
            images = torch.cat([attacked, images[num_attacked:]])
        return self.classification_step("train", images, labels)

    def current_train_threat(self, batch_idx: int) -> ThreatModel:
        """The training threat, ramped over the first ``epsilon_warmup_epochs`` epochs (`warmed_up`)."""
        # Counting the current batch as done keeps the first step's radius above 0.
        epochs_done = self.current_epoch + (batch_idx + 1) / max(1, self.trainer.num_training_batches)
        return warmed_up(self.train_threat, epochs_done, self.epsilon_warmup_epochs)

    def validation_step(self, batch, batch_idx: int) -> None:
        last = not self.trainer.sanity_checking and self.current_epoch + 1 >= self.trainer.max_epochs
        self.score("val", *batch, self.val_attacks if last else {})

    def test_step(self, batch, batch_idx: int) -> None:
        self.score("test", *batch, self.eval_attacks)

    def score(self, stage: str, images: torch.Tensor, labels: torch.Tensor,
              attacks: dict[str, tuple[str, ThreatModel]]) -> None:
        """``<stage>/loss``, ``<stage>/acc`` and ``<stage>/robust_acc_<name>`` for each of `attacks` (crafted
        in eval mode) on one batch."""
        logits = self(images)
        self.log_classification(stage, F.cross_entropy(logits, labels), logits, labels)
        clean_correct = logits.argmax(1) == labels
        for name, (attack, threat) in attacks.items():
            attacked = adversarial_examples(self.network, images, labels, attack, threat, "eval",
                                            self.num_classes, self.seed)
            robust = clean_correct & (self(attacked).argmax(1) == labels)
            metric = self.robust_accuracy[f"{stage}_{name}"]
            metric.update(robust.float())
            self.log(f"{stage}/robust_acc_{name}", metric, on_step=False, on_epoch=True)


def build_network(cfg, splits) -> nn.Module:
    """InputNormalization with the data's mean/std, then ``model.name`` (small_cnn or a timm model)."""
    if cfg.model.name == "small_cnn":
        model = SmallConvNet(splits.in_channels, splits.num_classes, norm_layer_from_config(cfg.norm),
                             tuple(cfg.model.widths))
    else:
        model = build_timm_model(cfg.model, cfg.norm, splits.in_channels, splits.num_classes)
    return nn.Sequential(InputNormalization(splits.mean, splits.std), model)


def train_threat(task_cfg) -> ThreatModel:
    return ThreatModel(task_cfg.epsilon, task_cfg.step_size, task_cfg.train_steps, task_cfg.random_start)


def val_attacks(task_cfg) -> dict[str, tuple[str, ThreatModel]]:
    """``pgd<val_pgd_steps>`` at the test attacks' ε and step size; none when ``val_pgd_steps`` is null."""
    if task_cfg.val_pgd_steps is None:
        return {}
    return {f"pgd{task_cfg.val_pgd_steps}": ("pgd", ThreatModel(task_cfg.epsilon, task_cfg.eval_step_size,
                                                                 task_cfg.val_pgd_steps, random_start=True))}


def eval_attacks(task_cfg) -> dict[str, tuple[str, ThreatModel]]:
    """Metric suffix -> (attack, threat): fgsm, pgd<steps> per ``eval_pgd_steps``, autoattack if enabled."""
    threat = ThreatModel(task_cfg.epsilon, task_cfg.eval_step_size, 1, random_start=True)
    attacks = {"fgsm": ("fgsm", threat)}
    for steps in task_cfg.eval_pgd_steps:
        attacks[f"pgd{steps}"] = ("pgd", ThreatModel(threat.epsilon, threat.step_size, steps, random_start=True))
    if task_cfg.eval_autoattack:
        attacks["autoattack"] = ("autoattack", threat)
    return attacks


class AdversarialTask(Task):
    """PGD adversarial training of a classifier with the chosen norm; clean and robust test accuracy."""

    accepts_init = True

    def validate(self, cfg) -> None:
        task = cfg.task
        if fraction(task.epsilon) is not None:
            raise UserError(f"task.epsilon={task.epsilon} is outside [0, 1]: it is an L∞ radius in pixel units "
                            f"(images in [0, 1]), e.g. 0.1 for digits or 8/255 for CIFAR-10")
        check_values(cfg, {"step_size": positive_number, "eval_step_size": positive_number,
                           "train_steps": positive_int, "eval_pgd_steps": list_of(positive_int),
                           "val_pgd_steps": optional(positive_int),
                           "adv_ratio": fraction}, prefix="task")
        if task.attack_norm_mode not in NORM_MODES:
            raise UserError(f"task.attack_norm_mode must be one of {', '.join(NORM_MODES)}, "
                            f"got {task.attack_norm_mode!r}")
        attacked = round(task.adv_ratio * cfg.data.batch_size)
        if task.attack_norm_mode == "train" and attacked == 1:
            raise UserError(f"task.adv_ratio={task.adv_ratio} attacks 1 image per batch of {cfg.data.batch_size}: "
                            f"batch statistics need 2; raise task.adv_ratio or data.batch_size")
        metrics = ["test/acc", *(f"test/robust_acc_{name}" for name in eval_attacks(task))]
        if task.main_metric not in metrics:
            raise UserError(f"task.main_metric={task.main_metric} is not measured: choose one of {', '.join(metrics)}")
        check_model_name(cfg.model.name, built_in=("small_cnn",))

    def module(self, cfg, datamodule) -> AdversarialClassifier:
        splits = datamodule.splits
        return AdversarialClassifier(build_network(cfg, splits), splits.num_classes, cfg.task.optim,
                                     cfg.data.batch_size, cfg.task.label_smoothing, train_threat(cfg.task),
                                     cfg.task.adv_ratio, cfg.task.attack_norm_mode, eval_attacks(cfg.task), cfg.seed,
                                     cfg.task.epsilon_warmup_epochs, val_attacks(cfg.task))

    def run(self, cfg, session) -> dict[str, float]:
        datamodule = self.datamodule(cfg)
        for name, loader in (("training", datamodule.train_dataloader()), ("test", datamodule.test_dataloader())):
            try:
                check_pixel_range(next(iter(loader))[0])
            except ValueError as error:
                raise UserError(f"data={cfg.data.name}, first {name} batch: {error}") from None
        # Test attacks need gradients: Lightning's default inference mode would forbid them.
        return session.fit_and_test(self.build_module(cfg, datamodule), datamodule, inference_mode=False)
