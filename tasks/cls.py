"""Task `cls`: image classification with any timm model and the chosen norm."""
from __future__ import annotations

import timm
from torch import nn

from suite.classifier import ClassifierModule
from suite.errors import UserError
from suite.models import InputNormalization, build_timm_model
from suite.task import Task


class ClassificationTask(Task):
    """Cross-entropy, SGD or AdamW with a cosine schedule; top-1 accuracy on val and test."""

    def validate(self, cfg) -> None:
        if not timm.is_model(cfg.model.name):
            raise UserError(f"unknown timm model '{cfg.model.name}': set model.name= to a name from timm.list_models()")

    def module(self, cfg, datamodule) -> ClassifierModule:
        splits = datamodule.splits
        network = nn.Sequential(
            InputNormalization(splits.mean, splits.std),
            build_timm_model(cfg.model, cfg.norm, splits.in_channels, splits.num_classes),
        )
        return ClassifierModule(network, splits.num_classes, cfg.task.optim, cfg.data.batch_size,
                                cfg.task.label_smoothing)
