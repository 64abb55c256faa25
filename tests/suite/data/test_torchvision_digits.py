import bz2
import struct

import numpy as np
import pytest
import torch

from suite.data import build_splits
from suite.errors import UserError


def _write_mnist(root, prefix, images, labels):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, *images.shape) + images.tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


def _write_usps(root, filename, images, labels):
    lines = []
    for image, label in zip(images, labels):
        values = image.reshape(-1) / 127.5 - 1.0  # USPS stores [-1, 1]
        lines.append(f"{label + 1} " + " ".join(f"{i + 1}:{v:.6f}" for i, v in enumerate(values)))
    with bz2.open(root / filename, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


def test_mnist_in_torchvision_format_loads_resized_in_colour(make_config, tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    train_labels = np.repeat(np.arange(10, dtype=np.uint8), 4)
    _write_mnist(tmp_path, "train", train, train_labels)
    _write_mnist(tmp_path, "t10k", train[:10], train_labels[:10])
    cfg = make_config("data=mnist", f"data.root={tmp_path}", "data.download=false", "data.channels=3",
                      "data.image_size=16", "data.val_fraction=0.25").data
    splits = build_splits(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 10, 10)
    image, label = splits.test[3]
    assert image.shape == (3, 16, 16) and label == 0 and torch.equal(image[0], image[2])
    assert splits.in_channels == 3 and splits.num_classes == 10


def test_usps_in_torchvision_format_keeps_pixels_at_native_size(make_config, tmp_path):
    images = np.arange(20 * 256, dtype=np.float64).reshape(20, 16, 16) % 256
    labels = np.arange(20) % 10
    _write_usps(tmp_path, "usps.bz2", images, labels)
    _write_usps(tmp_path, "usps.t.bz2", images[:10], labels[:10])
    cfg = make_config("data=usps", f"data.root={tmp_path}", "data.download=false", "data.image_size=16",
                      "data.val_fraction=0.5").data
    splits = build_splits(cfg)
    image, label = splits.test[1]
    assert label == 1 and image.shape == (1, 16, 16)
    assert torch.allclose(image[0] * 255, torch.as_tensor(images[1], dtype=torch.float32), atol=1.01)


def test_missing_files_offline_are_a_clear_error(make_config, tmp_path):
    cfg = make_config("data=svhn", f"data.root={tmp_path}", "data.download=false").data
    with pytest.raises(UserError, match="svhn is not readable.*data.download=auto"):
        build_splits(cfg)
