"""model.weight_standardization: every task's model config has it; when true, gn + WS trains a cls model."""
import logging

import pytest
import timm
from torch import nn

from suite.config import GROUPS, group_options
from suite.run import run
from suite.session import RunSession
from suite.weight_standardization import WeightStandardization


@pytest.mark.parametrize("task", group_options("task"))
@pytest.mark.parametrize("flag", [True, False])
def test_every_task_trainer_gets_the_callback_when_asked(make_config, task, flag):
    assert "model" in GROUPS
    cfg = make_config(f"task={task}", f"model.weight_standardization={str(flag).lower()}")
    trainer = RunSession(cfg).trainer()
    assert any(isinstance(callback, WeightStandardization) for callback in trainer.callbacks) == flag


def test_gn_with_weight_standardization_learns(make_config, caplog):
    cfg = make_config("norm=gn", "norm.num_groups=8", "model.name=resnet10t", "model.weight_standardization=true",
                      "trainer.max_epochs=2")
    with caplog.at_level(logging.INFO, logger="suite.weight_standardization"):
        metrics = run(cfg)
    convolutions = sum(isinstance(m, nn.Conv2d) for m in timm.create_model("resnet10t").modules())
    assert f"weight standardization on {convolutions} convolutions" in caplog.text  # every conv of the model
    assert metrics["test/acc"] > 0.6  # chance is 0.1
