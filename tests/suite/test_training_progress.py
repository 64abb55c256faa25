"""The TrainingProgress callback gives norms the run's progress at every step, from a real Lightning fit."""
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import norms
from suite.engine import build_trainer
from suite.paths import CONFIG_DIR
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
