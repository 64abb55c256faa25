"""The contract between the suite and a task."""
from __future__ import annotations

from typing import TYPE_CHECKING

from suite.data import build_datamodule
from suite.registry import Registry

if TYPE_CHECKING:
    from suite.data.module import ImageDataModule


class Task:
    """A task states only what differs: its checks, its data and its model.

    The default `run` fits and tests one LightningModule on the configured data; a
    task with several phases (search then retrain, say) overrides `run` and still
    trains through ``session.trainer``/``session.fit_and_test`` and reports through
    ``session.record``. `validate` raises `suite.errors.UserError` for input that
    cannot work, before anything trains.
    """

    #: whether ``model.init`` may start this task from a pre-trained run (its module names
    #: ``transfer_parts``; `suite.transfer`)
    accepts_init: bool = False

    #: whether ``trainer.compile=true`` works with the task's modules (`suite.acceleration`).
    supports_compile: bool = True

    def validate(self, cfg) -> None:
        """Task-specific configuration checks (default: none)."""

    def datamodule(self, cfg) -> ImageDataModule:
        return build_datamodule(cfg.data, cfg.seed)

    def module(self, cfg, datamodule):
        """The LightningModule to train (a `suite.module.TaskModule`)."""
        raise NotImplementedError

    def build_module(self, cfg, datamodule):
        """`module`, started from ``model.init`` when set, with the shared ``model`` options
        (``freeze_norm_stats``, ``backbone_lr_mult``) applied: what `run` trains."""
        from suite.transfer import prepared_module

        return prepared_module(self, cfg, datamodule)

    def run(self, cfg, session) -> dict[str, float]:
        datamodule = self.datamodule(cfg)
        return session.fit_and_test(self.build_module(cfg, datamodule), datamodule)


# ``task=<name>`` -> a `Task` subclass; plug-in packages (``tasks``) register their tasks here.
TASKS = Registry("task", "task")
