"""Retraining a searched DARTS network from scratch, with DARTS's regularizers (Liu et al., 2019, sec. 3.2).

Cutout (DeVries & Taylor, 2017) on training images, the auxiliary head's loss, and drop-path whose
probability grows linearly from 0 to ``drop_path_prob`` over the epochs; all three off by default.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from suite.classifier import ClassifierModule
from tasks.search.darts_space import DartsSpace, set_drop_path_prob


def cutout(images: torch.Tensor, length: int) -> torch.Tensor:
    """Zero one ``length`` x ``length`` square per image, centred uniformly at random (clipped at borders).

    Rows ``[y - length // 2, y - length // 2 + length)`` for a centre ``y`` drawn from ``[0, H)``, the same
    for columns: DARTS's ``Cutout`` for its even ``length`` (16 on CIFAR-10).

    images: (N, C, H, W) -> a new tensor of the same shape; the input is left unchanged.
    """
    batch, _, height, width = images.shape
    centre_y = torch.randint(height, (batch, 1, 1), device=images.device)
    centre_x = torch.randint(width, (batch, 1, 1), device=images.device)
    rows = torch.arange(height, device=images.device).view(1, -1, 1)
    columns = torch.arange(width, device=images.device).view(1, 1, -1)
    inside = ((rows >= centre_y - length // 2) & (rows < centre_y + length - length // 2)
              & (columns >= centre_x - length // 2) & (columns < centre_x + length - length // 2))
    return images * (~inside).unsqueeze(1).to(images.dtype)


class RetrainModule(ClassifierModule):
    """`ClassifierModule` around a fixed `DartsSpace` network, adding DARTS's retraining regularizers.

    The training loss is cross-entropy + ``auxiliary_weight`` x the auxiliary head's cross-entropy when
    the network has the head (DARTS: 0.4); ``train/loss`` logs that total.
    """

    def __init__(self, network: DartsSpace, num_classes: int, optim_cfg, batch_size: int,
                 label_smoothing: float = 0.0, auxiliary_weight: float = 0.4, drop_path_prob: float = 0.0,
                 cutout_length: int = 0):
        super().__init__(network, num_classes, optim_cfg, batch_size, label_smoothing)
        self.auxiliary_weight = auxiliary_weight
        self.drop_path_prob = drop_path_prob
        self.cutout_length = cutout_length

    def transfer_parts(self) -> None:
        return None  # nas cannot start from a pre-trained run (suite.transfer), nor is it a backbone for one

    def on_train_epoch_start(self) -> None:
        set_drop_path_prob(self.network, self.drop_path_prob * self.current_epoch / self.trainer.max_epochs)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        if self.cutout_length > 0:
            images = cutout(images, self.cutout_length)
        if not self.network.auxiliary:
            return self.classification_step("train", images, labels)
        logits, auxiliary_logits = self.network.forward_with_auxiliary(images)
        loss = (F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
                + self.auxiliary_weight * F.cross_entropy(auxiliary_logits, labels, label_smoothing=self.label_smoothing))
        self.log_classification("train", loss, logits, labels)
        return loss
