"""Task `nas`: DARTS architecture search (Liu et al., 2019) with NNI 3, then retraining from scratch.

Search: the DARTS cell space (`tasks.search.darts_space`) with every norm built from ``norm=<name>``
(non-affine unless ``task.search_affine``), searched by NNI's first-order DARTS strategy in a
``NasExperiment``; curves ``search/*`` and the architecture weights ``prob/*`` go to the run's W&B
logger. Saved with the run: ``architecture.json`` (NNI's exported sample), ``architecture_weights.json``
(softmaxed weights per edge), ``cells.png`` (the normal and reduction cells). Retrain: the exported
cells in a fresh network with affine norms, trained and tested as a classifier (``test/acc``).
``task.retrain=false`` stops after search; ``task.arch=PATH`` retrains a saved architecture.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import pytorch_lightning as pl

import norms
from norms.groups import divisors
from nni.nas.evaluator.pytorch import Trainer as NasTrainer

from suite.checks import check_values, optional, positive_int, positive_number
from suite.distributed import world_size
from suite.errors import UserError
from suite.models import norm_layer_from_config
from suite.task import Task
from tasks.search.architecture import check_architecture, load_architecture, save_architecture, weight_rows
from tasks.search.cell_plot import plot_cells
from tasks.search.darts_search import run_darts_search
from tasks.search.darts_space import DARTS_OPS, DartsSpace, build_network, norm_channel_counts
from tasks.search.retrain_module import RetrainModule
from tasks.search.search_module import DartsSearchModule, search_loaders

log = logging.getLogger(__name__)

PHASES = ("search", "retrain")
GROUP_RULES = ("resolve", "strict")
AUXILIARY_MIN_SIZE = 8  # the auxiliary head pools 5x5 with stride 3, then convolves 2x2: 8x8 features at least


def phase_channel_counts(cfg, phase: str) -> list[int]:
    """The channel counts of every norm of the ``search`` or ``retrain`` network."""
    model = cfg.model[phase]
    return norm_channel_counts(model.width, model.num_cells, cfg.model.stem_multiplier,
                               auxiliary=phase == "retrain" and model.auxiliary)


def check_group_counts(cfg) -> None:
    """``strict``: norm.num_groups must divide every norm's channels; ``resolve``: log what each gets."""
    num_groups = cfg.norm.get("num_groups")
    per_group = cfg.norm.get("channels_per_group")
    if per_group is not None and cfg.task.group_rule != "resolve":  # K wins: it must divide every count
        for phase in PHASES:
            for channels in phase_channel_counts(cfg, phase):
                if channels % per_group:
                    raise UserError(f"norm.channels_per_group={per_group} does not divide the {channels} channels "
                                    f"of a norm in the {phase} network: set it to one of "
                                    f"{divisors(math.gcd(*phase_channel_counts(cfg, phase)))}, or use "
                                    f"task.group_rule=resolve")
        return
    if num_groups is None or per_group is not None:
        return
    for phase in PHASES:
        counts, width = phase_channel_counts(cfg, phase), cfg.model[phase].width
        if cfg.task.group_rule == "resolve":
            log.info("%s network, norm %s: channels -> groups (requested %d): %s", phase, cfg.norm.name,
                     num_groups, {c: norms.resolve_groups(c, num_groups) for c in counts})
            continue
        if counts[0] < num_groups:
            raise UserError(f"model.{phase}.width={width} gives norms of {counts[0]} channels, fewer than "
                            f"norm.num_groups={num_groups}: set model.{phase}.width to a multiple of {num_groups}, "
                            f"lower norm.num_groups, or use task.group_rule=resolve")
        for channels in counts:
            if channels % num_groups:
                common = divisors(math.gcd(*counts))
                raise UserError(f"norm.num_groups={num_groups} does not divide the {channels} channels of a norm in "
                                f"the {phase} network (model.{phase}.width={width}): set norm.num_groups to one of "
                                f"{common}, or use task.group_rule=resolve")


def check_model(cfg) -> None:
    model = cfg.model
    unknown = sorted(set(model.operations) - set(DARTS_OPS))
    if unknown or not model.operations:
        raise UserError(f"model.operations has {unknown or 'nothing'}: choose from {', '.join(DARTS_OPS)}")
    check_values(cfg, {key: positive_int for key in ("num_nodes", "stem_multiplier", "input_pool", *(
        f"{phase}.{size}" for phase in PHASES for size in ("width", "num_cells")))}, prefix="model")
    for phase in PHASES:
        if model[phase].num_cells < 3:
            raise UserError(f"model.{phase}.num_cells={model[phase].num_cells}: DARTS needs at least 3 "
                            f"(two reduction cells); set model.{phase}.num_cells=3 or more")
    size = cfg.data.image_size // model.input_pool
    if size < 1:
        raise UserError(f"model.input_pool={model.input_pool} exceeds data.image_size={cfg.data.image_size}")
    if model.retrain.auxiliary and math.ceil(size / 4) < AUXILIARY_MIN_SIZE:
        raise UserError(f"the auxiliary head needs {AUXILIARY_MIN_SIZE}x{AUXILIARY_MIN_SIZE} features after two "
                        f"reductions, got {math.ceil(size / 4)}x{math.ceil(size / 4)}: set model.retrain.auxiliary="
                        f"false or lower model.input_pool")


def read_architecture(cfg) -> dict:
    """``task.arch`` loaded and checked against the configured space (UserError otherwise)."""
    path = Path(cfg.task.arch)
    if not path.is_file():
        raise UserError(f"task.arch={path} is not a file: point it at a run's architecture.json")
    try:
        architecture = load_architecture(path)
        check_architecture(architecture, cfg.model.num_nodes, tuple(cfg.model.operations))
    except ValueError as error:  # JSONDecodeError is a ValueError
        raise UserError(f"task.arch={path} does not fit the space (model.num_nodes={cfg.model.num_nodes}, "
                        f"model.operations): {str(error).splitlines()[0]}") from None
    return architecture


class NasTask(Task):
    """Search (NNI DARTS) -> exported architecture -> retrain from scratch -> test accuracy."""

    # NNI's DARTS strategy trains its own wrapper of the model space (mutable choices), which
    # trainer.compile would not reach.
    supports_compile = False

    def validate(self, cfg) -> None:
        if world_size(cfg.trainer) > 1:
            raise UserError("task=nas runs in one process: NNI's DARTS search runs inside an NNI experiment, which "
                            "each DDP process Lightning re-launches would start on its own; set trainer.devices=1 "
                            "trainer.num_nodes=1 trainer.strategy=auto")
        if cfg.task.group_rule not in GROUP_RULES:
            raise UserError(f"task.group_rule must be one of {', '.join(GROUP_RULES)}, got {cfg.task.group_rule!r}")
        check_values(cfg, {"search_epochs": positive_int, "retrain_epochs": positive_int,
                           "search_batch_size": optional(positive_int), "arc_learning_rate": positive_number},
                     prefix="task")
        if cfg.task.arch is not None and not cfg.task.retrain:
            raise UserError("task.arch=PATH with task.retrain=false has nothing to do: drop one of them")
        check_model(cfg)
        check_group_counts(cfg)
        if cfg.task.arch is not None:
            read_architecture(cfg)

    def network(self, cfg, splits, phase: str, architecture: dict | None = None) -> DartsSpace:
        """The search space (``phase="search"``) or the fixed network of ``architecture`` (``"retrain"``)."""
        search = phase == "search"
        norm_cfg = cfg.norm.copy()
        if "affine" in norm_cfg:
            norm_cfg.affine = bool(cfg.task.search_affine) if search else True
        model = cfg.model[phase]
        kwargs = dict(in_channels=splits.in_channels, num_classes=splits.num_classes,
                      norm_layer=norm_layer_from_config(norm_cfg), width=model.width, num_cells=model.num_cells,
                      num_nodes=cfg.model.num_nodes, stem_multiplier=cfg.model.stem_multiplier,
                      input_pool=cfg.model.input_pool, pool_norm=search, input_mean=splits.mean,
                      input_std=splits.std, operations=tuple(cfg.model.operations))
        if search:
            return DartsSpace(**kwargs)
        return build_network(architecture, auxiliary=model.auxiliary, drop_path_prob=cfg.task.drop_path_prob,
                             **kwargs)

    def search(self, cfg, session, splits) -> dict:
        """Run DARTS, record the final search metrics, save and log the architecture weights."""
        batch_size = cfg.task.search_batch_size or cfg.data.batch_size
        module = DartsSearchModule(splits.num_classes, cfg.task.search_optim, batch_size)
        # NNI's one-shot module optimizes manually and clips through the strategy, not the trainer.
        # NNI's DARTS strategy has no state_dict: an interrupted search restarts, so it writes no checkpoint.
        trainer = session.trainer("search", checkpoints=False, trainer_class=NasTrainer,
                                  max_epochs=cfg.task.search_epochs, gradient_clip_val=None)
        train_loader, val_loader = search_loaders(splits, batch_size, cfg.seed)
        architecture, edge_weights = run_darts_search(
            self.network(cfg, splits, "search"), module, trainer, train_loader, val_loader,
            session.run_dir / "nni", cfg.task.arc_learning_rate, cfg.task.search_gradient_clip)
        session.record({key: value for key, value in trainer.callback_metrics.items() if key.startswith("search/")})
        weights_path = session.run_dir / "architecture_weights.json"
        save_architecture(edge_weights, weights_path)
        session.add_artifact("architecture_weights", weights_path)
        if session.wandb_run is not None:
            import wandb

            table = wandb.Table(columns=["cell", "node", "input", "operation", "weight"], data=weight_rows(edge_weights))
            session.with_wandb(lambda run: run.log({"search/architecture_weights": table}))
        return architecture

    def searched_before(self, cfg, session, path: Path) -> dict | None:
        """The architecture an earlier attempt of this run searched (``resume=auto``), or None: none, or a
        damaged architecture.json (reported with its path; the search runs again)."""
        if cfg.resume != "auto" or "architecture" not in session.artifacts or not path.is_file():
            return None
        try:
            return load_architecture(path)
        except (ValueError, UnicodeDecodeError) as error:
            log.warning("%s is corrupt (%s): searching again", path, error)
            return None

    def save_architecture(self, cfg, session, architecture: dict) -> None:
        """architecture.json and cells.png in the run directory (and the picture in W&B)."""
        session.add_artifact("architecture", save_architecture(architecture, session.run_dir / "architecture.json"))
        picture = plot_cells(architecture, cfg.model.num_nodes, session.run_dir / "cells.png")
        session.add_artifact("cells", picture)
        if session.wandb_run is not None:
            import wandb

            session.with_wandb(lambda run: run.log({"architecture/cells": wandb.Image(str(picture))}))

    def run(self, cfg, session) -> dict[str, float]:
        datamodule = self.datamodule(cfg)
        splits = datamodule.splits
        searched = session.run_dir / "architecture.json"
        if cfg.task.arch is not None:
            architecture = read_architecture(cfg)
        else:
            architecture = self.searched_before(cfg, session, searched) or self.search(cfg, session, splits)
        self.save_architecture(cfg, session, architecture)
        # The retrain starts from the same random state whether the search ran in this process or not.
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        if not cfg.task.retrain:
            return dict(session.metrics)
        network = self.network(cfg, splits, "retrain", architecture)
        module = RetrainModule(network, splits.num_classes, cfg.task.optim, cfg.data.batch_size,
                               cfg.task.label_smoothing, cfg.task.auxiliary_weight, cfg.task.drop_path_prob,
                               cfg.task.cutout_length)
        session.fit_and_test(module, datamodule, phase="retrain", max_epochs=cfg.task.retrain_epochs)
        return dict(session.metrics)
