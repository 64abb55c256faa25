"""`digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 real images, 10 classes).

Shipped inside scikit-learn, so every task runs offline on a fresh machine. Pixel
values 0..16 are scaled to [0, 1] and resized (bilinear, antialiased) to
``data.image_size``; ``data.channels=3`` repeats the grey channel.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from suite.data.splits import ImageSplits, tensor_splits


def digit_images(image_size: int, channels: int) -> tuple[torch.Tensor, np.ndarray]:
    """All 1,797 digits as (N, channels, image_size, image_size) floats in [0, 1], and labels (N,)."""
    if channels not in (1, 3):
        raise ValueError(f"data.channels must be 1 or 3, got {channels}")
    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if image_size != 8:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear",
                               align_corners=False, antialias=True).clamp_(0.0, 1.0)
    return images.expand(-1, channels, -1, -1).contiguous(), bunch.target.astype(np.int64)


def build_digits(cfg) -> ImageSplits:
    """Fixed stratified train/val/test split (``data.split_fractions``, ``data.split_seed``)."""
    images, labels = digit_images(cfg.image_size, cfg.channels)
    return tensor_splits(images, labels, cfg, "digits")
