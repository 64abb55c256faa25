"""``python -m suite.study profile=<profile> [key=value ...]``: run a batch-size study and
write its report; ``python -m suite.study report <study-dir> [key=value ...]``: rebuild
the report (and the W&B summary) from the cells already on disk, without running any.

The cells run under ``<reports_dir>/<study_id>/`` (run dirs, Hydra sweeps, logs, W&B files); the report
goes to ``<results_dir>/<study_id>/`` (cells.csv, tables, plots, summary.md, report.html, study.json with
the command, package versions and wall time, table.yaml for ``make results``), rewritten after every
task, with the ledger of finished cells (``cells/``, `suite.study.ledger`: commit it as the study goes), so a stopped study leaves a report of what finished and the same command resumes it. One driver
per study directory (a lock; a second is a one-line error). SIGTERM or SIGINT stops the running sweep
with its cells (`suite.study.stop`: they checkpoint), writes the report and exits with 128 + the signal.
"""
from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from suite.errors import Interrupted, UserError, run_command
from suite.locks import DirectoryLock
from suite.resume import StopRequest
from suite.study.aggregate import collect, curves
from suite.study.grid import expand_grid
from suite.study.launcher import check_launcher
from suite.study.ledger import Ledger
from suite.study.profile import load_profile
from suite.study.report import write_report, write_study_record
from suite.study.runner import run_study
from suite.study.wandb_summary import log_summary
from suite.study.wallclock import WallClock, read_entries

USAGE = "usage: python -m suite.study profile=<name> [key=value ...] | report <study-dir> [key=value ...]"


def results_dir(profile, study_dir: Path) -> Path:
    """Where the report goes: ``<results_dir>/<study_id>/``, or the study dir itself when results_dir is null."""
    return Path(profile.results_dir) / profile.study_id if profile.get("results_dir") else study_dir


def write_files(profile, study_dir: Path):
    """The report files of the cells finished so far."""
    cells = expand_grid(profile)
    frame = collect(cells, study_dir / "cells")
    out = results_dir(profile, study_dir)
    record = write_study_record(out, profile, frame, read_entries(out))
    return frame, write_report(frame, out, profile.study_id, profile.degradation_threshold, profile.command,
                               record, curves(cells, study_dir / "cells"))


def ledger(profile, study_dir: Path) -> Ledger | None:
    """The study's ledger beside its report, when the report is not in the study dir itself."""
    out = results_dir(profile, study_dir)
    return Ledger(out / "cells", study_dir / "cells") if out != study_dir else None


def report(profile, study_dir: Path) -> None:
    """Aggregate the grid's cells in `study_dir`, write the report files and the W&B run."""
    frame, written = write_files(profile, study_dir)
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
    with DirectoryLock(study_dir, f"study {profile.study_id} ({study_dir})",
                       "wait for that driver to end, or stop it with kill -TERM <pid> (the same command resumes)"):
        OmegaConf.save(profile, study_dir / "study.yaml")
        clock = WallClock(results_dir(profile, study_dir))  # kept with the ledger: a clean clone adds to it

        def after_task() -> None:
            clock()
            write_files(profile, study_dir)

        try:
            with StopRequest():
                run_study(profile, study_dir, after_task, ledger=ledger(profile, study_dir))
        except Interrupted:
            after_task()  # the report of what finished; the same command resumes the rest
            raise
        clock()
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
    command = (lambda: rebuild(arguments[1:])) if arguments and arguments[0] == "report" else (lambda: run(arguments))
    return run_command("normsuite study", command,
                       "every cell stopped, the report holds what finished; the same command resumes the study")


if __name__ == "__main__":
    sys.exit(main())
