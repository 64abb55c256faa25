"""Episodes from learn2learn: shapes, class-consistent rows, disjoint support and query, seeding, errors."""
import pytest
import torch
from lightning_fabric.utilities.data import _set_sampler_epoch
from torch.utils.data import TensorDataset
from torch.utils.data.distributed import DistributedSampler

from suite.checkpoints import ResumableLoader
from suite.errors import UserError
from tasks.fewshot.episodes import (EpisodeDataset, EpisodeShape, EpochBatches, EpochSampler, as_meta_dataset,
                                    check_episode_fits, split_episode)

CLASSES, PER_CLASS = 7, 12


def identifiable_dataset() -> TensorDataset:
    """Image i is filled with the value i, so an example can be traced back to its index and label."""
    count = CLASSES * PER_CLASS
    images = torch.arange(count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, 1, 3, 3).clone()
    return TensorDataset(images, torch.arange(count) % CLASSES)


def source_indices(images: torch.Tensor) -> torch.Tensor:
    return images[..., 0, 0, 0].long()


@pytest.mark.parametrize("shape", [EpisodeShape(5, 1, 3), EpisodeShape(3, 4, 2)])
def test_episode_shapes_classes_and_disjoint_sets(shape):
    support, query, query_labels = EpisodeDataset(identifiable_dataset(), shape, num_episodes=4)[0]
    assert support.shape == (shape.ways, shape.shots, 1, 3, 3)
    assert query.shape == (shape.ways * shape.query_shots, 1, 3, 3)
    assert query_labels.tolist() == [c for c in range(shape.ways) for _ in range(shape.query_shots)]
    support_ids, query_ids = source_indices(support), source_indices(query)
    support_classes = support_ids % CLASSES
    assert (support_classes == support_classes[:, :1]).all(), "a support row mixes classes"
    assert len(set(support_classes[:, 0].tolist())) == shape.ways, "two rows share a class"
    assert torch.equal(query_ids % CLASSES, support_classes[query_labels, 0]), "query label != its support row"
    all_ids = support_ids.flatten().tolist() + query_ids.tolist()
    assert len(set(all_ids)) == len(all_ids), "an example is both support and query (or drawn twice)"


def test_seeded_episodes_repeat_and_differ_by_index():
    shape = EpisodeShape(3, 2, 2)
    first = EpisodeDataset(identifiable_dataset(), shape, 5, seed=7)
    second = EpisodeDataset(identifiable_dataset(), shape, 5, seed=7)
    assert torch.equal(first[3][0], second[3][0]) and torch.equal(first[3][1], second[3][1])
    assert not torch.equal(first[0][0], first[1][0])
    assert len(first) == 5
    with pytest.raises(IndexError):
        first[5]


def test_training_episodes_are_new_each_epoch_and_the_same_in_a_resumed_epoch():
    shape = EpisodeShape(3, 2, 2)
    episodes = EpisodeDataset(identifiable_dataset(), shape, 6, seed=1)
    loader = ResumableLoader(episodes, batch_sampler=EpochBatches(EpochSampler(episodes), 2, drop_last=True))
    _set_sampler_epoch(loader, 4)  # what Lightning does before each training epoch
    keys = list(loader.batch_sampler)
    assert keys == [[(4, 0), (4, 1)], [(4, 2), (4, 3)], [(4, 4), (4, 5)]]
    loader.batch_sampler.skip = 2  # a run resumed after two batches of epoch 4
    assert list(loader.batch_sampler) == keys[2:]
    drawn = [source_indices(episodes[key][0]) for key in keys[2]]
    again = EpisodeDataset(identifiable_dataset(), shape, 6, seed=1)  # another process: the same episodes
    assert all(torch.equal(ids, source_indices(again[key][0])) for ids, key in zip(drawn, keys[2]))
    other_epoch = [source_indices(episodes[(5, index)][0]) for index in range(6)]
    other_seed = EpisodeDataset(identifiable_dataset(), shape, 6, seed=2)
    assert not torch.equal(source_indices(episodes[(4, 0)][0]), other_epoch[0])
    assert not torch.equal(source_indices(episodes[(4, 0)][0]), source_indices(other_seed[(4, 0)][0]))
    assert len({tuple(ids.flatten().tolist()) for ids in other_epoch}) == 6


def test_under_ddp_each_process_keys_its_share_of_the_episodes_by_epoch():
    episodes = EpisodeDataset(identifiable_dataset(), EpisodeShape(3, 2, 2), 8, seed=1)
    shares = [EpochBatches(DistributedSampler(episodes, num_replicas=2, rank=rank, shuffle=False), 2, drop_last=True)
              for rank in range(2)]
    for batches in shares:
        batches.sampler.set_epoch(3)
    assert [list(batches) for batches in shares] == [[[(3, 0), (3, 2)], [(3, 4), (3, 6)]],
                                                     [[(3, 1), (3, 3)], [(3, 5), (3, 7)]]]


def test_split_episode_groups_by_label_in_any_order():
    labels = torch.tensor([1, 0, 1, 0, 1, 0])
    images = torch.tensor([10.0, 0.0, 11.0, 1.0, 12.0, 2.0]).view(6, 1, 1, 1)
    support, query, query_labels = split_episode(images, labels, EpisodeShape(2, 1, 2))
    assert support.flatten().tolist() == [0.0, 10.0]
    assert query.flatten().tolist() == [1.0, 2.0, 11.0, 12.0] and query_labels.tolist() == [0, 0, 1, 1]


def test_too_many_ways_or_examples_are_clear_errors():
    meta = as_meta_dataset(identifiable_dataset())
    keys = ("task.ways", "task.shots", "task.queries")
    with pytest.raises(UserError, match="8-way episodes need 8 classes but the fake train split has 7: lower task.way"):
        check_episode_fits(meta, EpisodeShape(8, 1, 1), "fake train", keys)
    with pytest.raises(UserError, match=r"5 shots \+ 8 queries .* the 12 examples .* lower task.shots or task.queries"):
        check_episode_fits(meta, EpisodeShape(3, 5, 8), "fake train", keys)
    check_episode_fits(meta, EpisodeShape(7, 4, 8), "fake train", keys)
