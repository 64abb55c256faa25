"""Composing the Hydra config from command-line overrides, and checking it before training.

Every problem surfaces as a `UserError` whose message is one line naming the bad
key or value and the fix; the CLI prints it without a traceback.
"""
from __future__ import annotations


from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import norms
from suite.checks import (boolean, check_values, limit_batches, non_negative_int, non_negative_number, number_in,
                          one_of, optional, positive_int, positive_number)
from suite.data import DATASETS
from suite.distributed import check_data_parallel
from suite.errors import UserError
from suite.paths import CONFIG_DIR
from suite.task import TASKS
from suite.transfer import check_transfer_options
from suite.resume import resume_value
from suite.preflight import (check_accelerator, check_batch_statistics, check_run_directory, check_wandb,
                             check_writable_dir)
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


def _one_line(error: Exception, overrides: list[str]) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = " ".join(lines)
    if "not in struct" in text or "Could not override" in text:
        key = text.split("'")[1] if "'" in text else "?"
        given = [override.split("=", 1)[1] for override in overrides if override.split("=", 1)[0] == key]
        if given and given[-1].lstrip().startswith("{"):  # a mapping with keys the config's mapping lacks
            return f"'{key}' has no such entries yet: add them with ++{key}={given[-1]}"
        return f"unknown config key '{key}': check its spelling against configs/ (add new keys with +{key}=...)"
    return lines[0] if lines else type(error).__name__


def compose_config(overrides: list[str]) -> DictConfig:
    """The resolved run config for ``python -m suite <overrides>``."""
    check_group_choices(overrides)
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as error:
        raise UserError(_one_line(error, overrides)) from None
    return cfg


# Every key a user may type that the suite itself reads (tasks add theirs in `Task.validate`).
RULES = {
    "seed": non_negative_int,
    "run_id": optional(lambda value: None if isinstance(value, str) and value and "/" not in value
                       else "a name without '/'"),
    "resume": resume_value,
    "data.batch_size": positive_int,
    "data.eval_batch_size": positive_int,
    "data.num_workers": non_negative_int,
    "data.split_seed": non_negative_int,
    "data.image_size": positive_int,
    "trainer.max_epochs": positive_int,
    "trainer.devices": positive_int,
    "trainer.num_nodes": positive_int,
    "trainer.deterministic": boolean,
    "trainer.gradient_clip_val": optional(positive_number),
    "trainer.log_every_n_steps": positive_int,
    "trainer.limit_train_batches": limit_batches,
    "trainer.limit_val_batches": limit_batches,
    "trainer.limit_test_batches": limit_batches,
    "trainer.checkpoint_every_min": optional(positive_number),
    "trainer.norm_batch_size": optional(positive_int),  # ghost batches (suite/norm_batch.py)
    "trainer.compile": boolean,
    "trainer.channels_last": boolean,
    "trainer.compile_backend": one_of("inductor", "aot_eager", "eager", "cudagraphs"),  # torch.compile's own
    "model.freeze_norm_stats": boolean,  # model.init and its options (suite/transfer.py)
    "model.backbone_lr_mult": non_negative_number,
    "norm.num_groups": positive_int,
    "norm.eps": positive_number,
    "norm.momentum": optional(number_in(0.0, 1.0)),
}
# Every optimizer node (task.optim, nas's task.search_optim, ...).
OPTIM_RULES = {
    "lr": positive_number,
    "momentum": number_in(0.0, 1.0, high_open=True),
    "weight_decay": non_negative_number,
    "warmup_fraction": number_in(0.0, 1.0, high_open=True),
    "base_batch_size": positive_int,
    "scale_lr": boolean,
}


def optimizer_nodes(cfg: DictConfig) -> list[str]:
    """Keys of the task's optimizer nodes: every ``task.*`` mapping with an ``lr``."""
    return [f"task.{key}" for key, node in cfg.task.items() if OmegaConf.is_dict(node) and "lr" in node]


def check_data_serves_task(cfg: DictConfig) -> None:
    """A dataset builder may declare ``builder.tasks``, the only tasks it serves (the few-shot
    benchmarks: their configs refer to keys only those tasks have, so this comes before resolving)."""
    allowed = getattr(DATASETS.get(cfg.data.name), "tasks", None)
    if allowed is not None and cfg.task.name not in allowed:
        raise UserError(f"data={cfg.data.name} cannot be used with task={cfg.task.name}: use it with "
                        f"task={' or task='.join(allowed)}, or pick another data=")


def check_data_files(cfg: DictConfig) -> None:
    """``builder.check(data_cfg)``, a dataset's cheap look at its files (image headers), if it has one."""
    check = getattr(DATASETS.get(cfg.data.name), "check", None)
    if check is not None:
        check(cfg.data)


def check_machine(cfg: DictConfig) -> None:
    """The device and the output directories the run would use (W&B credentials: first in `validate`)."""
    check_accelerator(cfg.trainer)
    check_writable_dir("paths.runs", cfg.paths.runs)
    check_run_directory(cfg)
    if resolve_mode(cfg.logger.mode) != "disabled":
        check_writable_dir("logger.save_dir", cfg.logger.save_dir)


def check_compile_support(cfg: DictConfig, task) -> None:
    """``trainer.compile=true`` only for a task that supports it (`suite.task.Task.supports_compile`)."""
    if cfg.trainer.compile and not task.supports_compile:
        raise UserError(f"trainer.compile=true does not work with task={cfg.task.name}; set trainer.compile=false")


def validate(cfg: DictConfig):
    """Check a composed config before anything trains or any run directory exists; returns the task
    object. Order: W&B credentials (before the task's module loads its libraries, seconds of imports),
    structure, value types and ranges (`RULES`), names, task rules, then the machine."""
    check_wandb(cfg.logger)
    task = TASKS.get(cfg.task.name)()
    check_data_serves_task(cfg)
    try:
        missing = sorted(OmegaConf.missing_keys(cfg))
        if missing:
            raise UserError(f"{missing[0]} is required: set {missing[0]}=...")
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as error:
        raise UserError(_one_line(error, overrides)) from None
    if cfg.norm.name not in norms.available():
        raise UserError(f"unknown norm '{cfg.norm.name}': set norm= one of {', '.join(norms.available())}")
    check_values(cfg, RULES)
    for node in optimizer_nodes(cfg):
        check_values(cfg, OPTIM_RULES, prefix=node)
    try:  # every norm's own value checks (brn's r_max >= 1, ...), before anything is built
        norms.check_options(cfg.norm.name, **{k: v for k, v in cfg.norm.items() if k != "name"})
    except (TypeError, ValueError) as error:
        raise UserError(f"norm={cfg.norm.name}: {error}") from None
    resolve_mode(cfg.logger.mode)
    check_data_parallel(cfg)
    check_compile_support(cfg, task)
    check_data_files(cfg)
    check_transfer_options(cfg, task)
    task.validate(cfg)
    axis = cfg.task.batch_axis  # every task config declares it
    if axis == "data.batch_size":
        check_batch_statistics(cfg.norm, cfg.data.batch_size, axis)
    check_machine(cfg)
    return task
