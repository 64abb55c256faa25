"""Task `cls`: image classification with any timm model and the chosen norm."""
from __future__ import annotations

from torch import nn

from suite.classifier import ClassifierModule
from suite.models import InputNormalization, build_timm_model, check_model_name
from suite.task import Task


class ClassificationTask(Task):
    """Cross-entropy, SGD or AdamW with a cosine schedule; top-1 accuracy on val and test."""

    def validate(self, cfg) -> None:
        check_model_name(cfg.model.name)

    def module(self, cfg, datamodule) -> ClassifierModule:
        splits = datamodule.splits
        network = nn.Sequential(
            InputNormalization(splits.mean, splits.std),
            build_timm_model(cfg.model, cfg.norm, splits.in_channels, splits.num_classes),
        )
        return ClassifierModule(network, splits.num_classes, cfg.task.optim, cfg.data.batch_size,
                                cfg.task.label_smoothing)
