"""The study's report under ``reports/<study-id>/``.

- ``cells.csv``: every cell (grid coordinates, status, main metric value, error);
- ``<task>.md``: rows norms, columns batch sizes, cells mean ± std over seeds (a sweep's table, named
  ``cls:bgn norm.num_groups``, in ``cls_bgn_norm.num_groups.md``: `file_stem`);
- ``<task>.png``: the metric against batch size, one line per norm, std error bars;
- ``<task>_curves.png`` (cells that recorded their epochs, `suite.history`): the val metric against epoch, a
  panel per norm, a line per batch size, and per norm whether the largest batch's curve has plateaued;
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
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from suite.results import atomic_path, package_versions, write_json_atomic, write_text_atomic

from suite.study.aggregate import (Grid, batch_columns, degradation, main_metric, markdown_grid, table_cells,
                                   train_mode_gaps)
from suite.study.html import Section, write_html
from suite.study.plots import plot_curves, plot_task
from suite.study.verdicts import Interval, comparisons, verdict
from suite.study.wallclock import total_seconds


PLATEAU_GAIN = 0.01  # a val curve that rose less than this over its last two epochs has plateaued


@dataclass
class Report:
    """The files written for one study: paths by kind (``tables``/``plots`` by task)."""

    cells_csv: Path
    summary: Path
    tables: dict[str, Path]
    plots: dict[str, Path]
    html: Path


def degradation_lines(frame: pd.DataFrame, task: str, threshold: float) -> list[str]:
    """One line per norm (Markdown, norm in bold): best batch size, value at the smallest batch, where it
    degrades."""
    lines = []
    for row in degradation(frame, task, threshold).itertuples():
        if pd.isna(row.best):
            lines.append(f"**{row.norm}**: no finished cell.")
            continue
        text = (f"**{row.norm}**: best {row.best:.3f} at batch {int(row.best_batch)}; "
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


def interval_rows(intervals: dict[str, dict[int, Interval]]) -> Grid:
    """Rows ``BGN − BN``/``BGN − GN``, columns batch sizes: paired mean [95 % t-interval] (`comparisons`)."""
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


def plateau_lines(curves: pd.DataFrame, task: str) -> list[str]:
    """Per norm, whether `task`'s largest batch has plateaued: the mean over seeds of its val curve rose by
    less than `PLATEAU_GAIN` over its last two epochs."""
    rows = curves[curves.task == task]
    if rows.empty:
        return []
    largest, metric = rows.batch_size.max(), rows.metric.iloc[0]
    lines = []
    for norm in dict.fromkeys(rows.norm):
        mean = rows[(rows.norm == norm) & (rows.batch_size == largest)].groupby("epoch").value.mean()
        if len(mean) < 3:
            lines.append(f"**{norm}** at batch {largest}: {len(mean)} epoch(s) recorded, too few to judge a plateau.")
            continue
        gain = mean.iloc[-1] - mean.iloc[-3]
        state = "plateaued" if gain < PLATEAU_GAIN else "still rising: train longer"
        lines.append(f"**{norm}** at batch {largest}: {metric} {mean.iloc[-3]:.3f} → {mean.iloc[-1]:.3f} over its "
                     f"last two epochs ({gain:+.3f}): {state}.")
    return lines


def task_section(frame: pd.DataFrame, task: str, threshold: float | None = None, plot: Path | None = None,
                 curves: pd.DataFrame | None = None, curves_plot: Path | None = None) -> Section:
    """Everything the report shows for `task`, computed once for summary.md, report.html and the README:
    its table, paired intervals and verdict (tables with a bgn row, not the sweeps'), train-mode gaps, and
    with a `threshold` its degradation notes, with `curves` its plateau notes."""
    intervals = comparisons(frame, task)
    notes = [] if threshold is None else degradation_lines(frame, task, threshold)
    return Section(task=task, metric=main_metric(frame, task), table=table_cells(frame, task),
                   intervals=interval_rows(intervals), gaps=gap_rows(frame, task), plot=plot, curves=curves_plot,
                   notes=notes + ([] if curves is None else plateau_lines(curves, task)),
                   verdict=verdict(intervals) if "bgn" in set(frame[frame.task == task].norm) else None)


def verdict_table(sections: list[Section]) -> str:
    """Markdown: one row per task with a verdict."""
    return markdown_grid("task", {section.task: [f"**{section.verdict[0]}**", section.verdict[1]]
                                  for section in sections if section.verdict}, ["verdict", "why"])


RULE = ("Verdict rule (suite/study/verdicts.py): paired by seed, 95 % t-intervals. **degrades** if BGN − GN is "
        "below 0 at some batch, or BGN − BN is below 0 at the smallest batch; **holds** if not, BGN − BN is above "
        "0 at the smallest batch and the BGN − GN interval reaches 0 at the largest; otherwise **inconclusive** "
        "(also with fewer than 2 finished seed pairs).")


def file_stem(table: str) -> str:
    """The name of a table's files: its name with what links and shells mangle (``:``, spaces) as ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", table)


SHARED = ("On the normalization-batch axis a per-sample norm does not depend on k: it runs once per seed at the "
          "largest k and its row repeats that run.")


def write_study_record(out: Path, profile, frame: pd.DataFrame, commands: list[dict]) -> dict:
    """``study.json`` (command, profile, versions, wall time, cell counts) and ``table.yaml`` in `out`."""
    finished = frame[frame.status == "finished"].drop_duplicates("run_dir")  # shared runs once
    record = {"study_id": profile.study_id, "command": profile.command, "versions": package_versions(),
              "cpu_count": os.cpu_count(), "wall_time_s": total_seconds(commands),
              "commands": commands, "cells": len(frame), "runs": int(frame.run_dir.nunique()),
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


def summary_markdown(study_id: str, how: list[str], sections: list[Section], frame: pd.DataFrame) -> str:
    """summary.md; `how`: `run_lines`."""
    lines = [f"# Batch-size study `{study_id}`", "", *"\n\n".join(how).split("\n"), "", RULE, "",
             SHARED, "", verdict_table(sections), "",
             "Cells: mean ± std over seeds of each task's main metric (higher is better); "
             "(k/n): only k of n seeds finished, with how many of the others failed or diverged; "
             "no result: not run (cells.csv has every cell and error).", ""]
    for section in sections:
        task = section.task
        lines += [f"## {task}" + (f" ({section.metric})" if section.metric else ""), "",
                  markdown_grid("norm", *section.table), "", f"![{task}]({file_stem(task)}.png)", ""]
        if section.curves:
            lines += [f"![{task}: validation curves]({section.curves.name})", ""]
        if section.intervals[0]:
            lines += ["Paired differences, mean [95 % t-interval] over seeds:", "",
                      markdown_grid("difference", *section.intervals), ""]
        if section.gaps[0]:
            lines += ["Training-mode − evaluation-mode test metric (batch statistics of the test batch vs running "
                      "statistics):", "", markdown_grid("norm", *section.gaps), ""]
        lines += [*(f"- {note}" for note in section.notes), ""]
    return "\n".join(lines + failure_lines(frame))


def readme_section(folder: Path) -> str:
    """The README's view of a study's results folder (``make results``, kind ``study``): how it ran, the
    verdicts and every table with its paired intervals; the command comes under it from table.yaml."""
    frame = pd.read_csv(folder / "cells.csv")
    record = json.loads((folder / "study.json").read_text())
    sections = [task_section(frame, task) for task in dict.fromkeys(frame.task)]
    lines = [*"\n\n".join(run_lines(record)[1:]).split("\n"), "", RULE, "", verdict_table(sections), ""]
    for section in sections:
        lines += [f"**{section.task}**" + (f" ({section.metric}, mean ± std over seeds)" if section.metric else ""),
                  "", markdown_grid("norm", *section.table), ""]
        if section.intervals[0]:
            lines += [markdown_grid("paired, 95 % CI", *section.intervals), ""]
    lines.append(f"{SHARED} Plots, train-mode gaps and every cell: `{folder.parent.name}/{folder.name}/summary.md`, "
                 f"`report.html`.")
    return "\n".join(lines)


def write_report(frame: pd.DataFrame, study_dir: Path, study_id: str, threshold: float, command: str,
                 record: dict | None = None, curves: pd.DataFrame | None = None) -> Report:
    """Write every report file for `frame` (from `suite.study.aggregate.collect`); `record`: the
    `write_study_record` of the run (None: only the command is stated); `curves`: the cells' epochs
    (`suite.study.aggregate.curves`)."""
    how = run_lines(record) if record else [f"Made by: `{command}`"]
    study_dir.mkdir(parents=True, exist_ok=True)
    cells_csv = study_dir / "cells.csv"
    with atomic_path(cells_csv) as temporary:
        frame.to_csv(temporary, index=False)
    tables, plots, sections = {}, {}, []
    for task in dict.fromkeys(frame.task):
        plots[task] = plot_task(frame, task, study_dir / f"{file_stem(task)}.png")
        has_curves = curves is not None and (curves.task == task).any()
        curves_plot = plot_curves(curves, task, study_dir / f"{file_stem(task)}_curves.png") if has_curves else None
        sections.append(task_section(frame, task, threshold, plots[task], curves, curves_plot))
        tables[task] = write_text_atomic(study_dir / f"{file_stem(task)}.md",
                                         markdown_grid("norm", *sections[-1].table) + "\n")
    summary = write_text_atomic(study_dir / "summary.md", summary_markdown(study_id, how, sections, frame))
    html = write_html(study_dir / "report.html", f"Batch-size study {study_id}", how, RULE, sections, frame)
    return Report(cells_csv, summary, tables, plots, html)
