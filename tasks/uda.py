"""Task `uda`: unsupervised domain adaptation with DANN (Ganin & Lempitsky 2015;
Ganin et al. 2016), from the labelled source ``data`` to the unlabelled target
``task.target``; reports target test accuracy (``test/acc``) and source test
accuracy (``test/source_acc``). ``task.adapt=false`` is the source-only baseline.
The parts live in `tasks.domain_adaptation`.
"""
from __future__ import annotations

from suite.data import DATASETS, build_datamodule
from suite.errors import UserError
from suite.task import Task
from tasks.domain_adaptation.data import DomainPairDataModule
from tasks.domain_adaptation.models import (build_domain_discriminator, build_feature_extractor,
                                            build_label_classifier, check_backbone)
from tasks.domain_adaptation.module import NORM_BATCHES, DannModule


class DomainAdaptationTask(Task):
    """DANN on a source/target pair; the built-in pair is digits -> digits_m."""

    accepts_init = True

    def validate(self, cfg) -> None:
        task = cfg.task
        DATASETS.get(task.target.name)
        if task.norm_batches not in NORM_BATCHES:
            raise UserError(f"task.norm_batches must be one of {', '.join(NORM_BATCHES)}, got '{task.norm_batches}'")
        if task.adapt and task.domain_loss_weight <= 0:
            raise UserError(f"task.domain_loss_weight must be positive for DANN, got {task.domain_loss_weight}; "
                            f"use task.adapt=false for the source-only baseline")
        if task.target.image_size != cfg.data.image_size:
            raise UserError(f"source images are {cfg.data.image_size} px but target images "
                            f"{task.target.image_size} px; set task.target.image_size={cfg.data.image_size}")
        check_backbone(cfg.model, cfg.data.image_size)

    def datamodule(self, cfg) -> DomainPairDataModule:
        # A different shuffling seed for the target: with equal-sized domains (digits and
        # digits_m share their split) one seed would pair every source digit with its own blend.
        source = build_datamodule(cfg.data, cfg.seed)
        return DomainPairDataModule(source, build_datamodule(cfg.task.target, cfg.seed + 1))

    def module(self, cfg, datamodule: DomainPairDataModule) -> DannModule:
        splits = datamodule.splits
        features = build_feature_extractor(cfg.model, cfg.norm, splits.in_channels, splits.image_size,
                                           splits.mean, splits.std)
        classifier = build_label_classifier(cfg.model, features.num_features, splits.num_classes)
        discriminator = build_domain_discriminator(cfg.model, features.num_features)
        return DannModule(features, classifier, discriminator, splits.num_classes, cfg.task, cfg.data.batch_size,
                          backbone=features[1])
