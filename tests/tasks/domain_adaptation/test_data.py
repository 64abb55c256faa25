import pytest
import torch
from torch.utils.data import TensorDataset

from suite.data.module import ImageDataModule
from suite.data.splits import ImageSplits
from suite.errors import UserError
from tasks.domain_adaptation.data import DomainPairDataModule, check_domains_compatible


def _splits(num_images, name, num_classes=10, channels=3, size=8, offset=0):
    images = torch.zeros(num_images, channels, size, size)
    labels = torch.arange(offset, offset + num_images)  # labels identify the images
    dataset = TensorDataset(images, labels)
    return ImageSplits(train=dataset, val=dataset, test=dataset, num_classes=num_classes, in_channels=channels,
                       image_size=size, mean=(0.5,) * channels, std=(0.5,) * channels, name=name)


def _datamodule(splits, seed):
    return ImageDataModule(splits, batch_size=2, eval_batch_size=4, num_workers=0, seed=seed)


def test_each_step_has_a_source_and_a_target_batch_and_the_shorter_loader_cycles():
    pair = DomainPairDataModule(_datamodule(_splits(8, "source"), 0), _datamodule(_splits(4, "target", offset=100), 1))
    loader = pair.train_dataloader()
    steps = [batch for batch, *_ in loader]
    assert len(steps) == 4  # the longer (source) loader sets the epoch
    source_seen = sorted(label for step in steps for label in step["source"][1].tolist())
    target_seen = [label for step in steps for label in step["target"][1].tolist()]
    assert source_seen == list(range(8))
    assert sorted(target_seen[:4]) == sorted(target_seen[4:]) == list(range(100, 104))  # two full passes
    test_loaders = pair.test_dataloader()
    assert [loader.dataset.tensors[1][0].item() for loader in test_loaders] == [100, 0]  # target, then source


@pytest.mark.parametrize("target, message", [
    (_splits(4, "t", num_classes=5), "10 classes but target t has 5"),
    (_splits(4, "t", channels=1), "set task.target.channels=3"),
    (_splits(4, "t", size=16), "set task.target.image_size=8"),
])
def test_incompatible_domains_are_named_with_the_fix(target, message):
    with pytest.raises(UserError, match=message):
        check_domains_compatible(_splits(4, "s"), target)
