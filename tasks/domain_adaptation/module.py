"""DANN training (Ganin & Lempitsky 2015; Ganin et al. 2016) as a LightningModule.

Per step, with p the training progress in [0, 1]:

    loss = CE(G_y(G_f(x_s)), y_s) + w * BCE(G_d(GRL_λp(G_f([x_s, x_t]))), [1, 0])

with λ_p the GRL coefficient schedule and the learning rate annealed as
μ_0 / (1 + 10 p)^0.75 (`schedules`). ``w = task.domain_loss_weight`` (1 in the paper, 0.1 on digits);
the source-only baseline (``task.adapt=false``) runs the same code with w = 0, so
the domain discriminator gets no gradient and neither do the features from it.

``norm_batches`` decides how batch-dependent norms (bn, bgn) see the two domains:
``joint`` passes the concatenated batch once (the paper's half-source/half-target
batches, and TLlib's DANN): one set of statistics for both domains; ``separate``
passes each domain alone: each domain is normalized with its own statistics in
training (as AdaBN does at test time). In both cases the running statistics used at
evaluation are updated from both domains (with ``separate`` one update per domain
per step), so evaluation uses statistics of the mixture. Batch-independent norms
(gn, ln, in, pn, none) give the same result either way. The source-only baseline
also passes the target batch through the norms, so the DANN-vs-source-only gain is
the adversarial loss alone.

Validation sees the target val split (``val/acc``, which needs target labels: shown, never used to choose)
and the source val split (``val/source_acc``), and measures how well a fresh linear classifier tells the two
domains' val features apart (``val/domain_acc``, ``val/proxy_a_distance``; `divergence`): with the source
error, what a choice of w may use without target labels (``python -m suite.select``, README "Choosing
hyper-parameters").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from suite.module import TaskModule
from tasks.domain_adaptation.data import EVAL_DOMAINS
from tasks.domain_adaptation.divergence import domain_accuracy, proxy_a_distance
from tasks.domain_adaptation.gradient_reversal import GradientReversal
from tasks.domain_adaptation.schedules import dann_annealing, grl_coefficient, training_progress

NORM_BATCHES = ("joint", "separate")


class DannModule(TaskModule):
    """Feature extractor, label classifier and domain discriminator behind a GRL.

    Logs ``train/loss`` (the total objective), ``train/class_loss``,
    ``train/domain_loss``, ``train/domain_acc``, ``train/acc`` (source), ``train/lambda``;
    ``val/acc`` (target val), ``val/source_acc``, ``val/domain_acc`` and ``val/proxy_a_distance``
    (a fresh domain classifier on the val features of both domains); ``test/acc`` (target test) and
    ``test/source_acc``.
    """

    def __init__(self, features: nn.Module, classifier: nn.Module, discriminator: nn.Module, num_classes: int,
                 task_cfg, batch_size: int, backbone: nn.Module | None = None):
        super().__init__(task_cfg.optim, batch_size)
        self.features = features
        self.classifier = classifier
        self.discriminator = discriminator
        self.reversal = GradientReversal(0.0)
        self.domain_loss_weight = task_cfg.domain_loss_weight if task_cfg.adapt else 0.0
        self.norm_batches = task_cfg.norm_batches
        self.lambda_gamma = task_cfg.lambda_gamma
        self.annealing = task_cfg.lr_annealing
        self.backbone = backbone
        self.accuracy = nn.ModuleDict({name: MulticlassAccuracy(num_classes, average="micro", validate_args=False)
                                       for name in ("train_acc", "val_acc", "val_source_acc", "test_acc",
                                                     "test_source_acc")})
        self.val_features: dict[str, list[torch.Tensor]] = {domain: [] for domain in EVAL_DOMAINS}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (N, K) for images (N, C, S, S) in [0, 1]."""
        return self.classifier(self.features(images))

    def transfer_parts(self) -> tuple[str, str | None]:
        return "features", None

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The library backbone inside the feature extractor (not its bottleneck), when there is one."""
        return list(self.backbone.parameters()) if self.backbone is not None else super().backbone_parameters()

    def make_schedule(self, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
        """DANN's per-step annealing instead of the suite's cosine."""
        return dann_annealing(optimizer, total_steps, self.annealing.alpha, self.annealing.beta, warmup_steps)

    def domain_features(self, source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of both batches, through the norms together or apart (``norm_batches``)."""
        if self.norm_batches == "joint":
            features = self.features(torch.cat([source, target]))
            return features[: len(source)], features[len(source):]
        return self.features(source), self.features(target)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        (source_images, source_labels), (target_images, _) = batch["source"], batch["target"]
        progress = training_progress(self.global_step, int(self.trainer.estimated_stepping_batches))
        self.reversal.coefficient = grl_coefficient(progress, self.lambda_gamma)
        source_features, target_features = self.domain_features(source_images, target_images)

        logits = self.classifier(source_features)
        class_loss = F.cross_entropy(logits, source_labels)
        domain_logits = self.discriminator(self.reversal(torch.cat([source_features, target_features]))).squeeze(1)
        # source = 1, target = 0; made on the device (no host tensor copied over at every step)
        domain_labels = torch.cat([domain_logits.new_ones(len(source_features)),
                                   domain_logits.new_zeros(len(target_features))])
        domain_loss = F.binary_cross_entropy_with_logits(domain_logits, domain_labels)
        loss = class_loss + self.domain_loss_weight * domain_loss

        self.accuracy["train_acc"].update(logits, source_labels)  # logged per epoch only
        domain_acc = ((domain_logits > 0).to(domain_labels) == domain_labels).float().mean()
        size = len(source_labels)
        self.log_dict({"train/loss": loss, "train/class_loss": class_loss, "train/domain_loss": domain_loss,
                       "train/domain_acc": domain_acc}, on_step=False, on_epoch=True, batch_size=size)
        self.log("train/lambda", self.reversal.coefficient, on_step=True, on_epoch=False, batch_size=size)
        self.log("train/acc", self.accuracy["train_acc"], on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def evaluate(self, stage: str, dataloader_idx: int, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Accuracy of one batch's features from `stage`'s loader `dataloader_idx` (`EVAL_DOMAINS` order):
        ``<stage>/acc`` for the target, ``<stage>/source_acc`` for the source."""
        name = f"{stage}/acc" if EVAL_DOMAINS[dataloader_idx] == "target" else f"{stage}/source_acc"
        accuracy = self.accuracy[name.replace("/", "_")]
        accuracy.update(self.classifier(features), labels)  # logged per epoch only
        self.log(name, accuracy, on_step=False, on_epoch=True, prog_bar=True, add_dataloader_idx=False)

    def on_validation_epoch_start(self) -> None:
        self.val_features = {domain: [] for domain in EVAL_DOMAINS}

    def validation_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        images, labels = batch
        features = self.features(images)
        self.val_features[EVAL_DOMAINS[dataloader_idx]].append(features.detach().float().cpu())
        self.evaluate("val", dataloader_idx, features, labels)

    def on_validation_epoch_end(self) -> None:
        """``val/domain_acc`` and ``val/proxy_a_distance`` of this process's val features (no class labels)."""
        if not all(self.val_features.values()):  # a validation without one of the domains
            return
        source, target = (torch.cat(self.val_features[domain]).numpy() for domain in ("source", "target"))
        accuracy = domain_accuracy(source, target, seed=0)
        self.log_dict({"val/domain_acc": accuracy, "val/proxy_a_distance": proxy_a_distance(accuracy)},
                      on_epoch=True, sync_dist=True)

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        images, labels = batch
        self.evaluate("test", dataloader_idx, self.features(images), labels)
