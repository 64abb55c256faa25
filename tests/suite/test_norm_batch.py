"""trainer.norm_batch_size: ghost batches applied by the engine to the model every task trains."""
import pytest
import pytorch_lightning as pl
import torch

import norms
from suite.config import validate
from suite.errors import UserError
from suite.norm_modes import norms_in_mode
from suite.session import RunSession

TINY = ["task=cls", "model.name=resnet10t", "data.batch_size=8", "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "data.image_size=16"]


def fit(make_config, *overrides):
    cfg = make_config(*TINY, *overrides)
    task = validate(cfg)
    pl.seed_everything(cfg.seed, verbose=False)
    with RunSession(cfg) as session:
        datamodule = task.datamodule(cfg)
        module = task.module(cfg, datamodule)
        metrics = session.fit_and_test(module, datamodule)
    return module, metrics


def test_norm_batch_wraps_every_batch_statistics_layer_and_changes_only_the_statistics(make_config):
    plain, plain_metrics = fit(make_config, "norm=bn")
    whole, whole_metrics = fit(make_config, "norm=bn", "trainer.norm_batch_size=8")
    ghost, ghost_metrics = fit(make_config, "norm=bn", "trainer.norm_batch_size=2")
    batch_norms = [module for module in plain.modules() if isinstance(module, norms.BatchNorm)]
    wrapped = [module for module in ghost.modules() if isinstance(module, norms.GhostBatch)]
    assert len(wrapped) == len(batch_norms) > 0 and all(layer.chunk_size == 2 for layer in wrapped)
    # k = the batch: the same function, bit for bit; k = 2: same steps and data, other statistics
    assert whole_metrics["train/loss"] == plain_metrics["train/loss"]
    assert ghost_metrics["train/loss"] != plain_metrics["train/loss"]
    assert int(ghost.network[1].bn1.norm.num_batches_tracked) == 3  # one running update per step
    # the test set is also scored on batch statistics (test/acc_train_mode); after 3 steps the running ones
    # are stale, so the two modes give other logits (the accuracies of a chance-level model may tie)
    assert "test/acc_train_mode" in ghost_metrics
    channels = next(layer for layer in ghost.network.modules() if isinstance(layer, torch.nn.Conv2d)).in_channels
    images = torch.rand(8, channels, 16, 16)
    ghost.network.eval()
    with torch.no_grad():
        running = ghost.network(images)
        with norms_in_mode(ghost.network, "train"):
            batch = ghost.network(images)
    assert not torch.allclose(running, batch)


def test_per_sample_norms_are_left_alone(make_config):
    module, metrics = fit(make_config, "norm=gn", "norm.num_groups=4", "trainer.norm_batch_size=2")
    assert not any(isinstance(layer, norms.GhostBatch) for layer in module.modules())
    assert "test/acc_train_mode" not in metrics  # no running statistics, nothing to compare


@pytest.mark.parametrize("value", [0, -2, "two"])
def test_a_bad_norm_batch_size_is_a_one_line_error(make_config, value):
    with pytest.raises(UserError, match="trainer.norm_batch_size must be"):
        validate(make_config(*TINY, f"trainer.norm_batch_size={value}"))
