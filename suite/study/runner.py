"""Running a study: one Hydra multirun per task, cells in parallel, failures recorded.

For each task the runner

1. skips the task when every cell's metrics.json says ``finished`` (cells that share a run,
   `suite.study.grid.runs`, run once), and cuts the rest into sweeps (`sweep_groups`); a finished cell
   whose config has changed since it ran (`retire_changed`) runs again;
2. composes one config per norm first: a sweep whose config cannot be composed (a
   task without configs/task/<task>.yaml, an unknown batch-axis key) would abort as a
   whole, so such cells are recorded as failed with the error and left out;
3. launches ``python -m suite.study.cell -m ...`` with the profile's Hydra launcher
   (`suite.study.launcher`: joblib with ``n_jobs`` = cores // threads per cell, or
   submitit), its output in ``logs/<task>.log``, and prints each cell's result as it lands;
4. records any cell the sweep did not reach (its process died) as failed;
5. with a `suite.study.ledger.Ledger`, first restores the finished cells only the ledger has and copies each
   cell that finishes into it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from suite.config import compose_config
from suite.errors import UserError
from suite.results import read_metrics, write_json_atomic
from suite.study.aggregate import cell_record
from suite.study.cell import clear_corrupt, has_landed, is_finished, written_since
from suite.study.grid import Cell, expand_grid, runs, sweep_groups, sweep_overrides
from suite.study.launcher import check_cell_fits, check_launcher, launcher_overrides, threads_per_cell
from suite.study.ledger import Ledger
from suite.study.stop import stop_sweep


def runtime_overrides(profile, study_dir: Path) -> list[str]:
    """Where cells write and how they log; not part of a cell's identity."""
    return [f"paths.runs={study_dir / 'cells'}", f"logger.mode={profile.logger_mode}",
            f"logger.save_dir={study_dir}", f"logger.project={profile.wandb_project}",
            f"logger.group=study-{profile.study_id}", "trainer.enable_progress_bar=false"]


def _dotted(tree: dict, prefix: str = "") -> dict:
    """A nested config as {"a.b.c": value}."""
    flat = {}
    for key, value in tree.items():
        flat.update(_dotted(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return flat


def changed_settings(recorded: dict, cfg, runtime: list[str]) -> list[str]:
    """The keys whose value in `recorded` (the config a finished cell ran with) differs from `cfg` (the one
    the cell composes to now), `runtime`'s keys left out. A cell's id digests the profile's overrides only, so
    a default changed in a config file since the cell ran shows here. A key the cell's config did not have
    counts only with a value other than null or false (a new setting that is off reproduces the old run); a
    key since removed does not count."""
    ignored = tuple(override.split("=", 1)[0].lstrip("+") for override in runtime)
    now, then = _dotted(OmegaConf.to_container(cfg, resolve=True)), _dotted(recorded)
    changed = [key for key, value in now.items()
               if (then[key] != value if key in then else value not in (None, False))]
    return sorted(key for key in changed if not key.startswith(ignored))


def retire_changed(cells: list[Cell], runs_dir: Path, runtime: list[str]) -> None:
    """Move aside the run dir of each finished cell whose settings have changed (`changed_settings`), so
    that the cell runs again; the old run stays beside it as ``<cell id>.changed-<UTC time>``."""
    for cell in cells:
        record = cell_record(cell, runs_dir) or {}
        if record.get("status") != "finished" or record.get("config") is None:
            continue
        changed = changed_settings(record["config"], compose_config([*cell.overrides(), *runtime]), runtime)
        if changed:
            path = cell.metrics_path(runs_dir)
            aside = path.parent.with_name(f"{cell.cell_id}.changed-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
            path.parent.rename(aside)
            print(f"  {cell.task} {cell.norm} batch {cell.run_batch} seed {cell.seed}: ran with other settings "
                  f"({', '.join(changed)}), runs again; the old run is in {aside}", flush=True)


def parallel_jobs(profile, pending: int) -> int:
    """``n_jobs`` from the profile, else cores // threads_per_cell, never above `pending`."""
    jobs = profile.n_jobs or max(1, (os.cpu_count() or 1) // profile.threads_per_cell)
    return max(1, min(jobs, pending))


def unrun_record(cell: Cell, error: str) -> dict:
    """metrics.json for a cell that never started."""
    return {"status": "failed", "error": error, "run_id": cell.cell_id, "task": cell.task, "norm": cell.norm,
            "batch_size": cell.batch_size, "seed": cell.seed, "main_metric": None, "metrics": {}}


def composable(cells: list[Cell], runtime: list[str], runs_dir: Path) -> list[Cell]:
    """The cells whose norm's config composes; the others are recorded as failed."""
    runnable = []
    for norm in dict.fromkeys(cell.norm for cell in cells):
        of_norm = [cell for cell in cells if cell.norm == norm]
        try:
            compose_config([*of_norm[0].overrides(), *runtime])
        except UserError as error:
            for cell in of_norm:
                write_json_atomic(cell.metrics_path(runs_dir), unrun_record(cell, f"UserError: {error}"))
            print(f"  {of_norm[0].task} {norm}: {len(of_norm)} cells failed before running: {error}", flush=True)
            continue
        runnable += of_norm
    return runnable


def describe(cell: Cell, runs_dir: Path, shown: list[str] | None = None) -> str:
    """One line for a landed cell: its `shown` metrics (default its main metric) and wall time, or its error."""
    record = read_metrics(cell.metrics_path(runs_dir))
    where = f"{cell.task} {cell.norm} batch {cell.run_batch} seed {cell.seed}"
    if record["status"] == "finished":
        values = ", ".join(f"{metric}={record['metrics'].get(metric, float('nan')):.4f}"
                           for metric in shown or [record["main_metric"]])
        return f"{where}: {values} ({record.get('wall_time_s', 0):.0f} s)"
    return f"{where}: {record['status'].upper()} {record['error'] or ''}".rstrip()


def sweep(cells: list[Cell], study_dir: Path, runtime: list[str], launch: list[str], threads: int,
          name: str | None = None, shown: list[str] | None = None, on_landed=None) -> int:
    """Run one sweep over `cells` of one task (none finished) with the `launch`
    overrides, printing cells as they land; returns the sweep's exit code. `name`: its Hydra sweep
    folder under hydra/ (default: the task); `shown`: the metrics printed per cell (default its main metric);
    `on_landed(cell)`, if given, is called for each cell that lands."""
    task = cells[0].task
    runs_dir = study_dir / "cells"
    command = [sys.executable, "-m", "suite.study.cell", "-m", *sweep_overrides(cells), *runtime,
               *launch, f"hydra.sweep.dir={study_dir / 'hydra' / (name or task)}"]
    threads = str(threads)
    environment = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    log_path = study_dir / "logs" / f"{task}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    waiting, started = list(cells), time.time()
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        # A process group of its own, so that a stopped study stops it with everything it started.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                                   start_new_session=True)
        try:
            while waiting:
                exit_code = process.poll()
                landed = [cell for cell in waiting if has_landed(cell.metrics_path(runs_dir), started)]
                for cell in landed:
                    print(f"  {describe(cell, runs_dir, shown)}", flush=True)
                    waiting.remove(cell)
                    if on_landed is not None:
                        on_landed(cell)
                if exit_code is not None:
                    break
                time.sleep(2)
        except BaseException:  # the study was stopped (suite.study.__main__): stop the sweep too
            stop_sweep(process)
            raise
        exit_code = process.wait()
    for cell in waiting:  # the sweep ended before the cell did: the next attempt continues it
        if not written_since(cell.metrics_path(runs_dir), started):  # never started: say why it has no result
            error = f"no result: the {task} sweep ended (exit code {exit_code}) before this cell ran; see {log_path}"
            write_json_atomic(cell.metrics_path(runs_dir), unrun_record(cell, error))
        print(f"  {describe(cell, runs_dir, shown)}", flush=True)
    return exit_code


def run_study(profile, study_dir: Path, after_task=None, cells: list[Cell] | None = None,
              ledger: Ledger | None = None) -> list[Cell]:
    """Run every unfinished cell of `profile`'s grid (or of `cells`, e.g. `suite.select`'s), calling
    `after_task()` (if given) after each task's sweeps; returns the cells. `ledger`: kept in step (above)."""
    check_launcher(profile)
    cells = expand_grid(profile) if cells is None else cells
    runtime = runtime_overrides(profile, study_dir)
    runs_dir = study_dir / "cells"
    for task in dict.fromkeys(cell.task for cell in cells):
        of_task = runs([cell for cell in cells if cell.task == task])
        if ledger is not None:
            restored, rerun = ledger.sync(of_task)
            if restored:
                print(f"{task}: {restored} finished cells restored from the ledger {ledger.directory}", flush=True)
            if rerun:
                print(f"{task}: {rerun} finished pre-training cells run again: fine-tuning starts from their "
                      f"weights, which the ledger does not keep", flush=True)
        retire_changed(of_task, runs_dir, runtime)
        pending = [cell for cell in of_task if not is_finished(cell.metrics_path(runs_dir))]
        print(f"{task}: {len(of_task) - len(pending)} of {len(of_task)} cells already finished", flush=True)
        for cell in pending:  # unfinished attempts are continued (their record stays), corrupt ones re-run
            clear_corrupt(cell.metrics_path(runs_dir))
        runnable = composable(pending, runtime, runs_dir) if pending else []
        if runnable:
            check_cell_fits(profile, task, compose_config([*runnable[0].overrides(), *runtime]))
        for number, group in enumerate(sweep_groups(runnable)):
            jobs = parallel_jobs(profile, len(group))
            started = time.time()
            exit_code = sweep(group, study_dir, runtime, launcher_overrides(profile, task, jobs, study_dir),
                              threads_per_cell(profile, task, jobs), task if number == 0 else f"{task}-{number}",
                              profile.get("shown_metrics"), ledger.record if ledger is not None else None)
            print(f"{task}: sweep of {len(group)} cells done in {time.time() - started:.0f} s with {jobs} "
                  f"parallel cells (exit code {exit_code})", flush=True)
        if after_task is not None:
            after_task()
    return cells
