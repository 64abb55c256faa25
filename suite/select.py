"""``python -m suite.select``: choose one hyper-parameter from a grid on validation data, never on test.

    python -m suite.select task=uda key=task.domain_loss_weight values=[0.1,0.3,1.0] \\
        criterion=source_error_plus_divergence batch=256 baseline=task.adapt=false

runs, for every value of `key`, the cells of a study sweep (`suite.study.grid.sweep_cells`: the study profile's
settings for `task`, one `norm`, normalization batch `batch`, `seeds`) with the study's runner, scores each
finished cell by `criterion` from its ``val/*`` metrics only (`validation_metrics` drops every other key
before a criterion sees the record), and chooses the value with the highest mean score over seeds. The table
(value, seeds, score mean ± std, the val metrics it used) and the choice go to
``results/selection/<task>-<key>/`` (``selection.json``, ``cells.csv``); ``make results`` renders every
selection into the README (`readme_section`), and the command prints its table. The chosen value is then written into the task's config by hand,
with a comment naming that folder (a test checks they agree).

Only after the choice, ``baseline=<override>`` (e.g. ``task.adapt=false``: DANN's source-only baseline) runs
the same seeds with that override and compares the chosen value's test metric (``task.main_metric``) with
it, paired by seed (``evaluation`` in selection.json): the evidence, not part of the choice.
Options: ``profile=default`` (the study profile whose settings the cells use), ``norm=bn``, ``batch=`` (the
normalization batch; default the profile's largest), ``seeds=[0,1,2]``, ``id=<task>-<key>``.
"""
from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
from omegaconf import OmegaConf

from suite.config import compose_config
from suite.errors import UserError, run_command
from suite.locks import DirectoryLock
from suite.resume import StopRequest
from suite.results import package_versions, write_json_atomic, write_text_atomic
from suite.study.aggregate import cell_record, markdown_grid
from suite.study.grid import Cell, sweep_cells
from suite.study.profile import load_profile
from suite.study.runner import run_study
from suite.study.verdicts import t_interval
from suite.study.wallclock import WallClock

USAGE = ("usage: python -m suite.select task=<task> key=<config key> values=[v1,v2,...] criterion=<name> "
         "[baseline=<key>=<value>] [profile=default] [norm=bn] [batch=<k>] [seeds=[0,1,2]] [id=<name>]")
VALIDATION_PREFIX = "val/"
RULE = "the value with the highest mean criterion over its finished seeds (every value needs all seeds finished)"


@dataclass(frozen=True)
class Criterion:
    """A score (higher is better) of one run from its validation metrics alone."""

    name: str
    description: str
    needs: tuple[str, ...]              # the val/ metrics it reads
    score: Callable[[dict], float]


def val_metric(metric: str) -> Criterion:
    """The val/ metric `metric` itself (e.g. ``val/robust_acc_pgd20``), higher is better."""
    return Criterion(metric, f"{metric} (higher is better)", (metric,), lambda metrics: metrics[metric])


# Ben-David et al. (2010): target error <= source error + H-divergence/2 + λ. The proxy A-distance of a fresh
# domain classifier on the val features (tasks/domain_adaptation/divergence.py) estimates the divergence;
# neither term needs a target label. Negated so that higher is better.
SOURCE_ERROR_PLUS_DIVERGENCE = Criterion(
    "source_error_plus_divergence",
    "−[(1 − val/source_acc) + val/proxy_a_distance / 2]: the source val error plus half the proxy A-distance of "
    "source and target val features (the first two terms of Ben-David et al.'s 2010 target-error bound; "
    "no target label), higher is better",
    ("val/source_acc", "val/proxy_a_distance"),
    lambda metrics: -((1.0 - metrics["val/source_acc"]) + metrics["val/proxy_a_distance"] / 2.0))

NAMED_CRITERIA = {criterion.name: criterion for criterion in (SOURCE_ERROR_PLUS_DIVERGENCE,)}


def criterion_named(name: str) -> Criterion:
    """A named criterion, or a val/ metric; anything else (a test metric) is refused."""
    if name in NAMED_CRITERIA:
        return NAMED_CRITERIA[name]
    if name.startswith(VALIDATION_PREFIX):
        return val_metric(name)
    raise UserError(f"criterion={name} is neither a val/ metric nor one of {', '.join(NAMED_CRITERIA)}: "
                    f"hyper-parameters are chosen on validation data, never on test")


def validation_metrics(record: dict) -> dict[str, float]:
    """The ``val/*`` metrics of a metrics.json record: all a criterion is given."""
    return {key: value for key, value in record.get("metrics", {}).items() if key.startswith(VALIDATION_PREFIX)}


def score_cells(cells: list[Cell], values: list, runs_dir: Path, criterion: Criterion) -> pd.DataFrame:
    """One row per cell: its value, seed, status, the val metrics the criterion needs and its score."""
    rows = []
    for cell, value in zip(cells, values):
        row = {"value": value, "seed": cell.seed, "status": "missing", "score": math.nan, "cell_id": cell.cell_id}
        row.update({metric: math.nan for metric in criterion.needs})
        record = cell_record(cell, runs_dir)
        if record is not None:
            row["status"] = record["status"]
            metrics = validation_metrics(record)
            if record["status"] == "finished":
                absent = [metric for metric in criterion.needs if metric not in metrics]
                if absent:
                    row["status"] = f"no {absent[0]}"
                else:
                    row.update({metric: metrics[metric] for metric in criterion.needs}, score=criterion.score(metrics))
        rows.append(row)
    return pd.DataFrame(rows)


def choose(scores: pd.DataFrame, values: list) -> tuple[object, pd.DataFrame]:
    """(the chosen one of `values`, per-value summary: mean, std, finished, planned) by `RULE`; None when no
    value qualifies."""
    summary = scores.groupby("value", sort=False).agg(mean=("score", "mean"), std=("score", "std"),
                                                      finished=("score", "count"), planned=("seed", "size"))
    complete = summary[summary.finished == summary.planned]
    if complete.empty:
        return None, summary
    best = complete["mean"].idxmax()
    return next(value for value in values if same_value(value, best)), summary  # as given, not pandas' copy


def same_value(first, second) -> bool:
    """Whether two grid values are equal, as numbers where both are (a csv reads 1 back as 1.0)."""
    try:
        return float(first) == float(second)
    except (TypeError, ValueError):
        return str(first) == str(second)


def evaluation(chosen_cells: list[Cell], baseline_cells: list[Cell], runs_dir: Path, metric: str) -> dict:
    """Test `metric` of the chosen value's cells and the baseline's, per seed, and chosen − baseline paired by seed
    with its 95 % t-interval. *beats*: the interval lies above 0 and the mean difference exceeds both arms' std."""
    def values(cells):
        found = {}
        for cell in cells:
            record = cell_record(cell, runs_dir) or {"status": "missing"}
            if record["status"] == "finished" and metric in record["metrics"]:
                found[cell.seed] = float(record["metrics"][metric])
        return found

    ours, theirs = values(chosen_cells), values(baseline_cells)
    common = sorted(set(ours) & set(theirs))
    interval = t_interval([ours[seed] - theirs[seed] for seed in common])
    spread = max(pd.Series(list(ours.values())).std(), pd.Series(list(theirs.values())).std())
    beats = interval.above_zero and interval.mean > spread
    return {"metric": metric, "chosen": ours, "baseline": theirs, "difference": interval.text(),
            "difference_mean": interval.mean, "low": interval.low, "high": interval.high, "pairs": interval.n,
            "largest_std": spread, "beats_by_more_than_spread": bool(beats)}


def fmt(mean: float, std: float) -> str:
    return "—" if math.isnan(mean) else f"{mean:.3f}" + ("" if math.isnan(std) else f" ± {std:.3f}")


def selection_markdown(record: dict, scores: pd.DataFrame) -> str:
    """The table of one selection (the README, the command's output), its choice and, if run, its evaluation."""
    needs = record["criterion"]["needs"]
    settings = [item for item in record["settings"] if not item.startswith(f"{record['key']}=")]  # the profile's
    rows = {}
    for value, group in scores.groupby("value", sort=False):
        finished = group[group.status == "finished"]
        marker = " **(chosen)**" if same_value(value, record["chosen"]) else ""
        rows[f"{value}{marker}"] = [f"{len(finished)}/{len(group)}",
                                    *(fmt(finished[metric].mean(), finished[metric].std()) for metric in needs),
                                    fmt(finished.score.mean(), finished.score.std())]
    lines = [f"**{record['task']}: `{record['key']}`** ({record['norm']}, normalization batch {record['batch']}, "
             f"seeds {', '.join(map(str, record['seeds']))}; `{' '.join(settings)}`)", "",
             markdown_grid(record["key"], rows, ["seeds", *needs, "criterion"]), "",
             f"Criterion: {record['criterion']['description']}. Rule: {record['rule']}. "
             f"Chosen: `{record['key']}={record['chosen']}`. Wall time {record['wall_time_s']:.0f} s "
             f"({record['cell_seconds']:.0f} s of cell time{', baseline included' if record['baseline'] else ''} "
             f"on {record['cpu_count']} cores)."]
    result = record.get("evaluation")
    if result:
        ours, theirs = (pd.Series(list(result[arm].values()), dtype=float) for arm in ("chosen", "baseline"))
        lines += ["", f"Evaluation after the choice, {result['metric']} (test): chosen {fmt(ours.mean(), ours.std())}, "
                      f"`{record['baseline']}` {fmt(theirs.mean(), theirs.std())}; chosen − baseline paired by seed "
                      f"{result['difference']} (95 % CI, {result['pairs']} pairs). Beats the baseline by more than "
                      f"the spread (interval above 0 and mean difference above both arms' std): "
                      f"**{'yes' if result['beats_by_more_than_spread'] else 'no'}**."]
    return "\n".join(lines)


def per_norm_markdown(selections: list[tuple[str, dict, pd.DataFrame]]) -> str:
    """One table for selections of one key on one task that differ only in their norm (each norm's learning
    rate): a row per norm, the criterion's mean ± std per value (the chosen one in bold), the folder."""
    first = selections[0][1]
    values = list(dict.fromkeys(value for _, record, _ in selections for value in record["values"]))
    rows = {}
    for folder, record, scores in selections:
        cells = []
        for value in values:
            group = scores[[same_value(cell, value) for cell in scores.value]]
            finished = group[group.status == "finished"]
            text = fmt(finished.score.mean(), finished.score.std()) if len(group) else "not run"
            text += "" if len(finished) == len(group) else f" ({len(finished)}/{len(group)} seeds)"
            cells.append(f"**{text}**" if same_value(value, record["chosen"]) else text)
        rows[record["norm"]] = [*cells, f"`{folder}`"]
    settings = [item for item in first["settings"] if not item.startswith(f"{first['key']}=")]
    seconds = sum(record["wall_time_s"] for _, record, _ in selections)
    return "\n".join([
        f"**{first['task']}: `{first['key']}` per norm** (normalization batch {first['batch']}, seeds "
        f"{', '.join(map(str, first['seeds']))}; `{' '.join(settings)}`)", "",
        markdown_grid("norm", rows, [f"{first['key']}={value}" for value in values] + ["files"]), "",
        f"Criterion: {first['criterion']['description']}, mean ± std over seeds; chosen (bold): {first['rule']}. "
        f"Wall time {seconds:.0f} s in all on {first['cpu_count']} cores. Each row made by the command in its "
        f"folder's selection.json, e.g. `{first['command']}`."])


def readme_section(folder: Path) -> str:
    """``make results`` (results kind ``selection``): every ``<folder>/<id>/`` selection, rebuilt from its
    selection.json and cells.csv, with its command; selections of one key on one task under the same settings
    that differ only in the norm share one table (`per_norm_markdown`)."""
    folder = Path(folder)
    groups: dict[tuple, list] = {}
    for path in sorted(folder.glob("*/selection.json")):
        record = json.loads(path.read_text())
        same = (record["task"], record["key"], record["profile"], record["batch"], tuple(record["seeds"]),
                record["criterion"]["name"], tuple(record["settings"]), record["baseline"])
        groups.setdefault(same, []).append((f"{folder.parent.name}/{folder.name}/{path.parent.name}/", record,
                                            pd.read_csv(path.parent / "cells.csv")))
    if not groups:
        raise UserError(f"{folder} holds no <id>/selection.json: run python -m suite.select first")
    parts = []
    for selections in groups.values():
        if len(selections) > 1 and not selections[0][1]["baseline"]:
            parts.append(per_norm_markdown(selections))
            continue
        parts += [f"{selection_markdown(record, scores)}\n\nMade by `{record['command']}`; files: `{files}`."
                  for files, record, scores in selections]
    return "\n\n".join(parts)


def cell_seconds(cell: Cell, runs_dir: Path) -> float:
    return float((cell_record(cell, runs_dir) or {}).get("wall_time_s") or 0.0)


def parse(arguments: list[str]) -> dict:
    """The command's options; a one-line error for a missing or unknown one."""
    try:
        options = OmegaConf.to_container(OmegaConf.from_dotlist([argument for argument in arguments
                                                                 if not argument.startswith("baseline=")]))
    except Exception as error:  # noqa: BLE001 - OmegaConf's grammar errors: one line for the user
        raise UserError(f"{' '.join(str(error).split())}; {USAGE}") from None
    options["baseline"] = next((argument.split("=", 1)[1] for argument in arguments
                                if argument.startswith("baseline=")), None)
    known = {"task", "key", "values", "criterion", "baseline", "profile", "norm", "batch", "seeds", "id"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UserError(f"unknown option {unknown[0]}; {USAGE}")
    missing = [name for name in ("task", "key", "values", "criterion") if options.get(name) in (None, [], "")]
    if missing:
        raise UserError(f"missing {missing[0]}=; {USAGE}")
    if not isinstance(options["values"], list):
        raise UserError(f"values must be a list such as values=[0.1,0.3], got {options['values']!r}")
    if options["baseline"] is not None and "=" not in options["baseline"]:
        raise UserError("baseline must be one override key=value, e.g. baseline=task.adapt=false")
    return options


def run(arguments: list[str]) -> dict:
    options = parse(arguments)
    criterion = criterion_named(str(options["criterion"]))
    task, key, norm = str(options["task"]), str(options["key"]), str(options.get("norm", "bn"))
    selection_id = str(options.get("id") or f"{task}-{key}")
    base = load_profile(str(options.get("profile", "default")))
    batch = int(options.get("batch") or max(base.batch_sizes))
    seeds = [int(seed) for seed in options.get("seeds", [0, 1, 2])]
    profile = load_profile(str(options.get("profile", "default")),
                           [f"tasks=[{task}]", f"norms=[{norm}]", f"batch_sizes=[{batch}]",
                            f"seeds=[{','.join(map(str, seeds))}]", "sweeps=[]", f"study_id={selection_id}",
                            "reports_dir=reports/selection", "results_dir=results/selection",
                            # cells print what the criterion reads as they land, not the test metric
                            f"+shown_metrics=[{','.join(criterion.needs)}]"])
    values = list(options["values"])
    cells = sweep_cells(profile, OmegaConf.create({"task": task, "norm": norm, "key": key, "values": values}))
    cell_values = [value for value in values for _ in seeds]
    first = compose_config(cells[0].overrides())  # a mistyped key or value: a one-line error before any cell runs
    baseline_cells = []
    if options["baseline"]:
        baseline_key, baseline_value = options["baseline"].split("=", 1)
        baseline_cells = sweep_cells(profile, OmegaConf.create({"task": task, "norm": norm, "key": baseline_key,
                                                                 "values": [baseline_value]}))
        compose_config(baseline_cells[0].overrides())
    study_dir = Path(profile.reports_dir) / selection_id
    out = Path(profile.results_dir) / selection_id
    clock = WallClock(study_dir)
    with DirectoryLock(study_dir, f"selection {selection_id} ({study_dir})", "wait for that command to end"):
        with StopRequest():
            run_study(profile, study_dir, cells=cells + baseline_cells)
        runs_dir = study_dir / "cells"
        scores = score_cells(cells, cell_values, runs_dir, criterion)
        chosen, summary = choose(scores, values)
        if chosen is None:
            raise UserError(f"no value of {key} finished every seed (see {runs_dir}); the same command resumes")
        record = {"task": task, "key": key, "values": values, "profile": profile.profile, "norm": norm,
                  "batch": batch, "seeds": seeds,
                  "criterion": {"name": criterion.name, "description": criterion.description,
                                "needs": list(criterion.needs)},
                  "rule": RULE, "chosen": chosen, "baseline": options["baseline"],
                  "cpu_count": os.cpu_count(), "settings": list(cells[0].fixed_overrides[:-1]),  # the profile's, the key's value left out
                  "summary": summary.reset_index().to_dict("records"),
                  "command": "python -m suite.select " + " ".join(arguments),
                  "wall_time_s": clock(),
                  "cell_seconds": round(float(sum(cell_seconds(cell, runs_dir) for cell in cells + baseline_cells)), 1),
                  "versions": package_versions()}
        if baseline_cells:  # after the choice: the chosen value's test metric against the baseline
            chosen_cells = [cell for cell, value in zip(cells, cell_values) if value == chosen]
            record["evaluation"] = evaluation(chosen_cells, baseline_cells, runs_dir, first.task.main_metric)
        write_text_atomic(out / "cells.csv", scores.to_csv(index=False))
        write_json_atomic(out / "selection.json", record)
    print(selection_markdown(record, scores))
    return record


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if arguments else 2
    return run_command("normsuite select", lambda: run(arguments), "the same command resumes")


if __name__ == "__main__":
    sys.exit(main())
