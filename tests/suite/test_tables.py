"""make results: README sections rendered from results folders, and the committed README in sync."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from suite.errors import UserError
from suite.tables import main, markers, update_readme

ROOT = Path(__file__).resolve().parents[2]


def write_run(folder: Path, norm: str, accuracy: float, status: str = "finished") -> None:
    record = {"status": status, "error": None, "run_id": f"r-{norm}", "norm": norm,
              "config": {"norm": {"num_groups": 32 if norm == "gn" else None}}, "metrics": {"test/acc": accuracy}}
    (folder / f"{norm}.json").write_text(json.dumps(record))


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "results" / "demo"
    folder.mkdir(parents=True)
    (folder / "table.yaml").write_text("kind: runs\ncommand: python -m suite norm={norm}\nnote: one seed.\n"
                                       "rows: [norm]\ncolumns: {G: config.norm.num_groups, acc: metrics.test/acc}\n")
    write_run(folder, "gn", 0.9123)
    write_run(folder, "bn", 0.95)
    start, end = markers("demo")
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{start}\nhand-typed 0.99\n{end}\n\nafter\n")
    return tmp_path, readme


def test_section_is_rewritten_from_the_files_and_check_sees_drift(project):
    root, readme = project
    assert main(["--results", str(root / "results"), "--readme", str(readme), "--check"]) == 1
    assert main(["--results", str(root / "results"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "hand-typed" not in text and text.startswith("# title") and text.endswith("after\n")
    assert "| norm | G | acc |" in text
    assert text.index("| bn | — | 0.950 |") < text.index("| gn | 32 | 0.912 |")  # sorted by norm
    assert "one seed." in text and "`python -m suite norm={norm}`" in text
    assert main(["--results", str(root / "results"), "--readme", str(readme), "--check"]) == 0


def test_failed_run_and_missing_markers_are_errors(project):
    root, readme = project
    write_run(root / "results" / "demo", "ln", 0.1, status="failed")
    with pytest.raises(UserError, match="did not finish"):
        update_readme(root / "results", readme)
    (root / "results" / "demo" / "ln.json").unlink()
    readme.write_text("no markers\n")
    with pytest.raises(UserError, match="results:demo:start"):
        update_readme(root / "results", readme)


def test_committed_readme_matches_the_committed_results():
    _, changed = update_readme(ROOT / "results", ROOT / "README.md")
    assert not changed, f"README sections {changed} differ from results/: run make results"
