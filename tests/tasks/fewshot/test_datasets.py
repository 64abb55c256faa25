"""Episodic splits: digits' disjoint class split, and clear errors for missing benchmark files."""
import numpy as np
import pytest

from suite.data import build_splits
from suite.errors import UserError
from tasks.fewshot.datasets import build_episodic_splits


def labels_of(dataset) -> set[int]:
    return {int(label) for _, label in dataset}


def test_digits_split_classes(make_config):
    splits = build_episodic_splits(make_config("task=fsl"))
    assert labels_of(splits.train) == labels_of(splits.val) == set(range(6))
    assert labels_of(splits.test) == {6, 7, 8, 9}
    train_images = {image.numpy().tobytes() for image, _ in splits.train}
    assert not any(image.numpy().tobytes() in train_images for image, _ in splits.val), "val images seen in training"
    assert len(splits.train) + len(splits.val) == sum(
        int(np.sum(label == digit)) for digit in range(6) for label in [np.array([l for _, l in splits.train] +
                                                                                [l for _, l in splits.val])])
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
