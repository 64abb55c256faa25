import numpy as np
import torch
from sklearn.datasets import load_digits

from suite.data import build_datamodule
from suite.data.digits import digit_images
from suite.data.splits import stratified_split


def test_digit_images_are_the_bundled_digits_scaled_to_unit_range():
    images, labels = digit_images(image_size=8, channels=1)
    reference = load_digits()
    assert images.shape == (1797, 1, 8, 8) and labels.shape == (1797,)
    assert torch.allclose(images[:, 0], torch.as_tensor(reference.images / 16.0, dtype=torch.float32))
    assert np.array_equal(labels, reference.target)


def test_resized_three_channel_images_stay_in_unit_range():
    images, _ = digit_images(image_size=40, channels=3)
    assert images.shape == (1797, 3, 40, 40)
    assert images.min() >= 0 and images.max() <= 1
    assert torch.equal(images[:, 0], images[:, 2])


def test_stratified_split_is_disjoint_complete_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 40)
    parts = stratified_split(labels, (0.7, 0.15, 0.15), seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(400))
    for part, fraction in zip(parts, (0.7, 0.15, 0.15)):
        counts = np.bincount(labels[part], minlength=10)
        assert np.all(counts == round(40 * fraction))
    again = stratified_split(labels, (0.7, 0.15, 0.15), seed=3)
    other = stratified_split(labels, (0.7, 0.15, 0.15), seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not np.array_equal(parts[1], other[1])


def test_digits_datamodule_matches_its_config(make_config):
    cfg = make_config("data.batch_size=16")
    datamodule = build_datamodule(cfg.data, seed=0)
    splits = datamodule.splits
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1258, 270, 269)
    assert splits.num_classes == 10 and splits.in_channels == 1 and splits.image_size == 40
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (16, 1, 40, 40) and labels.dtype == torch.int64
    # drop_last: every training batch is full, so no norm sees a batch of one
    assert all(len(batch[1]) == 16 for batch in datamodule.train_dataloader())
