"""Supervised image classification: the module `cls` uses and `adv`/`uda` extend."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

import norms
from suite.models import classifier_layer
from suite.module import TaskModule
from suite.norm_modes import norms_in_mode


class ClassifierModule(TaskModule):
    """Cross-entropy training of ``network`` (images in [0, 1] -> logits (N, K)).

    Logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/loss`` and
    ``test/acc`` (top-1, micro-averaged over the epoch).
    """

    def __init__(self, network: nn.Module, num_classes: int, optim_cfg, batch_size: int, label_smoothing: float = 0.0):
        super().__init__(optim_cfg, batch_size)
        self.network = network
        self.label_smoothing = label_smoothing
        # ModuleDict keys may not shadow nn.Module attributes such as `train`. validate_args would read
        # the labels back to the host (torch.unique) at every step.
        self.accuracy = nn.ModuleDict({f"{stage}_acc": MulticlassAccuracy(num_classes, average="micro",
                                                                          validate_args=False)
                                       for stage in ("train", "val", "test", "test_train_mode")})

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def transfer_parts(self) -> tuple[str, str]:
        """The whole network is the backbone; its classifier layer is the head."""
        head = classifier_layer(self.network)
        return "network", next(f"network.{name}" for name, module in self.network.named_modules() if module is head)

    def classification_step(self, stage: str, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy and accuracy of one batch, logged under ``<stage>/``; returns the loss."""
        logits = self(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing if stage == "train" else 0.0)
        self.log_classification(stage, loss, logits, labels)
        return loss

    def log_classification(self, stage: str, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Log ``<stage>/loss`` and ``<stage>/acc`` (accumulated over the epoch) for one batch."""
        accuracy = self.accuracy[f"{stage}_acc"]
        accuracy.update(logits, labels)  # logged per epoch: the batch's own accuracy (forward) is never read
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=stage != "test", batch_size=len(labels),
                 sync_dist=True)  # the mean over every process's images (accuracy metrics sync themselves)
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True, prog_bar=True)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.classification_step("train", *batch)

    def validation_step(self, batch, batch_idx: int) -> None:
        self.classification_step("val", *batch)

    def test_step(self, batch, batch_idx: int) -> None:
        self.classification_step("test", *batch)
        self.log_train_mode_accuracy(*batch)

    def log_train_mode_accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """``test/acc_train_mode``: test accuracy with every norm on the test batch's own statistics (per
        chunk of ``trainer.norm_batch_size`` where set), for models with batch-statistics norms; its gap to
        ``test/acc`` (running statistics) shows how stale the running statistics are. Running statistics
        are restored bit for bit (`norms_in_mode`)."""
        if not any(norms.uses_batch_statistics(module) for module in self.network.modules()):
            return
        with norms_in_mode(self.network, "train"):
            logits = self.network(images)
        accuracy = self.accuracy["test_train_mode_acc"]
        accuracy.update(logits, labels)
        self.log("test/acc_train_mode", accuracy, on_step=False, on_epoch=True)
