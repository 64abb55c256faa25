"""Composing the Hydra config from command-line overrides, and checking it before training.

Every problem surfaces as a `UserError` whose message is one line naming the bad
key or value and the fix; the CLI prints it without a traceback.
"""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import norms
from suite.data import DATASETS
from suite.distributed import check_data_parallel
from suite.errors import UserError
from suite.paths import CONFIG_DIR
from suite.task import TASKS
from suite.tracking import resolve_mode

GROUPS = tuple(sorted(path.name for path in CONFIG_DIR.iterdir() if path.is_dir()))


def group_options(group: str) -> list[str]:
    """The options of a config group: the yaml files in configs/<group>/."""
    return sorted(path.stem for path in (CONFIG_DIR / group).glob("*.yaml"))


def check_group_choices(overrides: list[str]) -> None:
    """Reject ``group=option`` overrides whose option has no config file."""
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as error:
        raise UserError(f"cannot parse the overrides: {str(error).splitlines()[0]}; write them as key=value") from None
    for override in parsed:
        group = override.key_or_group
        if group not in GROUPS or override.is_sweep_override() or override.is_delete():
            continue
        value = override.value()
        if value is not None and str(value) not in group_options(group):
            raise UserError(f"unknown {group} '{value}': choose {group}= one of {', '.join(group_options(group))}")


def _one_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines)
    if "not in struct" in text or "Could not override" in text:
        key = text.split("'")[1] if "'" in text else "?"
        return f"unknown config key '{key}': check its spelling against configs/ (add new keys with +{key}=...)"
    return lines[0] if lines else type(error).__name__


def compose_config(overrides: list[str]) -> DictConfig:
    """The resolved run config for ``python -m suite <overrides>``."""
    check_group_choices(overrides)
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as error:
        raise UserError(_one_line(error)) from None
    return cfg


def _positive_int(cfg: DictConfig, key: str) -> None:
    value = OmegaConf.select(cfg, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"{key} must be a positive integer, got {value!r}")


def validate(cfg: DictConfig):
    """Check a composed config before anything trains; returns the task object."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise UserError(f"{missing[0]} is required: set {missing[0]}=...")
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as error:
        raise UserError(_one_line(error)) from None
    task = TASKS.get(cfg.task.name)()
    if cfg.norm.name not in norms.available():
        raise UserError(f"unknown norm '{cfg.norm.name}': set norm= one of {', '.join(norms.available())}")
    DATASETS.get(cfg.data.name)
    for key in ("data.batch_size", "data.eval_batch_size", "trainer.max_epochs"):
        _positive_int(cfg, key)
    if "num_groups" in cfg.norm:
        _positive_int(cfg, "norm.num_groups")
    if cfg.norm.get("eps", 1.0) <= 0:
        raise UserError(f"norm.eps must be positive, got {cfg.norm.eps}")
    try:  # every norm's own value checks (brn's r_max >= 1, ...), before anything is built
        norms.check_options(cfg.norm.name, **{k: v for k, v in cfg.norm.items() if k != "name"})
    except (TypeError, ValueError) as error:
        raise UserError(f"norm={cfg.norm.name}: {error}") from None
    resolve_mode(cfg.logger.mode)
    check_data_parallel(cfg)
    if cfg.resume is not None and not Path(cfg.resume).is_file():
        raise UserError(f"resume={cfg.resume} is not a file: point it at a run's checkpoints/<phase>/last.ckpt")
    task.validate(cfg)
    return task
