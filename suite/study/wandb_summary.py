"""The study's W&B summary run (job_type ``study``): every cell as a Table, and per task
its mean ± std table and its plot, beside the per-cell runs of the same project."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from suite.study.aggregate import batch_statistics
from suite.study.report import Report
from suite.tracking import resolve_mode


def task_statistics(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """`batch_statistics` as flat columns (norm, batch_size, mean, std, count, planned)."""
    return batch_statistics(frame, task).reset_index()


def log_summary(frame: pd.DataFrame, report: Report, profile, study_dir: Path) -> str | None:
    """Log the study to one W&B run in ``profile.logger_mode`` (``auto`` as for runs);
    returns the run's directory, or None when the mode is ``disabled``."""
    mode = resolve_mode(profile.logger_mode)
    if mode == "disabled":
        return None
    import wandb

    run = wandb.init(project=profile.wandb_project, mode=mode, dir=str(study_dir), job_type="study",
                     name=f"study-{profile.study_id}", group="study",
                     config=OmegaConf.to_container(profile, resolve=True))
    try:
        payload = {"cells": wandb.Table(dataframe=frame.astype({"error": str, "main_metric": str}))}
        for task, plot in report.plots.items():
            payload[f"{task}/table"] = wandb.Table(dataframe=task_statistics(frame, task))
            payload[f"{task}/plot"] = wandb.Image(str(plot), caption=f"{task}: main metric against batch size")
        run.log(payload)
        run.summary["cells_finished"] = int((frame.status == "finished").sum())
        run.summary["cells_total"] = len(frame)
        run_dir = run.dir
    finally:
        wandb.finish()
    return run_dir
