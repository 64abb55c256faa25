"""Episodic splits: digits' disjoint class split, and clear errors for missing benchmark files."""
import learn2learn as l2l
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.utils.data import TensorDataset

from suite.data import build_splits
from suite.errors import UserError
from tasks.fewshot.datasets import RotatedClasses, build_episodic_splits
from tasks.fewshot.episodes import EpisodeDataset, EpisodeShape


def labels_of(dataset) -> set[int]:
    return {int(label) for _, label in dataset}


def test_digits_split_classes(make_config):
    splits = build_episodic_splits(make_config("task=fsl"))
    assert labels_of(splits.train) == labels_of(splits.val) == set(range(6))
    assert labels_of(splits.test) == {6, 7, 8, 9}
    train_images = {image.numpy().tobytes() for image, _ in splits.train}
    assert not any(image.numpy().tobytes() in train_images for image, _ in splits.val), "val images seen in training"
    assert len(splits.train) + len(splits.val) == int(np.isin(load_digits().target, range(6)).sum())
    assert len(splits.val) / (len(splits.train) + len(splits.val)) == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("name", ["omniglot", "mini_imagenet", "cifarfs", "fc100"])
def test_missing_directory_with_download_off(make_config, tmp_path, name):
    root = tmp_path / "nothing_here"
    cfg = make_config("task=fsl", f"data={name}", f"data.root={root}", "data.download=false")
    with pytest.raises(UserError, match=rf"{name} is not under .*nothing_here and data.download=false: set data.root="):
        build_episodic_splits(cfg)
    assert not root.exists(), "the check must come before learn2learn creates directories"


def test_benchmarks_are_episodic_only(make_config):
    with pytest.raises(UserError, match="few-shot benchmark .* use it with task=fsl"):
        build_splits(make_config("data=omniglot").data)


def test_rotated_classes_are_new_classes_and_give_episodes():
    images = torch.rand(6, 1, 4, 4)
    meta = l2l.data.MetaDataset(TensorDataset(images, torch.tensor([3, 3, 3, 8, 8, 8])))
    rotated = RotatedClasses(meta, [3, 8]).meta_dataset()
    assert sorted(rotated.labels_to_indices) == [12, 13, 14, 15, 32, 33, 34, 35]
    for position in rotated.labels_to_indices[33]:  # class 8 turned once
        image, label = rotated[position]
        source = [i for i in range(3, 6) if torch.equal(torch.rot90(images[i], 1, dims=(-2, -1)), image)]
        assert label == 33 and len(source) == 1
    support, query, _ = EpisodeDataset(rotated, EpisodeShape(5, 1, 2), 1, seed=0)[0]
    assert support.shape == (5, 1, 1, 4, 4) and query.shape == (10, 1, 4, 4)


def test_mnist5k_is_split_by_class_like_digits(make_config, fake_mnist5k):
    cfg = make_config("task=fsl", "data=mnist5k", f"data.file={fake_mnist5k}")
    splits = build_episodic_splits(cfg)
    train, val, test = (set(part.tensors[1].tolist()) for part in (splits.train, splits.val, splits.test))
    assert train == val == {0, 1, 2, 3, 4, 5} and test == {6, 7, 8, 9}
    assert len(splits.train) + len(splits.val) == 180 and len(splits.test) == 120
    assert splits.name == "mnist5k" and splits.image_size == 28
