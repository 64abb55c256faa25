"""``report.html``: the study's report as one self-contained file (no external file, script or font).

Tables are HTML tables, plots are embedded as base64 PNG ``data:`` URIs, and each cell of the grid
is listed with its status, value and link: its W&B run when it was logged online, its run directory
(a relative ``file`` link) otherwise.
"""
from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from suite.results import write_text_atomic
from suite.study.aggregate import Grid

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.8em 0}th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#eee}.holds{color:#080;font-weight:bold}
.degrades{color:#b00;font-weight:bold}.inconclusive{color:#a60;font-weight:bold}img{max-width:100%}
.failed,.diverged,.missing{background:#fdd}code{background:#f4f4f4}"""



@dataclass
class Section:
    """One task's part of the report (`suite.study.report.task_section`); `notes` are Markdown lines (bold
    kept as ``**``), `verdict` is (verdict, reason) or None for a table without one."""

    task: str
    metric: str | None
    table: Grid
    intervals: Grid
    gaps: Grid
    plot: Path | None = None
    curves: Path | None = None          # the val metric against epoch (suite.study.plots.plot_curves)
    notes: list[str] = field(default_factory=list)
    verdict: tuple[str, str] | None = None


def code_spans(text: str) -> str:
    """`text` escaped, with its Markdown `code` spans as <code>."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{piece}</code>" if index % 2 else piece for index, piece in enumerate(pieces))


def grid_html(header: str, grid: Grid) -> str:
    rows, columns = grid
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in [header, *columns])
    body = "".join("<tr><td>" + html.escape(name) + "</td>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
                   + "</tr>" for name, cells in rows.items())
    return f"<table><tr>{head}</tr>{body}</table>"


def embedded_png(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def cell_link(row, report_dir: Path) -> str:
    """The W&B run when online, else the run directory relative to the report."""
    if isinstance(row.wandb_url, str) and row.wandb_url:
        return f'<a href="{html.escape(row.wandb_url)}">W&amp;B run</a>'
    relative = os.path.relpath(row.run_dir, report_dir)
    return f'<a href="{html.escape(relative)}">{html.escape(relative)}</a>'


def cells_html(frame: pd.DataFrame, report_dir: Path) -> str:
    head = "".join(f"<th>{name}</th>" for name in
                   ("task", "norm", "batch", "seed", "status", "value", "train-mode value", "wall s", "run", "error"))
    rows = []
    for row in frame.itertuples():
        values = [row.task, row.norm, str(row.batch_size), str(row.seed), row.status,
                  "" if pd.isna(row.value) else f"{row.value:.4f}",
                  "" if pd.isna(row.train_mode_value) else f"{row.train_mode_value:.4f}",
                  "" if pd.isna(row.wall_time_s) else f"{row.wall_time_s:.0f}"]
        cells = "".join(f"<td>{html.escape(value)}</td>" for value in values)
        error = "" if not isinstance(row.error, str) else html.escape(row.error[:200])
        rows.append(f'<tr class="{html.escape(row.status)}">{cells}<td>{cell_link(row, report_dir)}</td>'
                    f"<td>{error}</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def section_html(section: Section) -> str:
    parts = [f"<h2>{html.escape(section.task)} ({html.escape(section.metric or 'main metric')})</h2>",
             grid_html("norm", section.table), embedded_png(section.plot, f"{section.task}: metric against batch")]
    if section.curves:
        parts.append(embedded_png(section.curves, f"{section.task}: validation curves"))
    if section.intervals[0]:
        parts += ["<p>Paired differences, mean [95 % t-interval] over seeds:</p>",
                  grid_html("difference", section.intervals)]
    if section.gaps[0]:
        parts += ["<p>Training-mode − evaluation-mode test metric (batch-statistics norms):</p>",
                  grid_html("norm", section.gaps)]
    if section.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(note.replace('**', ''))}</li>" for note in section.notes) + "</ul>")
    return "\n".join(parts)


def write_html(path: Path, title: str, run_lines: list[str], rule: str, sections: list[Section],
               frame: pd.DataFrame) -> Path:
    """Write the report to `path`; `run_lines`: how the study ran (Markdown `code` spans kept as code)."""
    verdict_rows = "".join(f'<tr><td>{html.escape(section.task)}</td><td class="{section.verdict[0]}">'
                           f"{section.verdict[0]}</td><td>{html.escape(section.verdict[1])}</td></tr>"
                           for section in sections if section.verdict)
    body = [f"<h1>{html.escape(title)}</h1>", *(f"<p>{code_spans(line)}</p>" for line in run_lines),
            f"<p>{html.escape(rule.replace('**', ''))}</p>",
            f"<table><tr><th>task</th><th>verdict</th><th>why</th></tr>{verdict_rows}</table>",
            *(section_html(section) for section in sections),
            f"<h2>Every cell ({len(frame)})</h2>", cells_html(frame, path.parent)]
    document = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                f"<style>{STYLE}</style></head><body>" + "\n".join(body) + "</body></html>\n")
    return write_text_atomic(path, document)
