"""Weights & Biases: offline by default, one run per suite run, always finished.

``logger.mode``: ``auto`` (online when an API key is configured, else offline: runs
land under ``logger.save_dir``/wandb and ``wandb sync`` uploads them later),
``online``, ``offline`` or ``disabled``.
"""
from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path

from omegaconf import OmegaConf

from suite.distributed import global_batch_size, world_size
from suite.errors import UserError

MODES = ("auto", "online", "offline", "disabled")

log = logging.getLogger(__name__)


def has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def resolve_mode(mode: str) -> str:
    """The W&B mode a run uses; WANDB_MODE in the environment wins over ``auto``."""
    if mode not in MODES:
        raise UserError(f"logger.mode must be one of {', '.join(MODES)}, got '{mode}'")
    if mode != "auto":
        return mode
    return os.environ.get("WANDB_MODE") or ("online" if has_api_key() else "offline")


def batch_size(cfg) -> int:
    """The run's batch size on its task's own axis: the key ``task.batch_axis`` names (every
    configs/task/<task>.yaml declares it: ``data.batch_size``, or fsl's ``task.query_shots``)."""
    return OmegaConf.select(cfg, cfg.task.batch_axis)


def run_tags(cfg) -> list[str]:
    """Tags that let one W&B workspace slice runs by norm, groups and batch size."""
    tags = [f"task:{cfg.task.name}", f"norm:{cfg.norm.name}", f"batch:{batch_size(cfg)}", f"data:{cfg.data.name}"]
    if cfg.norm.get("channels_per_group") is not None:  # it wins over num_groups: G = C / K per layer
        tags.append(f"channels_per_group:{cfg.norm.channels_per_group}")
    elif "num_groups" in cfg.norm:
        tags.append(f"groups:{cfg.norm.num_groups}")
    return tags


def build_wandb_logger(cfg, run_id: str, run_dir: Path):
    """A Lightning `WandbLogger` grouped by ``logger.group`` (default: the task) with its W&B run
    started, or None when ``logger.mode=disabled``. W&B never stops a run: when the run cannot start
    (the network, the server, a full disk under ``logger.save_dir``) a warning says so and the run logs
    offline, or, failing that too, not at all; a failure later in the run is handled alike
    (`suite.wandb_logger.ResilientWandbLogger`). A resumed run (same `run_id`) continues the same W&B run."""
    mode = resolve_mode(cfg.logger.mode)
    if mode == "disabled":
        return None
    for attempt in dict.fromkeys((mode, "offline")):
        try:
            logger = _wandb_logger(cfg, run_id, run_dir, attempt)
            logger.experiment  # noqa: B018 - starts the W&B run now, where a failure can be handled
            return logger
        except Exception as error:  # noqa: BLE001 - any W&B failure: warn and carry on without it
            from suite.wandb_logger import one_line

            log.warning("W&B (%s) failed, %s: %s", attempt,
                        "logging offline instead" if attempt != "offline" else "logging to W&B is off for this run",
                        one_line(error))
    return None


def _wandb_logger(cfg, run_id: str, run_dir: Path, mode: str):
    from suite.wandb_logger import ResilientWandbLogger

    save_dir = Path(cfg.logger.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    return ResilientWandbLogger(
        project=cfg.logger.project, entity=cfg.logger.get("entity"), mode=mode, save_dir=str(save_dir),
        name=f"{cfg.task.name}-{cfg.norm.name}-bs{batch_size(cfg)}-s{cfg.seed}", id=run_id, resume="allow",
        group=cfg.logger.get("group") or cfg.task.name, job_type=cfg.task.name, tags=run_tags(cfg),
        config={**OmegaConf.to_container(cfg, resolve=True), "world_size": world_size(cfg.trainer),
                "global_batch_size": global_batch_size(cfg, batch_size(cfg))},
        notes=f"run dir: {run_dir}",
    )
