"""One study cell as a Hydra multirun job: ``python -m suite.study.cell -m <sweep overrides>``.

The study runner launches one such sweep per task (Hydra's joblib launcher runs the
cells in parallel processes). Each job:

- skips a cell whose metrics.json already says ``finished`` (restartable studies), and continues one an
  earlier attempt left unfinished (``resume=auto``); a corrupt record is reported and its cell run again;
- otherwise runs it with `suite.run.run`, using ``cores // n_jobs`` torch threads so
  parallel cells do not oversubscribe the cores;
- in a submitit job (Slurm, or submitit_local), stops at submitit's requeue signal like at SIGTERM
  (checkpoint, status interrupted) and then hands the signal back to submitit, whose handler requeues
  the job: the same cell comes back, finds its record unfinished and continues (same run id,
  ``resume=auto``);
- catches every exception, so one failed cell never stops the sweep, and makes sure
  the failure is on disk: `RunSession` writes metrics.json for failures inside a run,
  this job writes it for those before the session starts (a config the task rejects,
  a task module that does not exist yet).
"""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from suite.config import CONFIG_DIR
from suite.distributed import requeue_signal
from suite.errors import Interrupted
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


def written_since(metrics_path, since: float) -> bool:
    return metrics_path.is_file() and metrics_path.stat().st_mtime >= since


def has_landed(metrics_path, since: float) -> bool:
    """The cell's run, started after `since`, has ended (a run writes ``running`` when it starts; an
    earlier attempt's record stays until then, for the run to continue it). ``interrupted`` has not: under
    submitit the job was requeued and comes back; otherwise the sweep is being stopped."""
    return written_since(metrics_path, since) and cell_status(metrics_path) not in ("running", "corrupt", "interrupted")


def clear_corrupt(metrics_path) -> None:
    """Remove a corrupt record (reported by `cell_status`), so that its cell runs again. Other records stay:
    the run continues them (``resume=auto``) and lists how they ended under ``interruptions``."""
    if cell_status(metrics_path) == "corrupt":
        metrics_path.unlink()


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
    clear_corrupt(metrics_path)
    started = time.time()
    torch.set_num_threads(threads)
    try:
        run(cfg)
    except Interrupted as stop:
        if stop.signum == requeue_signal():
            # Submitit's handler is back in place (the run restored it): it requeues this job and exits
            # (on Slurm task 0; other tasks return here and end with the interruption).
            signal.raise_signal(stop.signum)
        raise  # the study is being stopped: its run wrote a checkpoint and status interrupted
    except Exception as error:  # noqa: BLE001 - a failed cell is a result; the sweep goes on
        traceback.print_exc(file=sys.stderr)
        if not written_since(metrics_path, started):  # failed before its session wrote a record
            write_json_atomic(metrics_path, failure_record(cfg, error))
        return "failed"
    return "finished"


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_cell(cfg, threads_per_cell())


if __name__ == "__main__":
    main()
