import numpy as np
import torch
from sklearn.datasets import load_sample_images

from suite.data import build_splits
from suite.data.digits import digit_images
from suite.data.digits_m import blend_with_patches, patch_positions


def _config(make_config, *overrides):
    return make_config("data=digits_m", *overrides).data


def test_digits_m_is_deterministic_for_a_seed_and_changes_with_it(make_config):
    first = build_splits(_config(make_config, "data.image_size=16"))
    again = build_splits(_config(make_config, "data.image_size=16"))
    other = build_splits(_config(make_config, "data.image_size=16", "data.blend_seed=1"))
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(first, split).tensors[0], getattr(again, split).tensors[0])
        assert not torch.equal(getattr(first, split).tensors[0], getattr(other, split).tensors[0])
        assert torch.equal(getattr(first, split).tensors[1], getattr(other, split).tensors[1])
    assert first.mean == again.mean and first.in_channels == 3 and first.num_classes == 10


def test_digits_m_shares_the_digits_split_and_labels(make_config):
    blended = build_splits(_config(make_config, "data.image_size=16"))
    plain = build_splits(make_config("data.image_size=16").data)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(blended, split).tensors[1], getattr(plain, split).tensors[1])
        assert len(getattr(blended, split)) == len(getattr(plain, split))
    images = blended.train.tensors[0]
    assert images.shape[1:] == (3, 16, 16) and images.min() >= 0 and images.max() <= 1


def test_each_image_is_the_absolute_difference_of_a_photo_crop_and_its_digit():
    size = 12
    digits, _ = digit_images(size, 1)
    photos_uint8 = load_sample_images().images
    photos = [torch.tensor(p, dtype=torch.float32).permute(2, 0, 1) / 255 for p in photos_uint8]
    positions = patch_positions(len(digits), size, [p.shape[:2] for p in photos_uint8], seed=3)
    blended = blend_with_patches(digits, photos, positions)
    for index in (0, 5, 1796):
        photo, top, left = positions[index]
        crop = photos_uint8[photo][top:top + size, left:left + size].astype(np.float64) / 255  # (S, S, 3)
        expected = np.abs(crop - digits[index, 0].double().numpy()[:, :, None]).transpose(2, 0, 1)
        assert np.allclose(blended[index].double().numpy(), expected, atol=1e-6)


def test_patch_positions_cover_both_photos_and_stay_inside():
    shapes = [(30, 50), (40, 20)]
    positions = patch_positions(2000, 10, shapes, seed=0)
    assert set(positions[:, 0].tolist()) == {0, 1}
    for photo, (height, width) in enumerate(shapes):
        rows = positions[positions[:, 0] == photo]
        assert rows[:, 1].min() == 0 and rows[:, 1].max() == height - 10
        assert rows[:, 2].min() == 0 and rows[:, 2].max() == width - 10
    assert np.array_equal(positions, patch_positions(2000, 10, shapes, seed=0))
