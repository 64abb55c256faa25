import json

import pytest

from suite import results
from suite.results import package_versions, read_metrics, write_json_atomic


def test_write_then_read_round_trips(tmp_path):
    path = tmp_path / "run" / "metrics.json"
    write_json_atomic(path, {"status": "finished", "metrics": {"test/acc": 0.5}})
    assert read_metrics(path) == {"status": "finished", "metrics": {"test/acc": 0.5}}


def test_a_truncated_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"status": "finished", "metr')
    with pytest.raises(results.CorruptFile, match=f"{path} is corrupt"):
        read_metrics(path)


def test_a_crash_while_writing_keeps_the_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"status": "finished"})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.json, "dumps", crash)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"status": "half"})
    assert json.loads(path.read_text()) == {"status": "finished"}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_writer_failing_inside_atomic_path_keeps_the_previous_file(tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text("task,norm\ncls,bn\n")
    with pytest.raises(OSError, match="disk full"):
        with results.atomic_path(path) as temporary:
            temporary.write_text("task,no")
            raise OSError("disk full")
    assert path.read_text() == "task,norm\ncls,bn\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cells.csv"]


def test_versions_name_the_libraries_a_result_depends_on():
    versions = package_versions()
    for package in ("python", "torch", "timm", "pytorch-lightning"):
        assert versions[package]
