"""python -m suite.select: the choice uses validation metrics only, its numbers against an independent
computation, its files and README section, bad input, and the configs holding the chosen values."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats

import suite.select as select
from suite.config import compose_config
from suite.errors import UserError
from suite.study.grid import task_overrides
from suite.study.profile import load_profile
from suite.tables import render

ROOT = Path(__file__).resolve().parents[2]
UDA = ["task=uda", "key=task.domain_loss_weight", "values=[0.1,1.0]", "criterion=source_error_plus_divergence",
       "seeds=[0,1,2]", "baseline=task.adapt=false"]
# Per (w, seed): source val acc and proxy A-distance. w = 1.0 scores better on validation; its *test*
# accuracy is made worse, so a chooser that looked at test would pick 0.1.
VALIDATION = {0.1: [(0.90, 1.6), (0.88, 1.7), (0.91, 1.5)], 1.0: [(0.86, 0.9), (0.87, 1.0), (0.85, 0.8)]}
TARGET_TEST = {0.1: [0.70, 0.72, 0.69], 1.0: [0.50, 0.55, 0.52], "baseline": [0.45, 0.50, 0.40]}


def fake_study(test_offset: float = 0.0):
    """A stand-in for the study runner: writes each cell's metrics.json as a finished run would."""
    def run_study(profile, study_dir, after_task=None, cells=None):
        for cell in cells:
            value = cell.fixed_overrides[-1].split("=", 1)[1]
            arm = "baseline" if value == "false" else float(value)
            metrics = {"test/acc": TARGET_TEST[arm][cell.seed] + test_offset, "test/source_acc": 0.99 - test_offset}
            if arm != "baseline":
                source_acc, distance = VALIDATION[arm][cell.seed]
                metrics.update({"val/source_acc": source_acc, "val/proxy_a_distance": distance, "val/acc": 0.1})
            path = cell.metrics_path(Path(study_dir) / "cells")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"status": "finished", "metrics": metrics, "wall_time_s": 10.0}))
        return cells
    return run_study


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_choice_follows_validation_and_ignores_test_metrics(in_tmp, monkeypatch):
    monkeypatch.setattr(select, "run_study", fake_study())
    record = select.run(UDA)
    assert record["chosen"] == 1.0
    expected = {w: np.mean([-((1 - acc) + distance / 2) for acc, distance in runs]) for w, runs in VALIDATION.items()}
    assert {row["value"]: row["mean"] for row in record["summary"]} == pytest.approx(expected)
    folder = in_tmp / "results" / "selection" / "uda-task.domain_loss_weight"
    table = (folder / "cells.csv").read_text()

    # The same validation metrics with every test metric moved: the same table and choice.
    monkeypatch.setattr(select, "run_study", fake_study(test_offset=0.2))
    (in_tmp / "reports").rename(in_tmp / "old-reports")
    assert select.run(UDA)["chosen"] == 1.0
    assert (folder / "cells.csv").read_text() == table


def test_a_criterion_is_given_val_metrics_only(in_tmp, monkeypatch):
    seen = []

    def spy(metrics):
        seen.append(set(metrics))
        return metrics["val/source_acc"]

    monkeypatch.setitem(select.NAMED_CRITERIA, "spy", select.Criterion("spy", "spy", ("val/source_acc",), spy))
    monkeypatch.setattr(select, "run_study", fake_study())
    select.run([*UDA[:3], "criterion=spy", "seeds=[0,1,2]"])
    assert seen and all(key.startswith("val/") for keys in seen for key in keys)


def test_the_evaluation_after_the_choice_matches_an_independent_computation(in_tmp, monkeypatch):
    monkeypatch.setattr(select, "run_study", fake_study())
    result = select.run(UDA)["evaluation"]
    differences = np.array(TARGET_TEST[1.0]) - np.array(TARGET_TEST["baseline"])
    half = stats.t.ppf(0.975, 2) * differences.std(ddof=1) / math.sqrt(3)
    assert result["difference_mean"] == pytest.approx(differences.mean())
    assert (result["low"], result["high"]) == pytest.approx((differences.mean() - half, differences.mean() + half))
    spread = max(np.std(TARGET_TEST[1.0], ddof=1), np.std(TARGET_TEST["baseline"], ddof=1))
    assert result["largest_std"] == pytest.approx(spread)
    assert result["beats_by_more_than_spread"] == bool(differences.mean() - half > 0 and differences.mean() > spread)


def test_files_and_readme_section(in_tmp, monkeypatch):
    monkeypatch.setattr(select, "run_study", fake_study())
    select.run(UDA)
    folder = in_tmp / "results" / "selection"
    (folder / "table.yaml").write_text("kind: selection\n")
    section = render(folder)
    assert "| 1.0 **(chosen)** | 3/3 |" in section and "| 0.1 | 3/3 |" in section
    assert "python -m suite.select task=uda" in section and "Beats the baseline" in section
    scores = pd.read_csv(folder / "uda-task.domain_loss_weight" / "cells.csv")
    assert set(scores.columns) >= {"value", "seed", "status", "score", "val/source_acc", "val/proxy_a_distance"}
    assert not any(column.startswith("test/") for column in scores.columns)


def test_selections_that_differ_only_in_the_norm_share_one_table(in_tmp, monkeypatch):
    """Each norm's own choice of one key (its learning rate): one row per norm, the criterion per value,
    the chosen value in bold, each row's folder."""
    monkeypatch.setattr(select, "run_study", fake_study())
    for norm in ("bn", "gn"):
        select.run([*UDA[:5], f"norm={norm}", f"id=uda-w-{norm}"])
    folder = in_tmp / "results" / "selection"
    (folder / "table.yaml").write_text("kind: selection\n")
    section = render(folder)
    scores = {w: [-((1 - acc) + distance / 2) for acc, distance in runs] for w, runs in VALIDATION.items()}
    cells = [f"{np.mean(scores[w]):.3f} ± {np.std(scores[w], ddof=1):.3f}" for w in (0.1, 1.0)]
    for norm in ("bn", "gn"):
        assert f"| {norm} | {cells[0]} | **{cells[1]}** | `results/selection/uda-w-{norm}/` |" in section
    assert section.count("task.domain_loss_weight` per norm") == 1


def test_a_value_with_a_missing_seed_is_not_chosen():
    scores = pd.DataFrame({"value": [0.1, 0.1, 1.0, 1.0], "seed": [0, 1, 0, 1], "score": [0.5, 0.5, 0.9, math.nan]})
    chosen, summary = select.choose(scores, [0.1, 1.0])
    assert chosen == 0.1 and list(summary.finished) == [2, 1]


@pytest.mark.parametrize("arguments, message", [
    (["task=uda", "key=task.domain_loss_weight", "values=[1]", "criterion=test/acc"], "never on test"),
    (["task=uda", "key=task.domain_loss_weight", "values=[1]"], "missing criterion="),
    (["task=uda", "key=task.domain_loss_weight", "values=1", "criterion=val/acc"], "values must be a list"),
    (["task=uda", "key=task.no_such_key", "values=[1]", "criterion=val/acc"], "task.no_such_key"),
    (["task=uda", "key=task.adapt", "values=[1]", "criterion=val/acc", "colour=red"], "unknown option colour"),
])
def test_bad_input_is_one_line_before_anything_runs(in_tmp, capsys, arguments, message):
    assert select.main(arguments) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert not (in_tmp / "reports").exists() and not (in_tmp / "results").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "results" / "selection").glob("*/selection.json")),
                         ids=lambda path: path.parent.name)
def test_the_configs_hold_the_chosen_values(path):
    """A committed selection's value is what its task's cells now compose to (the profile's settings)."""
    record = json.loads(path.read_text())
    profile = load_profile(record["profile"])
    cfg = compose_config([f"task={record['task']}", f"norm={record['norm']}",
                          *task_overrides(profile, record["task"], record["norm"])])
    assert select.same_value(OmegaConf.select(cfg, record["key"]), record["chosen"]), path
