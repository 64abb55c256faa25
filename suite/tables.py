"""``make results``: the README's result tables, generated from committed results files.

Every folder ``results/<name>/`` holds the files a table is made from and a ``table.yaml`` saying how;
``python -m suite.tables`` (``make results``) renders each folder and writes the text between the
README lines ``<!-- results:<name>:start -->`` and ``<!-- results:<name>:end -->``; ``--check`` only
reports sections that differ from their files. ``table.yaml``::

    kind: runs                # a renderer in RENDERERS (runs: one metrics.json per run)
    command: python -m suite task=adv norm={norm}    # how the files were made (printed under the table)
    note: one seed, 269 test images                 # optional line under the table
    ...                       # the renderer's own keys

Kind ``runs``: every ``*.json`` in the folder is a run's metrics.json (copied from ``runs/``); ``rows``
names the record keys (dotted paths, e.g. ``norm`` or ``config.norm.num_groups``) that label a row,
``columns`` maps a header to a dotted path (``metrics.test/acc``), ``format`` formats numbers.
Kind ``study``: a batch-size study's folder (cells.csv, study.json; written by ``python -m suite.study``).
Kind ``selection``: ``results/selection/``, one ``<id>/`` per hyper-parameter chosen by ``python -m suite.select``.
Another kind is one ``@RENDERERS.register("name")`` function ``(folder, spec) -> markdown``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

from suite.errors import UserError
from suite.registry import Registry
from suite.select import readme_section as selection_section
from suite.study.report import readme_section

RENDERERS = Registry("results table kind", "kind")


def lookup(record: dict, path: str):
    """``record`` at a dotted path; a segment may itself hold slashes (``metrics.test/acc``)."""
    value = record
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def formatted(value, number_format: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return number_format.format(value)
    return str(value)


@RENDERERS.register("runs")
def runs_table(folder: Path, spec) -> str:
    """One row per metrics.json in `folder`, sorted by the row keys; failed runs are refused."""
    records = [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]
    if not records:
        raise UserError(f"{folder} has no metrics.json files (*.json) for its table")
    for record in records:
        if record.get("status") != "finished":
            raise UserError(f"{folder}: run {record.get('run_id')} did not finish ({record.get('error')}); "
                            f"remove its file or re-run it")
    rows, columns = list(spec.rows), dict(spec.columns)
    number_format = spec.get("format", "{:.3f}")
    records.sort(key=lambda record: [str(lookup(record, key)) for key in rows])
    lines = ["| " + " | ".join([*rows, *columns]) + " |", "|" + "---|" * len(rows) + "---:|" * len(columns)]
    for record in records:
        cells = [formatted(lookup(record, key), number_format) for key in [*rows, *columns.values()]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@RENDERERS.register("study")
def study_table(folder: Path, spec) -> str:
    """A study's results folder (``python -m suite.study``): its verdicts and tables (`readme_section`)."""
    return readme_section(folder)


@RENDERERS.register("selection")
def selection_tables(folder: Path, spec) -> str:
    """Hyper-parameters chosen on validation data (``python -m suite.select``), one table each."""
    return selection_section(folder)


def render(folder: Path) -> str:
    """The README section of one results folder: its table, its note and the command that made it."""
    spec_path = folder / "table.yaml"
    if not spec_path.is_file():
        raise UserError(f"{folder} has no table.yaml: add one with kind: (one of {', '.join(RENDERERS.names())})")
    spec = OmegaConf.load(spec_path)
    text = RENDERERS.get(spec.kind)(folder, spec)
    if spec.get("note"):
        text += f"\n\n{spec.note}"
    if spec.get("command"):
        text += f"\n\nMade by `{spec.command}`; files: `{folder.parent.name}/{folder.name}/`, table: `make results`."
    return text


def markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name}:start -->", f"<!-- results:{name}:end -->"


def replace_section(text: str, start: str, end: str, body: str) -> str:
    """`text` with whatever lies between the lines `start` and `end` replaced by `body`."""
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise UserError(f"the README needs exactly one line {start} followed by one line {end}; "
                        f"add them where the table goes")
    before, rest = text.split(start)
    return f"{before}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def update_readme(results_dir: Path, readme: Path) -> tuple[str, list[str]]:
    """The README text with every results folder's section rewritten, and the names that changed."""
    text = readme.read_text()
    changed = []
    folders = sorted(path for path in results_dir.iterdir() if path.is_dir()) if results_dir.is_dir() else []
    for folder in folders:
        start, end = markers(folder.name)
        updated = replace_section(text, start, end, render(folder))
        if updated != text:
            changed.append(folder.name)
        text = updated
    return text, changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suite.tables", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="folder of results/<name>/")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--check", action="store_true", help="fail if a section differs from its files")
    args = parser.parse_args(argv)
    try:
        text, changed = update_readme(args.results, args.readme)
    except UserError as error:
        print(f"normsuite tables: error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print(f"out of date in {args.readme}: {', '.join(changed)}; run make results", file=sys.stderr)
        return 1 if changed else 0
    args.readme.write_text(text)
    print(f"{args.readme}: rewrote {', '.join(changed) or 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
