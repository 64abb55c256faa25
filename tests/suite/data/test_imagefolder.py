"""ImageFolder trees on tiny fake PNGs."""
import numpy as np
import pytest
from PIL import Image

from suite.data import build_splits
from suite.errors import UserError


def write_tree(root, splits=("train", "val"), classes=("cat", "dog"), per_class=6):
    rng = np.random.default_rng(0)
    for split in splits:
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def test_train_val_tree_is_resized_and_val_doubles_as_test(tmp_path, make_config):
    write_tree(tmp_path)
    cfg = make_config("data=imagefolder", f"data.root={tmp_path}", "data.image_size=8", "data.augment=false")
    splits = build_splits(cfg.data)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (12, 12, 12)
    image, label = splits.train[0]
    assert image.shape == (3, 8, 8) and splits.num_classes == 2 and label in (0, 1)


def test_missing_val_is_held_out_of_train(tmp_path, make_config):
    write_tree(tmp_path, splits=("train", "test"), per_class=10)
    cfg = make_config("data=imagefolder", f"data.root={tmp_path}", "data.image_size=8", "data.val_fraction=0.2")
    splits = build_splits(cfg.data)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (16, 4, 20)


def test_class_mismatch_and_missing_train_are_clear_errors(tmp_path, make_config):
    write_tree(tmp_path / "a", splits=("train",), classes=("cat", "dog"))
    write_tree(tmp_path / "a", splits=("val",), classes=("cat", "cow"))
    with pytest.raises(UserError, match="val has classes .* but train has"):
        build_splits(make_config("data=imagefolder", f"data.root={tmp_path / 'a'}").data)
    with pytest.raises(UserError, match="no training images: expected .*/train/<class>/<image>"):
        build_splits(make_config("data=imagefolder", f"data.root={tmp_path / 'empty'}").data)
