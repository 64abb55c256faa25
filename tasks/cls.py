"""Task `cls`: image classification with any timm model, or volume classification (``data=nifti``) with a
MONAI 3-D model (`suite.volume_models`), and the chosen norm."""
from __future__ import annotations

from torch import nn

from suite.classifier import ClassifierModule
from suite.errors import UserError
from suite.models import InputNormalization, build_timm_model, check_model_name
from suite.task import Task
from suite.volume_models import VOLUME_MODELS, build_volume_model


def check_model_fits_data(cfg) -> None:
    """UserError unless a 3-D model meets 3-D data (``data.spatial_dims: 3``) and a 2-D model 2-D data."""
    volumes = cfg.data.get("spatial_dims", 2) == 3
    if volumes and cfg.model.name not in VOLUME_MODELS:
        raise UserError(f"data={cfg.data.name} gives 3-D volumes but model.name={cfg.model.name} is 2-D: set "
                        f"model.name= one of {', '.join(VOLUME_MODELS.names())}")
    if not volumes and cfg.model.name in VOLUME_MODELS:
        raise UserError(f"model.name={cfg.model.name} is a 3-D model but data={cfg.data.name} gives 2-D images: "
                        f"use data=nifti, or a timm model")


class ClassificationTask(Task):
    """Cross-entropy, SGD or AdamW with a cosine schedule; top-1 accuracy on val and test."""

    accepts_init = True

    def validate(self, cfg) -> None:
        check_model_fits_data(cfg)
        if cfg.model.name not in VOLUME_MODELS:
            check_model_name(cfg.model.name)

    def module(self, cfg, datamodule) -> ClassifierModule:
        splits = datamodule.splits
        build = build_volume_model if cfg.model.name in VOLUME_MODELS else build_timm_model
        network = nn.Sequential(
            InputNormalization(splits.mean, splits.std),
            build(cfg.model, cfg.norm, splits.in_channels, splits.num_classes),
        )
        return ClassifierModule(network, splits.num_classes, cfg.task.optim, cfg.data.batch_size,
                                cfg.task.label_smoothing)
