"""data=nifti on tiny fake NIfTI trees: shapes, standardization, splits, unreadable files, augmentation."""
import pytest
import torch

from suite.data import build_splits
from suite.errors import UserError
from tests.suite.data.nifti_tree import write_nifti_tree

SMALL = ["data=nifti", "data.volume_size=[8,6,4]", "data.num_workers=0"]


def test_volumes_are_resampled_standardized_and_labelled(tmp_path, make_config):
    write_nifti_tree(tmp_path, {"train": 3, "val": 2, "test": 2})
    splits = build_splits(make_config(*SMALL, f"data.root={tmp_path}").data)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (6, 4, 4)
    assert splits.num_classes == 2 and splits.in_channels == 1 and splits.image_size == (8, 6, 4)
    volume, label = splits.train[0]
    assert volume.shape == (1, 8, 6, 4) and volume.dtype == torch.float32 and label == 0
    assert splits.train[5][1] == 1
    # per-volume standardization, checked against the definition
    assert volume.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert volume.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-3)


def test_missing_val_is_a_stratified_holdout_and_missing_test_an_error(tmp_path, make_config):
    write_nifti_tree(tmp_path, {"train": 10, "test": 1})
    splits = build_splits(make_config(*SMALL, f"data.root={tmp_path}", "data.val_fraction=0.2").data)
    assert len(splits.train) == 16 and len(splits.val) == 4
    assert sorted(label for _, label in (splits.val[i] for i in range(4))) == [0, 0, 1, 1]
    (tmp_path / "test" / "left" / "0.nii.gz").unlink()
    (tmp_path / "test" / "right" / "0.nii.gz").unlink()
    with pytest.raises(UserError, match="test/ has no readable volumes|has no readable volumes"):
        build_splits(make_config(*SMALL, f"data.root={tmp_path}").data)


def test_unreadable_volume_is_skipped_and_counted_or_an_error_naming_it(tmp_path, make_config, caplog):
    write_nifti_tree(tmp_path, {"train": 2, "val": 1, "test": 1})
    broken = tmp_path / "train" / "left" / "broken.nii.gz"
    broken.write_bytes(b"not a nifti file at all")
    cfg = make_config(*SMALL, f"data.root={tmp_path}")
    with caplog.at_level("WARNING"):
        splits = build_splits(cfg.data)
    assert len(splits.train) == 4
    assert "skipped 1 unreadable volumes" in caplog.text and str(broken) in caplog.text
    strict = make_config(*SMALL, f"data.root={tmp_path}", "data.skip_unreadable=false")
    with pytest.raises(UserError) as error:
        build_splits(strict.data)
    assert str(broken) in str(error.value) and "\n" not in str(error.value)


def test_flips_follow_torch_seed(tmp_path, make_config):
    write_nifti_tree(tmp_path, {"train": 1, "val": 1, "test": 1})
    cfg = make_config(*SMALL, f"data.root={tmp_path}", "data.flip_prob=1.0", "data.affine_prob=0.0")
    splits = build_splits(cfg.data)
    plain = build_splits(make_config(*SMALL, f"data.root={tmp_path}").data).train[0][0]
    torch.manual_seed(3)
    flipped = splits.train[0][0]
    torch.manual_seed(3)
    assert torch.equal(flipped, splits.train[0][0])
    # a flip of the plain volume along one axis, checked independently
    assert any(torch.allclose(flipped, plain.flip(axis), atol=1e-5) for axis in (1, 2, 3))
    assert not torch.allclose(flipped, plain)


def test_class_folders_must_agree(tmp_path, make_config):
    write_nifti_tree(tmp_path, {"train": 1, "val": 1, "test": 1})
    (tmp_path / "val" / "right").rename(tmp_path / "val" / "other")
    with pytest.raises(UserError, match="use the same class folders"):
        build_splits(make_config(*SMALL, f"data.root={tmp_path}").data)
