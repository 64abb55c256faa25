"""The study's report under ``reports/<study-id>/``.

- ``cells.csv``: every cell (grid coordinates, status, main metric value, error);
- ``<task>.md``: rows norms, columns batch sizes, cells mean ± std over seeds;
- ``<task>.png``: the metric against batch size, one line per norm, std error bars;
- ``summary.md``: all tables, and per task where each norm falls more than
  ``degradation_threshold`` below its own best batch size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from suite.study.aggregate import degradation, markdown_table
from suite.study.plots import plot_task


@dataclass
class Report:
    """The files written for one study: paths by kind (``tables``/``plots`` by task)."""

    cells_csv: Path
    summary: Path
    tables: dict[str, Path]
    plots: dict[str, Path]


def degradation_lines(frame: pd.DataFrame, task: str, threshold: float) -> list[str]:
    """One bullet per norm: best batch size, value at the smallest batch, where it degrades."""
    lines = []
    for row in degradation(frame, task, threshold).itertuples():
        if pd.isna(row.best):
            lines.append(f"- **{row.norm}**: no finished cell.")
            continue
        text = (f"- **{row.norm}**: best {row.best:.3f} at batch {int(row.best_batch)}; "
                f"{row.at_smallest:.3f} at batch {int(row.smallest_batch)} (drop {row.drop:+.3f}); ")
        if row.below_best:
            sizes = ", ".join(str(size) for size in row.below_best)
            text += f"more than {threshold:g} below its best at batch {sizes}."
        else:
            text += f"within {threshold:g} of its best at every batch size."
        lines.append(text)
    return lines


def failure_lines(frame: pd.DataFrame) -> list[str]:
    failed = frame[frame.status != "finished"]
    if failed.empty:
        return []
    lines = [f"## Cells that did not finish ({len(failed)} of {len(frame)})", ""]
    for (task, error), group in failed.groupby(["task", failed.error.fillna("not run")], sort=False):
        lines.append(f"- {task}, {len(group)} cell(s): {error}")
    return lines + [""]


def summary_markdown(frame: pd.DataFrame, study_id: str, threshold: float, command: str) -> str:
    lines = [f"# Batch-size study `{study_id}`", "", f"Made by: `{command}`", "",
             "Cells: mean ± std over seeds of each task's main metric (higher is better); "
             "(k/n): only k of n seeds finished; no result: none did (cells.csv has the errors).", ""]
    for task in dict.fromkeys(frame.task):
        metric = frame[frame.task == task].main_metric.dropna()
        lines += [f"## {task}" + (f" ({metric.iloc[0]})" if not metric.empty else ""), "",
                  markdown_table(frame, task), "", f"![{task}]({task}.png)", "",
                  *degradation_lines(frame, task, threshold), ""]
    return "\n".join(lines + failure_lines(frame))


def write_report(frame: pd.DataFrame, study_dir: Path, study_id: str, threshold: float, command: str) -> Report:
    """Write every report file for `frame` (from `suite.study.aggregate.collect`)."""
    study_dir.mkdir(parents=True, exist_ok=True)
    cells_csv = study_dir / "cells.csv"
    frame.to_csv(cells_csv, index=False)
    tables, plots = {}, {}
    for task in dict.fromkeys(frame.task):
        tables[task] = study_dir / f"{task}.md"
        tables[task].write_text(markdown_table(frame, task) + "\n")
        plots[task] = plot_task(frame, task, study_dir / f"{task}.png")
    summary = study_dir / "summary.md"
    summary.write_text(summary_markdown(frame, study_id, threshold, command))
    return Report(cells_csv, summary, tables, plots)
