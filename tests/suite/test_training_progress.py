"""The TrainingProgress callback gives norms the run's progress at every step, from a real Lightning fit, and
brn's warm-up follows it in a real suite run."""
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import norms
from norms.batch_renorm import BatchRenorm
from suite.engine import build_trainer
from suite.paths import CONFIG_DIR
from suite.run import run
from suite.training_progress import TrainingProgress


class Recorder(pl.LightningModule):
    """A linear layer and a brn; records the progress the brn holds at each training step."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 4), norms.build("brn", 4))
        self.seen = []

    def training_step(self, batch, batch_idx):
        self.seen.append(self.net[1].training_progress)
        return self.net(batch[0]).square().mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_progress_is_steps_done_over_total_steps(tmp_path):
    data = DataLoader(TensorDataset(torch.randn(20, 3)), batch_size=4)  # 5 steps per epoch
    module = Recorder()
    trainer = pl.Trainer(max_epochs=2, callbacks=[TrainingProgress()], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, data)
    assert module.seen == [step / 10 for step in range(10)]


def test_every_suite_trainer_has_the_callback(tmp_path):
    trainer_cfg = OmegaConf.load(CONFIG_DIR / "trainer" / "default.yaml")
    trainer = build_trainer(trainer_cfg, tmp_path / "checkpoints" / "fit", logger=None)
    assert any(isinstance(callback, TrainingProgress) for callback in trainer.callbacks)


def expected_bounds(progress: float, relax_start: float = 0.04, r_max_at: float = 0.3, d_max_at: float = 0.2):
    """brn's (r_max, d_max) at `progress` by the module docstring's schedule, written out independently:
    1 and 0 until relax_start, linear to 3 at r_max_at and to 5 at d_max_at, flat after."""
    def share(end):
        return min(1.0, max(0.0, (progress - relax_start) / (end - relax_start)))
    return 1.0 + 2.0 * share(r_max_at), 5.0 * share(d_max_at)


def test_brn_warm_up_follows_the_total_steps_of_a_real_suite_run(make_config, monkeypatch):
    """A cls run with brn through suite.run (2 epochs x 13 batches = 26 optimizer steps): at step s every brn
    layer normalizes with the bounds of progress s / 26, from (1, 0) at the start to the final (3, 5), so the
    fractions are of the whole run's steps (epochs included), as the trainer counts them."""
    seen = []
    bounds = BatchRenorm.current_bounds

    def recording(layer):
        value = bounds(layer)
        seen.append((layer.training_progress, value))
        return value

    monkeypatch.setattr(BatchRenorm, "current_bounds", recording)
    epochs, batches = 2, 13
    run(make_config("task=cls", "norm=brn", "model.name=resnet10t", "data.image_size=16", "data.batch_size=16",
                    f"trainer.max_epochs={epochs}", f"trainer.limit_train_batches={batches}",
                    "trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "run_id=brn-warmup"))
    total = epochs * batches
    progress = sorted({fraction for fraction, _ in seen})
    assert progress == pytest.approx([step / total for step in range(total)])  # every step, steps / run total
    for fraction, (r_max, d_max) in seen:
        assert (r_max, d_max) == pytest.approx(expected_bounds(fraction)), fraction
    by_step = {round(fraction * total): value for fraction, value in seen}
    assert by_step[0] == (1.0, 0.0) and by_step[1] == (1.0, 0.0)  # 1/26 < 0.04: still batch norm
    assert 1.0 < by_step[2][0] < 3.0 and 0.0 < by_step[2][1] < 5.0  # relaxing
    assert by_step[total - 1] == (3.0, 5.0)  # the paper's final bounds, reached inside the run
    assert [step for step in sorted(by_step) if by_step[step] == (3.0, 5.0)][0] == 8  # 8 / 26 >= 0.3 > 7 / 26
