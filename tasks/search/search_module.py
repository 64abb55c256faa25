"""The Lightning module NNI's DARTS strategy trains during search, and the loaders it reads.

NNI's ``DartsLightningModule`` (nni/nas/oneshot/pytorch/differentiable.py) wraps this module: on
every step it calls ``training_step(val_batch, 2 * i)`` for the architecture update (first-order
DARTS: the architecture weights follow the gradient of the validation loss) and then
``training_step(train_batch, 2 * i + 1)`` for the weight update, with the optimizer and schedule
configured here. The batch index's parity therefore tells the two apart, which is how the search
curves are named: ``search/train_loss``, ``search/train_acc`` (weight steps) and ``search/val_loss``,
``search/val_acc`` (architecture steps, measured before each update).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from nni.nas.evaluator.pytorch import DataLoader
from nni.nas.evaluator.pytorch import LightningModule as NasLightningModule
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from suite.module import TaskModule


class DartsSearchModule(TaskModule, NasLightningModule):
    """Cross-entropy on the supernet NNI sets with ``set_model`` (images in [0, 1] -> logits (N, K)).

    The weight optimizer and cosine schedule come from the ``optim`` node given (``task.search_optim``);
    NNI removes the architecture weights from it and adds its own Adam for them.
    """

    def __init__(self, num_classes: int, optim_cfg, batch_size: int):
        super().__init__(optim_cfg, batch_size)
        self.accuracy = nn.ModuleDict({split: MulticlassAccuracy(num_classes, average="micro")
                                       for split in ("weights", "architecture")})

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        split = "val" if batch_idx % 2 == 0 else "train"
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        accuracy = self.accuracy["architecture" if split == "val" else "weights"]
        accuracy.update(logits, labels)  # logged per epoch only
        self.log(f"search/{split}_loss", loss, on_step=False, on_epoch=True, batch_size=len(labels))
        self.log(f"search/{split}_acc", accuracy, on_step=False, on_epoch=True, prog_bar=True)
        return loss


def search_loaders(splits, batch_size: int, seed: int) -> tuple[DataLoader, DataLoader]:
    """NNI's traced DataLoaders: weights on the training split, architecture on the validation split.

    Both shuffle (seeded) and drop the last incomplete batch, with the same batch size, as DARTS
    splits its training set into two equal-batch halves; the test split is never seen by the search.
    """

    def loader(dataset, offset: int) -> DataLoader:
        generator = torch.Generator().manual_seed(seed + offset)
        return DataLoader(dataset, batch_size=min(batch_size, len(dataset)), shuffle=True, drop_last=True,
                          generator=generator)

    return loader(splits.train, 0), loader(splits.val, 1)
