"""Checks of the machine a run is about to use: the device, the output paths, the run directory a
``run_id=`` names, W&B credentials, the batch against batch-statistics norms. Each raises one `UserError` naming the key and the fix, and
none creates a file or directory that outlives it (a path is probed with a temporary file in its
nearest existing parent)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from norms.registry import build_with_group_rule
from suite.distributed import global_rank, shared_run_id, world_size
from suite.errors import UserError
from suite.locks import lock_holder, run_lock
from suite.results import CorruptFile, read_metrics, run_directory
from suite.tracking import has_api_key, resolve_mode

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def check_accelerator(trainer_cfg) -> None:
    """``trainer.accelerator`` names a device this machine has, and ``trainer.devices`` fits."""
    accelerator = trainer_cfg.accelerator
    if accelerator not in ACCELERATORS:
        raise UserError(f"trainer.accelerator must be one of {', '.join(ACCELERATORS)}, got {accelerator!r}")
    if accelerator in ("gpu", "cuda"):
        count = torch.cuda.device_count()
        if count == 0:
            raise UserError(f"trainer.accelerator={accelerator} but this machine has no CUDA GPU: "
                            f"set trainer.accelerator=cpu (or auto)")
        if isinstance(trainer_cfg.devices, int) and trainer_cfg.devices > count:
            raise UserError(f"trainer.devices={trainer_cfg.devices} but this machine has {count} GPU(s): "
                            f"set trainer.devices={count} or fewer")
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise UserError("trainer.accelerator=mps but MPS is not available here: set trainer.accelerator=cpu (or auto)")


def check_writable_dir(key: str, path) -> None:
    """`path` is, or can become, a directory this process can write into; nothing is left behind."""
    target = Path(path).expanduser().absolute()
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{key}={path} lies below the file {existing}, not a directory: set {key} to a directory")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".normsuite-write-probe-")
    except OSError as error:
        raise UserError(f"{key}={path} is not writable ({existing}: {error.strerror}): "
                        f"set {key} to a directory you can write") from None
    os.close(handle)
    os.unlink(probe)


def check_run_directory(cfg) -> None:
    """A ``run_id=`` may name a new run or an unfinished one (``resume=auto`` continues it), not a
    finished run (its results would be overwritten), one a live process is running, or one whose
    metrics.json is corrupt (with ``resume=auto``: its earlier metrics cannot be continued), nor continue
    with another number of DDP processes than its checkpoint was written by (each holds its own place in
    its shard of the data)."""
    run_id = cfg.run_id or shared_run_id(cfg.trainer)
    if run_id is None or global_rank(cfg.trainer) != 0:  # DDP's other ranks join rank 0's run
        return
    directory = run_directory(cfg, run_id)
    holder = lock_holder(directory)
    if holder is not None:
        raise run_lock(directory, run_id).refusal(holder)
    path = directory / "metrics.json"
    if not path.is_file():
        return
    try:
        record = read_metrics(path)
    except CorruptFile as error:
        if cfg.resume == "never":
            return  # the run starts again and writes a new one
        raise UserError(f"run_id={run_id}: {error} (resume=never restarts the run)") from None
    status = record["status"]
    if status == "finished":
        raise UserError(f"run_id={run_id} is a finished run ({directory}): choose a fresh run_id (or none), or "
                        f"start a new run from its weights with resume=<its checkpoints/<phase>/last.ckpt>")
    processes, before = world_size(cfg.trainer), record.get("world_size", 1)
    if cfg.resume == "auto" and processes != before and any(directory.glob("checkpoints/*/last.ckpt")):
        raise UserError(f"run_id={run_id} ran with {before} DDP process(es) and would continue with {processes}: "
                        f"set trainer.devices × trainer.num_nodes = {before} to continue it, or resume=never")


def check_wandb(logger_cfg) -> None:
    """An online W&B run needs credentials: refuse at once instead of hanging on the network."""
    mode = resolve_mode(logger_cfg.mode)
    if mode != "online" or has_api_key():
        return
    source = "logger.mode=online" if logger_cfg.mode == "online" else f"WANDB_MODE={os.environ.get('WANDB_MODE')}"
    raise UserError(f"{source} needs a W&B API key and none is configured: run `wandb login` or set "
                    f"WANDB_API_KEY, or log offline with logger.mode=offline")


def check_batch_statistics(norm_cfg, batch: int, key: str) -> None:
    """A batch of `batch` images must give the norm more than one value per statistic on a 1x1
    feature map (a network's last features): probed with the norm itself, at batch `batch` and 2."""
    if batch >= 2:
        return
    options = {k: v for k, v in norm_cfg.items() if k != "name"}

    def fails(size: int) -> bool:
        layer = build_with_group_rule(norm_cfg.name, 64, "the batch check", **options).train()
        try:
            return not bool(torch.isfinite(layer(torch.randn(size, 64, 1, 1))).all())
        except (ValueError, RuntimeError):
            return True

    if fails(batch) and not fails(2):
        raise UserError(f"{key}={batch} with norm={norm_cfg.name}: batch statistics of {batch} image(s) "
                        f"have one value each; set {key}=2 or more, or use a per-sample norm (norm=gn)")
