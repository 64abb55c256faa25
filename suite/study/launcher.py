"""Where a study's cells run: the Hydra launcher plugin the profile's ``launcher`` names.

- ``joblib`` (default): parallel processes on this machine (``n_jobs`` of them).
- ``submitit_local``: one submitit job (a local process) per cell, through hydra-submitit-launcher.
- ``submitit_slurm``: one Slurm job per cell. The profile's ``resources`` (and ``task_resources.<task>``
  on top) are that plugin's keys: ``gpus_per_node``, ``tasks_per_node``, ``cpus_per_task``,
  ``timeout_min``, ``partition``, ... A DDP cell (``trainer.strategy=ddp``) needs one Slurm task per
  process, ``tasks_per_node × nodes = trainer.devices × trainer.num_nodes``; Lightning joins them.

The cell's code does not know where it runs: the same ``python -m suite.study.cell -m ...`` sweep gets
other ``hydra/launcher`` overrides.
"""
from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

from omegaconf import OmegaConf

from suite.distributed import world_size
from suite.errors import UserError

LAUNCHERS = ("joblib", "submitit_local", "submitit_slurm")


def _queue_keys(launcher: str) -> set[str]:
    from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf

    queue = SlurmQueueConf if launcher == "submitit_slurm" else LocalQueueConf
    return {field.name for field in fields(queue)} - {"_target_", "submitit_folder"}


def cell_resources(profile, task: str) -> dict:
    """The launcher keys for `task`'s cells: ``resources`` then ``task_resources.<task>``; nulls dropped."""
    merged = {**OmegaConf.to_container(profile.get("resources") or OmegaConf.create({})),
              **OmegaConf.to_container(OmegaConf.select(profile, f"task_resources.{task}") or OmegaConf.create({}))}
    return {key: value for key, value in merged.items() if value is not None}


def check_launcher(profile) -> None:
    """One-line errors for an unknown ``launcher`` or a ``resources`` key that launcher does not take."""
    launcher = profile.get("launcher", "joblib")
    if launcher not in LAUNCHERS:
        raise UserError(f"unknown launcher '{launcher}': set launcher= one of {', '.join(LAUNCHERS)}")
    if launcher == "joblib":
        return
    allowed = _queue_keys(launcher)
    for task in profile.tasks:
        unknown = sorted(set(cell_resources(profile, task)) - allowed)
        if unknown:
            raise UserError(f"launcher={launcher} takes no resources.{unknown[0]}: use one of "
                            f"{', '.join(sorted(allowed))}")


def check_cell_fits(profile, task: str, cell_cfg) -> None:
    """A cell of several DDP processes needs as many Slurm tasks; elsewhere Lightning would have to re-launch
    a process that a launcher started (a joblib worker, a submitit job), which it cannot."""
    processes = world_size(cell_cfg.trainer)
    launcher = profile.get("launcher", "joblib")
    if processes == 1:
        return
    if launcher != "submitit_slurm":
        raise UserError(f"{task} cells run {processes} DDP processes: studies run those with launcher=submitit_slurm "
                        f"only; with launcher={launcher} set trainer.devices=1 in the profile's overrides")
    resources = cell_resources(profile, task)
    tasks = resources.get("tasks_per_node", 1) * resources.get("nodes", 1)
    if tasks != processes:
        raise UserError(f"{task} cells run {processes} DDP processes but get {tasks} Slurm tasks: set "
                        f"resources.tasks_per_node × resources.nodes = trainer.devices × trainer.num_nodes")


def launcher_overrides(profile, task: str, jobs: int, study_dir: Path) -> list[str]:
    """The Hydra overrides that send `task`'s sweep to the profile's launcher."""
    launcher = profile.get("launcher", "joblib")
    if launcher == "joblib":
        return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"]
    folder = study_dir / "submitit" / task / "%j"
    return [f"hydra/launcher={launcher}", f"hydra.launcher.submitit_folder={folder}",
            *(f"hydra.launcher.{key}={value}" for key, value in cell_resources(profile, task).items())]


def threads_per_cell(profile, task: str, jobs: int) -> int:
    """Torch threads of one cell: its ``cpus_per_task`` under submitit, else this machine's cores // jobs."""
    if profile.get("launcher", "joblib") != "joblib":
        return cell_resources(profile, task).get("cpus_per_task", 1)
    return max(1, (os.cpu_count() or 1) // jobs)
