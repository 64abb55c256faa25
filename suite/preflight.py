"""Checks of the machine a run is about to use: the device, the output paths, W&B credentials, the
batch against batch-statistics norms. Each raises one `UserError` naming the key and the fix, and
none creates a file or directory that outlives it (a path is probed with a temporary file in its
nearest existing parent)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from norms.registry import build_with_group_rule
from suite.errors import UserError
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
