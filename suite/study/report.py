"""The study's report under ``reports/<study-id>/``.

- ``cells.csv``: every cell (grid coordinates, status, main metric value, error);
- ``<task>.md``: rows norms, columns batch sizes, cells mean ± std over seeds;
- ``<task>.png``: the metric against batch size, one line per norm, std error bars;
- ``summary.md``: the verdict per task (`suite.study.verdicts`), all tables, per task the paired
  BGN − BN and BGN − GN intervals, the training-mode − evaluation-mode gap of batch-statistics
  norms, and where each norm falls more than ``degradation_threshold`` below its own best batch size;
- ``report.html``: the same in one self-contained file, plots embedded, each cell linked (`html`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from suite.study.aggregate import degradation, markdown_table, table_cells, train_mode_gaps
from suite.study.html import Section, write_html
from suite.study.plots import plot_task
from suite.study.verdicts import comparisons, verdict


@dataclass
class Report:
    """The files written for one study: paths by kind (``tables``/``plots`` by task)."""

    cells_csv: Path
    summary: Path
    tables: dict[str, Path]
    plots: dict[str, Path]
    html: Path


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


def markdown_grid(header: str, rows: dict[str, list[str]], columns: list[str]) -> str:
    """A Markdown table: first column `header`, one row per key of `rows`."""
    lines = [f"| {header} | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    return "\n".join(lines + [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()])


def interval_rows(frame: pd.DataFrame, task: str) -> tuple[dict[str, list[str]], list[str]]:
    """Rows ``BGN − BN``/``BGN − GN``, columns batch sizes: paired mean [95 % t-interval]."""
    intervals = comparisons(frame, task)
    sizes = sorted(next(iter(intervals.values()))) if intervals else []
    rows = {f"BGN − {baseline.upper()}": [by_size[size].text() for size in sizes]
            for baseline, by_size in intervals.items()}
    return rows, [f"batch {size}" for size in sizes]


def gap_rows(frame: pd.DataFrame, task: str) -> tuple[dict[str, list[str]], list[str]]:
    """Rows batch-statistics norms, columns batch sizes: mean training-mode − evaluation-mode gap."""
    gaps = train_mode_gaps(frame, task)
    if gaps.empty:
        return {}, []
    sizes = list(gaps.columns)
    rows = {norm: ["" if pd.isna(gaps.loc[norm, size]) else f"{gaps.loc[norm, size]:+.3f}" for size in sizes]
            for norm in gaps.index}
    return rows, [f"batch {size}" for size in sizes]


def verdicts(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Task -> (verdict, reason)."""
    return {task: verdict(comparisons(frame, task)) for task in dict.fromkeys(frame.task)}


RULE = ("Verdict rule (suite/study/verdicts.py): paired by seed, 95 % t-intervals. **degrades** if BGN − GN is "
        "below 0 at some batch, or BGN − BN is below 0 at the smallest batch; **holds** if not, BGN − BN is above "
        "0 at the smallest batch and the BGN − GN interval reaches 0 at the largest; otherwise **inconclusive** "
        "(also with fewer than 2 finished seed pairs).")


def summary_markdown(frame: pd.DataFrame, study_id: str, threshold: float, command: str) -> str:
    found = verdicts(frame)
    lines = [f"# Batch-size study `{study_id}`", "", f"Made by: `{command}`", "", RULE, "",
             markdown_grid("task", {task: [f"**{name}**", reason] for task, (name, reason) in found.items()},
                           ["verdict", "why"]), "",
             "Cells: mean ± std over seeds of each task's main metric (higher is better); "
             "(k/n): only k of n seeds finished, with how many of the others failed or diverged; "
             "no result: not run (cells.csv has every cell and error).", ""]
    for task in dict.fromkeys(frame.task):
        metric = frame[frame.task == task].main_metric.dropna()
        lines += [f"## {task}" + (f" ({metric.iloc[0]})" if not metric.empty else ""), "",
                  markdown_table(frame, task), "", f"![{task}]({task}.png)", ""]
        rows, columns = interval_rows(frame, task)
        if rows:
            lines += ["Paired differences, mean [95 % t-interval] over seeds:", "",
                      markdown_grid("difference", rows, columns), ""]
        rows, columns = gap_rows(frame, task)
        if rows:
            lines += ["Training-mode − evaluation-mode test metric (batch statistics of the test batch vs running "
                      "statistics):", "", markdown_grid("norm", rows, columns), ""]
        lines += [*degradation_lines(frame, task, threshold), ""]
    return "\n".join(lines + failure_lines(frame))


def task_section(frame: pd.DataFrame, task: str, plot: Path, threshold: float) -> Section:
    """What report.html shows for `task`."""
    metric = frame[frame.task == task].main_metric.dropna()
    rows, sizes = table_cells(frame, task)
    return Section(task=task, metric=metric.iloc[0] if not metric.empty else "main metric",
                   table=(rows, [f"batch {size}" for size in sizes]), intervals=interval_rows(frame, task),
                   gaps=gap_rows(frame, task), plot=plot,
                   notes=[line.lstrip("- ").replace("**", "") for line in degradation_lines(frame, task, threshold)])


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
    html = write_html(study_dir / "report.html", f"Batch-size study {study_id}", command, RULE, verdicts(frame),
                      [task_section(frame, task, plots[task], threshold) for task in plots], frame)
    return Report(cells_csv, summary, tables, plots, html)
