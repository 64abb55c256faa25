"""Data-parallel runs (``trainer.strategy=ddp``): who the processes are, what they share, how they evaluate.

Lightning's DDP strategy re-launches ``python -m suite ...`` once per extra device; Slurm (``srun``)
starts every process itself. Each process composes the same config, so what the processes must agree on
before torch.distributed exists comes from the environment: the rank (``LOCAL_RANK``/``NODE_RANK`` from
Lightning, ``RANK`` from torchrun, ``SLURM_PROCID``) and the run id (``NORMSUITE_RUN_ID``, set by rank
0 before Lightning starts the others; ``slurm-<job>-<step>`` under srun). Rank 0 alone writes the run
directory, metrics.json, checkpoints and the W&B run.
"""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from suite.errors import UserError

if TYPE_CHECKING:
    from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler

RUN_ID_VARIABLE = "NORMSUITE_RUN_ID"
# What Lightning's launcher leaves in rank 0's environment; restored after the run, so a later run in the
# same process (a study worker) starts its own processes instead of joining finished ones.
LAUNCH_VARIABLES = (RUN_ID_VARIABLE, "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
STRATEGIES = ("auto", "ddp")


def world_size(trainer_cfg) -> int:
    """Processes of the run: ``trainer.devices × trainer.num_nodes`` under ddp, else 1."""
    if trainer_cfg.get("strategy", "auto") != "ddp":
        return 1
    return trainer_cfg.devices * trainer_cfg.get("num_nodes", 1)


def global_batch_size(cfg, per_device: int) -> int:
    """The batch one optimizer step sees: the per-device batch (what each norm sees) × the world size."""
    return per_device * world_size(cfg.trainer)


def _under_srun(trainer_cfg) -> bool:
    return world_size(trainer_cfg) > 1 and int(os.environ.get("SLURM_NTASKS", "1")) > 1


def global_rank(trainer_cfg) -> int:
    """This process's rank, known before Lightning sets up torch.distributed; 0 for a plain run."""
    environment = os.environ
    if "RANK" in environment:
        return int(environment["RANK"])
    if _under_srun(trainer_cfg):
        return int(environment["SLURM_PROCID"])
    devices = trainer_cfg.devices if isinstance(trainer_cfg.devices, int) else 1
    return int(environment.get("NODE_RANK", 0)) * devices + int(environment.get("LOCAL_RANK", 0))


def shared_run_id(trainer_cfg) -> str | None:
    """The run id chosen for all processes before they started, or None when this process chooses it."""
    if RUN_ID_VARIABLE in os.environ:
        return os.environ[RUN_ID_VARIABLE]
    if _under_srun(trainer_cfg):
        return f"slurm-{os.environ['SLURM_JOB_ID']}-{os.environ.get('SLURM_STEP_ID', '0')}"
    return None


def requeue_signal() -> int | None:
    """The signal with which submitit asks a job to stop before Slurm preempts it or its time limit ends
    (``--signal=USR2@signal_delay_s``; SIGUSR2 unless ``SUBMITIT_PREEMPT_SIGNAL`` names another), when this
    process is a submitit job (``SUBMITIT_FOLDER``, set by submitit's job runner); else None. A run stops
    on it as on SIGTERM (checkpoint, status interrupted); its study cell then hands it back to submitit,
    which requeues the job (`suite.study.cell.run_cell`)."""
    if "SUBMITIT_FOLDER" not in os.environ:
        return None
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


@contextmanager
def processes_share(run_id: str, trainer_cfg):
    """Around one run: pass `run_id` to the processes Lightning launches; afterwards restore the launch
    variables and close the process group."""
    saved = {name: os.environ.get(name) for name in LAUNCH_VARIABLES}
    if world_size(trainer_cfg) > 1:
        os.environ[RUN_ID_VARIABLE] = run_id
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def check_data_parallel(cfg) -> None:
    """One-line errors for ``trainer.strategy``, ``devices``, ``num_nodes`` and ``sync_norms``."""
    trainer = cfg.trainer
    if trainer.strategy not in STRATEGIES:
        raise UserError(f"trainer.strategy={trainer.strategy} is not supported: set trainer.strategy=auto "
                        f"(one process) or ddp")
    for key in ("devices", "num_nodes"):
        value = trainer[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"trainer.{key} must be a positive integer, got {value!r}")
    if (trainer.devices > 1 or trainer.num_nodes > 1) and trainer.strategy != "ddp":
        raise UserError(f"trainer.devices={trainer.devices} trainer.num_nodes={trainer.num_nodes} runs several "
                        f"processes: add trainer.strategy=ddp")
    if trainer.num_nodes > 1 and cfg.run_id is None and not _under_srun(trainer):
        raise UserError(f"trainer.num_nodes={trainer.num_nodes}: the machines' processes must share one run id; "
                        f"set run_id=NAME (under Slurm's srun the job id is used)")
    if not isinstance(trainer.sync_norms, bool):
        raise UserError(f"trainer.sync_norms must be true or false, got {trainer.sync_norms!r}")


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def evaluation_sampler(dataset) -> UnrepeatedDistributedSampler | None:
    """For val/test loaders: under DDP every sample goes to exactly one process (shards may differ by one,
    where Lightning's default sampler pads with duplicates); None (sequential) with one process."""
    if not _distributed():
        return None
    # Imported here: config checks import this module, and bad input is refused before Lightning loads.
    from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(dataset, shuffle=False)


def agreed_maximum(values: list[int], device: torch.device) -> list[int]:
    """The element-wise maximum of `values` over every process: one all-reduce, so every process calls it at
    the same point. Decisions that end in a collective (writing a checkpoint, stopping at a signal) are
    taken this way, so that no process enters a barrier the others never reach. `values` with one process."""
    if not _distributed():
        return values
    agreed = torch.tensor(values, dtype=torch.int64, device=device)
    dist.all_reduce(agreed, op=dist.ReduceOp.MAX)
    return agreed.tolist()


BY_RANK = "by_rank"


def every_rank(state):
    """Under DDP, ``{"by_rank": [each process's state, in rank order]}`` (one all-gather: every process calls
    it at the same point), so that the one checkpoint rank 0 writes holds every process's own state (its
    random states, its place in its shard); `state` itself with one process."""
    if not _distributed():
        return state
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, state)
    return {BY_RANK: gathered}


def own_state(saved):
    """This process's entry of what `every_rank` returned when the checkpoint was written (`saved` itself if
    one process wrote it)."""
    if not isinstance(saved, dict) or BY_RANK not in saved:
        return saved
    states = saved[BY_RANK]
    processes = dist.get_world_size() if _distributed() else 1
    if len(states) != processes:
        raise UserError(f"the checkpoint was written by {len(states)} processes and this run has {processes}: "
                        f"continue it with trainer.devices × trainer.num_nodes = {len(states)}")
    return states[dist.get_rank() if processes > 1 else 0]


def gather_concatenated(values: torch.Tensor) -> torch.Tensor:
    """Every process's 1-D `values` (lengths may differ), concatenated in rank order; `values` itself with
    one process."""
    if not _distributed():
        return values
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, values.cpu())
    return torch.cat(gathered)
