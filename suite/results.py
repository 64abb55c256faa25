"""metrics.json: a run's final metrics, resolved config, versions and wall time.

Written atomically (a temporary file in the same directory, then `os.replace`), so a
crash never leaves a half-written file and a reader sees either the old or the new one.
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

_VERSIONED = ("torch", "torchvision", "timm", "pytorch-lightning", "hydra-core", "wandb",
              "nni", "torchattacks", "learn2learn", "normsuite")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on (absent ones skipped)."""
    versions = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


@contextmanager
def atomic_path(path: Path):
    """``with atomic_path(path) as temporary:`` write `temporary` (any writer: pandas, matplotlib); on
    success it is synced and renamed over `path`, on failure removed, so `path` is always complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    try:
        yield Path(temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` to `path` so that the file is always complete."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` as JSON to `path` so that the file is always complete."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str))


class CorruptFile(ValueError):
    """A results file that cannot be read (truncated, not JSON, not a record); names its path."""


def read_metrics(path: Path) -> dict[str, Any]:
    """Read a metrics.json written by `write_json_atomic`; `CorruptFile` names a damaged one."""
    try:
        with open(path) as stream:
            record = json.load(stream)
    except (ValueError, UnicodeDecodeError) as error:
        raise CorruptFile(f"{path} is corrupt ({error}): delete it or re-run its run") from None
    if not isinstance(record, dict) or "status" not in record:
        raise CorruptFile(f"{path} is not a run record (no status): delete it or re-run its run")
    return record


def run_directory(cfg, run_id: str) -> Path:
    """Where a run lives: ``<paths.runs>/<task>/<norm>/<run_id>/``."""
    return Path(cfg.paths.runs) / cfg.task.name / cfg.norm.name / run_id
