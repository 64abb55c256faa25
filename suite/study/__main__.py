"""``python -m suite.study profile=<profile> [key=value ...]``: run a batch-size study and
write its report; ``python -m suite.study report <study-dir> [key=value ...]``: rebuild
the report (and the W&B summary) from the cells already on disk, without running any.
"""
from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from suite.errors import UserError
from suite.study.aggregate import collect
from suite.study.grid import expand_grid
from suite.study.launcher import check_launcher
from suite.study.profile import load_profile
from suite.study.report import write_report
from suite.study.runner import run_study
from suite.study.wandb_summary import log_summary

USAGE = "usage: python -m suite.study profile=<name> [key=value ...] | report <study-dir> [key=value ...]"


def report(profile, study_dir: Path) -> None:
    """Aggregate the grid's cells in `study_dir`, write the report files and the W&B run."""
    frame = collect(expand_grid(profile), study_dir / "cells")
    written = write_report(frame, study_dir, profile.study_id, profile.degradation_threshold,
                           profile.command)
    wandb_dir = log_summary(frame, written, profile, study_dir)
    finished = int((frame.status == "finished").sum())
    print(f"\n{finished} of {len(frame)} cells finished; report: {written.summary}"
          + (f"; W&B run: {wandb_dir}" if wandb_dir else ""))
    print(written.summary.read_text())


def run(arguments: list[str]) -> None:
    names = [argument.split("=", 1)[1] for argument in arguments if argument.startswith("profile=")]
    overrides = [argument for argument in arguments if not argument.startswith("profile=")]
    profile = load_profile(names[-1] if names else "default", overrides)
    study_dir = Path(profile.reports_dir) / profile.study_id
    profile.command = "python -m suite.study " + " ".join(arguments)
    check_launcher(profile)
    study_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(profile, study_dir / "study.yaml")
    run_study(profile, study_dir)
    report(profile, study_dir)


def rebuild(arguments: list[str]) -> None:
    if not arguments:
        raise UserError(f"report needs the study directory: {USAGE}")
    study_dir = Path(arguments[0])
    if not (study_dir / "study.yaml").is_file():
        raise UserError(f"{study_dir} has no study.yaml: point report at a reports/<study-id>/ directory")
    profile = OmegaConf.merge(OmegaConf.load(study_dir / "study.yaml"), OmegaConf.from_dotlist(arguments[1:]))
    report(profile, study_dir)


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in {"-h", "--help"}:
        print(USAGE)
        return 0
    try:
        if arguments and arguments[0] == "report":
            rebuild(arguments[1:])
        else:
            run(arguments)
    except UserError as error:
        print(f"normsuite study: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
