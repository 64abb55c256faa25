"""The study's report under ``reports/<study-id>/``.

- ``cells.csv``: every cell (grid coordinates, status, main metric value, error);
- ``<task>.md``: rows norms, columns batch sizes, cells mean ± std over seeds;
- ``<task>.png``: the metric against batch size, one line per norm, std error bars;
- ``summary.md``: the verdict per task (`suite.study.verdicts`), all tables, per task the paired
  BGN − BN and BGN − GN intervals, the training-mode − evaluation-mode gap of batch-statistics
  norms, and where each norm falls more than ``degradation_threshold`` below its own best batch size;
- ``report.html``: the same in one self-contained file, plots embedded, each cell linked (`html`);
- ``study.json``: the command, the resolved profile, package versions, wall time (`write_study_record`);
- ``table.yaml``: ``kind: study``, so ``make results`` puts `readme_section` in the README.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from suite.results import atomic_path, package_versions, write_json_atomic, write_text_atomic

from suite.study.aggregate import (Grid, batch_columns, degradation, markdown_grid, markdown_table, table_cells,
                                   train_mode_gaps)
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


def interval_rows(frame: pd.DataFrame, task: str) -> Grid:
    """Rows ``BGN − BN``/``BGN − GN``, columns batch sizes: paired mean [95 % t-interval]."""
    intervals = comparisons(frame, task)
    sizes = sorted(next(iter(intervals.values()))) if intervals else []
    rows = {f"BGN − {baseline.upper()}": [by_size[size].text() for size in sizes]
            for baseline, by_size in intervals.items()}
    return rows, batch_columns(sizes)


def gap_rows(frame: pd.DataFrame, task: str) -> Grid:
    """Rows batch-statistics norms, columns batch sizes: mean training-mode − evaluation-mode gap."""
    gaps = train_mode_gaps(frame, task)
    if gaps.empty:
        return {}, []
    sizes = list(gaps.columns)
    rows = {norm: ["" if pd.isna(gaps.loc[norm, size]) else f"{gaps.loc[norm, size]:+.3f}" for size in sizes]
            for norm in gaps.index}
    return rows, batch_columns(sizes)


def verdicts(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Task -> (verdict, reason), for the tables with a bgn row (not the sweeps' tables)."""
    return {task: verdict(comparisons(frame, task)) for task in dict.fromkeys(frame.task)
            if "bgn" in set(frame[frame.task == task].norm)}


RULE = ("Verdict rule (suite/study/verdicts.py): paired by seed, 95 % t-intervals. **degrades** if BGN − GN is "
        "below 0 at some batch, or BGN − BN is below 0 at the smallest batch; **holds** if not, BGN − BN is above "
        "0 at the smallest batch and the BGN − GN interval reaches 0 at the largest; otherwise **inconclusive** "
        "(also with fewer than 2 finished seed pairs).")


SHARED = ("On the normalization-batch axis a per-sample norm does not depend on k: it runs once per seed at the "
          "largest k and its row repeats that run.")


def write_study_record(out: Path, profile, frame: pd.DataFrame, wall_time_path: Path) -> dict:
    """``study.json`` (command, profile, versions, wall time, cell counts) and ``table.yaml`` in `out`."""
    entries = json.loads(wall_time_path.read_text()) if wall_time_path.is_file() else []
    finished = frame[frame.status == "finished"].drop_duplicates("run_dir")  # shared runs once
    record = {"study_id": profile.study_id, "command": profile.command, "versions": package_versions(),
              "cpu_count": os.cpu_count(), "wall_time_s": round(sum(entry["seconds"] for entry in entries), 1),
              "commands": entries, "cells": len(frame), "runs": int(frame.run_dir.nunique()),
              "runs_finished": len(finished), "cell_seconds": round(float(finished.wall_time_s.sum()), 1),
              "profile": OmegaConf.to_container(profile, resolve=True)}
    write_json_atomic(out / "study.json", record)
    write_text_atomic(out / "table.yaml", f"kind: study\ncommand: {json.dumps(profile.command)}\n")
    return record


def run_lines(record: dict) -> list[str]:
    """How the study ran, one Markdown line each."""
    versions = ", ".join(f"{name} {version}" for name, version in record["versions"].items())
    hours = record["wall_time_s"] / 3600
    return [f"Made by: `{record['command']}`",
            f"Wall time {record['wall_time_s']:.0f} s ({hours:.2f} h, {len(record['commands'])} command(s)) on "
            f"{record['cpu_count']} cores; {record['runs_finished']} of {record['runs']} runs finished "
            f"({record['cells']} table cells), {record['cell_seconds']:.0f} s of cell time.",
            f"Versions: {versions}."]


def summary_markdown(frame: pd.DataFrame, study_id: str, threshold: float, how: list[str]) -> str:
    """summary.md; `how`: `run_lines`."""
    found = verdicts(frame)
    lines = [f"# Batch-size study `{study_id}`", "", *"\n\n".join(how).split("\n"), "", RULE, "",
             SHARED, "",
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
    return Section(task=task, metric=metric.iloc[0] if not metric.empty else "main metric",
                   table=table_cells(frame, task), intervals=interval_rows(frame, task),
                   gaps=gap_rows(frame, task), plot=plot,
                   notes=[line.lstrip("- ").replace("**", "") for line in degradation_lines(frame, task, threshold)])


def readme_section(folder: Path) -> str:
    """The README's view of a study's results folder (``make results``, kind ``study``): how it ran, the
    verdicts and every table with its paired intervals; the command comes under it from table.yaml."""
    frame = pd.read_csv(folder / "cells.csv")
    record = json.loads((folder / "study.json").read_text())
    found = verdicts(frame)
    lines = [*"\n\n".join(run_lines(record)[1:]).split("\n"), "", RULE, "",
             markdown_grid("task", {task: [f"**{name}**", reason] for task, (name, reason) in found.items()},
                           ["verdict", "why"]), ""]
    for task in dict.fromkeys(frame.task):
        metric = frame[frame.task == task].main_metric.dropna()
        lines += [f"**{task}**" + (f" ({metric.iloc[0]}, mean ± std over seeds)" if not metric.empty else ""), "",
                  markdown_table(frame, task), ""]
        rows, columns = interval_rows(frame, task)
        if rows:
            lines += [markdown_grid("paired, 95 % CI", rows, columns), ""]
    lines.append(f"{SHARED} Plots, train-mode gaps and every cell: `{folder.parent.name}/{folder.name}/summary.md`, "
                 f"`report.html`.")
    return "\n".join(lines)


def write_report(frame: pd.DataFrame, study_dir: Path, study_id: str, threshold: float, command: str,
                 record: dict | None = None) -> Report:
    """Write every report file for `frame` (from `suite.study.aggregate.collect`); `record`: the
    `write_study_record` of the run (None: only the command is stated)."""
    how = run_lines(record) if record else [f"Made by: `{command}`"]
    study_dir.mkdir(parents=True, exist_ok=True)
    cells_csv = study_dir / "cells.csv"
    with atomic_path(cells_csv) as temporary:
        frame.to_csv(temporary, index=False)
    tables, plots = {}, {}
    for task in dict.fromkeys(frame.task):
        tables[task] = study_dir / f"{task}.md"
        write_text_atomic(tables[task], markdown_table(frame, task) + "\n")
        plots[task] = plot_task(frame, task, study_dir / f"{task}.png")
    summary = study_dir / "summary.md"
    write_text_atomic(summary, summary_markdown(frame, study_id, threshold, how))
    html = write_html(study_dir / "report.html", f"Batch-size study {study_id}", how, RULE,
                      verdicts(frame),
                      [task_section(frame, task, plots[task], threshold) for task in plots], frame)
    return Report(cells_csv, summary, tables, plots, html)
