"""CIFAR on a tiny fake in torchvision's real on-disk format (python pickles); never downloads."""
import pickle

import numpy as np
import pytest
import torchvision.datasets.cifar as tv_cifar

from suite.data import build_splits
from suite.errors import UserError


def write_fake_cifar10(root, per_batch=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": [i % 10 for i in range(per_batch)]}
        with open(folder / name, "wb") as stream:
            pickle.dump(batch, stream)
    with open(folder / "batches.meta", "wb") as stream:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, stream)


@pytest.fixture
def fake_checksums(monkeypatch):
    """The fake's files cannot match CIFAR's MD5 sums; everything else is torchvision's real reader."""
    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: True)


def test_cifar10_reads_the_python_format_with_a_seeded_holdout(tmp_path, make_config, fake_checksums):
    write_fake_cifar10(tmp_path)
    cfg = make_config("data=cifar10", f"data.root={tmp_path}", "data.download=false", "data.val_fraction=0.2")
    splits = build_splits(cfg.data)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (80, 20, 20)
    assert splits.num_classes == 10 and splits.in_channels == 3
    image, label = splits.val[0]
    assert image.shape == (3, 32, 32) and 0 <= image.min() and image.max() <= 1
    train_idx, val_idx = set(splits.train.indices), set(splits.val.indices)
    assert not train_idx & val_idx


def test_missing_cifar_without_download_is_a_clear_error(tmp_path, make_config):
    cfg = make_config("data=cifar100", f"data.root={tmp_path}", "data.download=false")
    with pytest.raises(UserError, match="cifar100 is not readable under .*cifar-100-python.*copy the"):
        build_splits(cfg.data)
