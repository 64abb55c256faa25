"""Source and target data for unsupervised domain adaptation.

Training draws one labelled source batch and one unlabelled target batch per step
from two loaders that cycle independently (Lightning's ``CombinedLoader`` in
``max_size_cycle`` mode: an epoch is the longer loader; the shorter restarts with a
fresh shuffle). The target loader adapts on the target *train* split only; validation sees the source and
target *val* splits (choosing w uses the target's images, not its labels) and the reported accuracy is on
the target *test* split, which training never touches.
"""
from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.utilities import CombinedLoader
from torch.utils.data import DataLoader, Dataset, Subset

from suite.data.module import ImageDataModule
from suite.data.splits import ImageSplits
from suite.errors import UserError

# Val and test loaders in this order; the module logs <stage>/acc for the target, <stage>/source_acc for the source.
EVAL_DOMAINS = ("target", "source")


def class_names(dataset: Dataset) -> list[str] | None:
    """The class names of an ImageFolder-like dataset (also inside Subsets), else None."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return getattr(dataset, "classes", None)


def check_domains_compatible(source: ImageSplits, target: ImageSplits) -> None:
    """UserError unless both domains have the same classes, channels and image size."""
    if source.num_classes != target.num_classes:
        raise UserError(f"source {source.name} has {source.num_classes} classes but target {target.name} has "
                        f"{target.num_classes}; UDA needs one label set: pick datasets with the same classes")
    source_names, target_names = class_names(source.train), class_names(target.train)
    if source_names is not None and target_names is not None and source_names != target_names:
        differing = sorted(set(source_names) ^ set(target_names)) or ["(same names, different order)"]
        raise UserError(f"source {source.name} and target {target.name} have different class folders "
                        f"({', '.join(differing[:5])}); give both domains the same class folders")
    if source.in_channels != target.in_channels:
        fix = (f"data.channels={target.in_channels}" if source.in_channels < target.in_channels
               else f"task.target.channels={source.in_channels}")
        raise UserError(f"source {source.name} has {source.in_channels} image channel(s) but target {target.name} "
                        f"has {target.in_channels}; set {fix}")
    if source.image_size != target.image_size:
        raise UserError(f"source images are {source.image_size} px but target images {target.image_size} px; "
                        f"set task.target.image_size={source.image_size}")


class DomainPairDataModule(pl.LightningDataModule):
    """Train: ``{"source": (images, labels), "target": (images, labels)}`` per step (the
    target labels are never used in training). Val and test: the target's split, then the
    source's (order `EVAL_DOMAINS`)."""

    def __init__(self, source: ImageDataModule, target: ImageDataModule):
        super().__init__()
        check_domains_compatible(source.splits, target.splits)
        self.source = source
        self.target = target

    def setup(self, stage: str) -> None:
        # The domains' modules serve their tensors from this trainer's device.
        self.source.trainer = self.target.trainer = self.trainer

    @property
    def splits(self) -> ImageSplits:
        """The source splits: what the model is built from (classes, channels, normalization)."""
        return self.source.splits

    def train_dataloader(self) -> CombinedLoader:
        loaders = {"source": self.source.train_dataloader(), "target": self.target.train_dataloader()}
        return CombinedLoader(loaders, mode="max_size_cycle")

    def val_dataloader(self) -> list[DataLoader]:
        return [self.domain(name).val_dataloader() for name in EVAL_DOMAINS]

    def test_dataloader(self) -> list[DataLoader]:
        return [self.domain(name).test_dataloader() for name in EVAL_DOMAINS]

    def domain(self, name: str) -> ImageDataModule:
        return {"target": self.target, "source": self.source}[name]
