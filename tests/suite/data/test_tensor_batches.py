"""TensorBatches gives DataLoader's batches, in DataLoader's order, without collating."""
import pytest
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from suite.data.module import ImageDataModule
from suite.data.splits import ImageSplits
from suite.data.tensor_batches import TensorBatches, fits_on_device


def _dataset(size=37):
    return TensorDataset(torch.randn(size, 2, 3, 3), torch.arange(size))


@pytest.mark.parametrize("shuffle, drop_last, batch_size", [(True, True, 8), (False, False, 8), (True, False, 5)])
def test_every_epoch_matches_a_dataloader_with_the_same_seed(shuffle, drop_last, batch_size):
    dataset = _dataset()
    reference = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                           generator=torch.Generator().manual_seed(3) if shuffle else None)
    batches = TensorBatches(dataset, batch_size, torch.device("cpu"), drop_last=drop_last,
                            generator=torch.Generator().manual_seed(3) if shuffle else None)
    assert len(batches) == len(reference)
    for _ in range(3):  # epochs: one generator, a new order each pass
        expected, got = list(reference), list(batches)
        assert len(got) == len(expected)
        for (images, labels), (want_images, want_labels) in zip(got, expected):
            assert torch.equal(labels, want_labels) and torch.equal(images, want_images)


def test_shuffled_epochs_differ_and_drop_last_keeps_batches_full():
    batches = TensorBatches(_dataset(), 8, torch.device("cpu"), drop_last=True, generator=torch.Generator().manual_seed(0))
    first, second = ([labels for _, labels in batches] for _ in range(2))
    assert all(len(labels) == 8 for labels in first) and len(first) == 4
    assert not torch.equal(torch.cat(first), torch.cat(second))


def test_datamodule_keeps_tensor_datasets_resident_and_other_datasets_in_a_dataloader():
    dataset = _dataset()
    splits = ImageSplits(train=dataset, val=Subset(dataset, list(range(10))), test=dataset, num_classes=37,
                         in_channels=2, image_size=3, mean=(0.0, 0.0), std=(1.0, 1.0), name="fake")
    datamodule = ImageDataModule(splits, batch_size=4, eval_batch_size=8, num_workers=0, seed=0)
    assert isinstance(datamodule.train_dataloader(), TensorBatches)
    assert isinstance(datamodule.val_dataloader(), DataLoader)
    assert fits_on_device(dataset) and not fits_on_device(splits.val)
