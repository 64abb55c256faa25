"""Task `fsl`: prototypical few-shot learning (Snell et al. 2017) on learn2learn episodes.

Train episodically (``task.train_ways``-way, ``task.shots``-shot, ``task.query_shots`` queries per
class, ``task.tasks_per_step`` episodes per step), validate on val episodes, and report the mean
accuracy over ``task.test_episodes`` test episodes of unseen classes with its 95% confidence interval.
"""
from __future__ import annotations

import logging

import pytorch_lightning as pl
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader

from suite.checkpoints import ResumableLoader
from suite.checks import check_values, positive_int
from suite.distributed import evaluation_sampler
from suite.errors import UserError
from suite.models import InputNormalization, norm_layer_from_config
from suite.task import Task
from tasks.fewshot.backbones import BACKBONES, build_backbone
from tasks.fewshot.datasets import EpisodicSplits, build_episodic_splits, episodic_builder
from tasks.fewshot.episodes import EpisodeDataset, EpisodeShape, EpochBatches, EpochSampler, check_episode_fits
from tasks.fewshot.module import PrototypicalModule
from tasks.fewshot.norm_mode import EVAL_NORM_MODES
from tasks.fewshot.protonet import DISTANCES

log = logging.getLogger(__name__)

COUNT_KEYS = ("train_ways", "test_ways", "shots", "test_shots", "query_shots", "test_query_shots",
              "tasks_per_step", "train_episodes", "val_episodes", "test_episodes")
TRAIN_KEYS = ("task.train_ways", "task.shots", "task.query_shots")
EVAL_KEYS = ("task.test_ways", "task.test_shots", "task.test_query_shots")


class EpisodeDataModule(pl.LightningDataModule):
    """Loaders of episodes: fresh random train episodes each epoch (seeded by `run_seed`, the epoch and
    their position, so a resumed run trains on the same ones), the same val and test episodes in every
    run (seeded by ``task.episode_seed``). Checks that every split holds its episodes."""

    def __init__(self, splits: EpisodicSplits, task_cfg, num_workers: int, run_seed: int):
        super().__init__()
        self.splits = splits
        self.task_cfg = task_cfg
        self.num_workers = num_workers
        train_shape = EpisodeShape(task_cfg.train_ways, task_cfg.shots, task_cfg.query_shots)
        eval_shape = EpisodeShape(task_cfg.test_ways, task_cfg.test_shots, task_cfg.test_query_shots)
        self.episodes = {}
        for stage, dataset, shape, count, seed, keys in (
                ("train", splits.train, train_shape, task_cfg.train_episodes, run_seed, TRAIN_KEYS),
                ("val", splits.val, eval_shape, task_cfg.val_episodes, task_cfg.episode_seed, EVAL_KEYS),
                ("test", splits.test, eval_shape, task_cfg.test_episodes, task_cfg.episode_seed + 1, EVAL_KEYS)):
            episodes = EpisodeDataset(dataset, shape, count, seed)
            check_episode_fits(episodes.tasks.dataset, shape, f"{splits.name} {stage}", keys)
            self.episodes[stage] = episodes

    def _workers(self) -> dict:
        return dict(num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> ResumableLoader:
        episodes = self.episodes["train"]
        batches = EpochBatches(EpochSampler(episodes), self.task_cfg.tasks_per_step, drop_last=True)
        return ResumableLoader(episodes, batch_sampler=batches, **self._workers())

    def _evaluation_loader(self, stage: str) -> DataLoader:
        episodes = self.episodes[stage]
        return DataLoader(episodes, batch_size=1, sampler=evaluation_sampler(episodes), **self._workers())

    def val_dataloader(self) -> DataLoader:
        return self._evaluation_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._evaluation_loader("test")


class FewShotTask(Task):
    """Prototypical networks with a Conv-4 or ResNet-12 backbone and the configured norm."""

    accepts_init = True

    def validate(self, cfg) -> None:
        task = cfg.task
        check_values(cfg, dict.fromkeys(COUNT_KEYS, positive_int), prefix="task")
        for key in ("train_ways", "test_ways"):
            if task[key] < 2:
                raise UserError(f"task.{key}={task[key]}: an episode needs at least 2 classes, set it to 2 or more")
        if task.test_episodes < 2:
            raise UserError("task.test_episodes must be at least 2 for a confidence interval (the protocol uses 600)")
        choices = (("distance", DISTANCES), ("eval_norm_mode", EVAL_NORM_MODES))
        for key, allowed in choices:
            if task[key] not in allowed:
                raise UserError(f"unknown task.{key} '{task[key]}': choose one of {', '.join(allowed)}")
        if cfg.model.name not in BACKBONES:
            raise UserError(f"unknown few-shot backbone model.name='{cfg.model.name}': choose one of "
                            f"{', '.join(BACKBONES)}")
        episodic_builder(cfg.data.name)
        if cfg.data.name in ("digits", "mnist5k"):
            self.validate_digit_classes(task.digits)

    @staticmethod
    def validate_digit_classes(split) -> None:
        train, test = set(split.train_classes), set(split.test_classes)
        if not train | test <= set(range(10)) or train & test:
            raise UserError(f"task.digits.train_classes {sorted(train)} and test_classes {sorted(test)} must be "
                            f"disjoint sets of digits 0-9")
        if not 0.0 < split.val_fraction < 1.0:
            raise UserError(f"task.digits.val_fraction must be in (0, 1), got {split.val_fraction}")

    def datamodule(self, cfg) -> EpisodeDataModule:
        splits = build_episodic_splits(cfg)
        log.info("fsl on %s: val episodes from %s; eval_norm_mode=%s", splits.name, splits.val_note,
                 cfg.task.eval_norm_mode)
        return EpisodeDataModule(splits, cfg.task, cfg.data.num_workers, cfg.seed)

    def module(self, cfg, datamodule: EpisodeDataModule) -> PrototypicalModule:
        splits = datamodule.splits
        channels = cfg.model.channels
        backbone = build_backbone(cfg.model.name, splits.in_channels, norm_layer_from_config(cfg.norm),
                                  OmegaConf.to_object(channels) if OmegaConf.is_config(channels) else channels)
        network = nn.Sequential(InputNormalization(splits.mean, splits.std), backbone)
        return PrototypicalModule(network, cfg.task.distance, cfg.task.eval_norm_mode, cfg.task.optim,
                                  cfg.task.tasks_per_step)

    def run(self, cfg, session) -> dict[str, float]:
        metrics = super().run(cfg, session)
        # The full config is in W&B too; the summary makes it a column.
        session.with_wandb(lambda run: run.summary.update({"eval_norm_mode": cfg.task.eval_norm_mode}))
        return metrics
