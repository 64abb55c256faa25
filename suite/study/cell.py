"""One study cell as a Hydra multirun job: ``python -m suite.study.cell -m <sweep overrides>``.

The study runner launches one such sweep per task (Hydra's joblib launcher runs the
cells in parallel processes). Each job:

- skips a cell whose metrics.json already says ``finished`` (restartable studies);
- otherwise runs it with `suite.run.run`, using ``cores // n_jobs`` torch threads so
  parallel cells do not oversubscribe the cores;
- catches every exception, so one failed cell never stops the sweep, and makes sure
  the failure is on disk: `RunSession` writes metrics.json for failures inside a run,
  this job writes it for those before the session starts (a config the task rejects,
  a task module that does not exist yet).
"""
from __future__ import annotations

import os
import sys
import traceback

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from suite.config import CONFIG_DIR
from suite.results import CorruptFile, read_metrics, write_json_atomic
from suite.run import run
from suite.session import RunSession
from suite.tracking import batch_size


def threads_per_cell() -> int:
    """A submitit job's ``cpus_per_task``, else all cores divided among the launcher's parallel jobs
    (at least one each)."""
    launcher = HydraConfig.get().launcher
    if launcher.get("cpus_per_task"):
        return launcher.cpus_per_task
    n_jobs = launcher.get("n_jobs") or 1
    cores = os.cpu_count() or 1
    return max(1, cores // n_jobs) if n_jobs > 0 else 1


def cell_status(metrics_path) -> str | None:
    """The status in a cell's metrics.json: None without one, ``corrupt`` (reported with its path) for
    one that cannot be read, whose cell then runs again."""
    if not metrics_path.is_file():
        return None
    try:
        return read_metrics(metrics_path)["status"]
    except CorruptFile as error:
        print(f"  {error}: its cell runs again", flush=True)
        return "corrupt"


def is_finished(metrics_path) -> bool:
    return cell_status(metrics_path) == "finished"


def has_landed(metrics_path) -> bool:
    """The cell's run has ended (a run writes ``running`` when it starts)."""
    return cell_status(metrics_path) not in (None, "running", "corrupt")


def failure_record(cfg: DictConfig, error: Exception) -> dict:
    """metrics.json for a cell that failed before its `RunSession` could write one."""
    return {
        "status": "failed",
        "error": f"{type(error).__name__}: {' '.join(str(error).split())}",
        "run_id": cfg.run_id,
        "task": cfg.task.name,
        "norm": cfg.norm.name,
        "batch_size": batch_size(cfg),
        "seed": cfg.seed,
        "main_metric": OmegaConf.select(cfg, "task.main_metric"),
        "metrics": {},
    }


def run_cell(cfg: DictConfig, threads: int) -> str:
    """Run one cell with `threads` torch threads unless it is finished; returns its
    status: finished, skipped or failed."""
    metrics_path = RunSession(cfg).run_dir / "metrics.json"
    if is_finished(metrics_path):
        return "skipped"
    metrics_path.unlink(missing_ok=True)  # a failed attempt's record; this attempt writes its own
    torch.set_num_threads(threads)
    try:
        run(cfg)
    except Exception as error:  # noqa: BLE001 - a failed cell is a result; the sweep goes on
        traceback.print_exc(file=sys.stderr)
        if not metrics_path.is_file():
            write_json_atomic(metrics_path, failure_record(cfg, error))
        return "failed"
    return "finished"


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_cell(cfg, threads_per_cell())


if __name__ == "__main__":
    main()
