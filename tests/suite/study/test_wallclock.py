import json

from suite.study import __main__ as driver
from suite.study.wallclock import FILE, WallClock, read_entries, total_seconds


def test_each_command_adds_one_entry_and_the_total_is_their_sum(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("suite.study.wallclock.time.time", lambda: now[0])
    first = WallClock(tmp_path)
    now[0] += 30.0
    assert first() == 30.0
    now[0] += 12.5
    assert first() == 42.5  # the same command's entry grows, no new one
    second = WallClock(tmp_path)
    now[0] += 7.0
    assert second() == 49.5
    entries = json.loads((tmp_path / FILE).read_text())
    assert [entry["seconds"] for entry in entries] == [42.5, 7.0]
    assert entries[0]["started"] == "1970-01-01T00:16:40Z"


def test_a_file_of_bare_seconds_reads_as_entries_of_unknown_start(tmp_path):
    (tmp_path / FILE).write_text("[610.4, 20.0]")
    entries = read_entries(tmp_path)
    assert entries == [{"started": None, "seconds": 610.4}, {"started": None, "seconds": 20.0}]
    assert total_seconds(entries) == 630.4
    assert read_entries(tmp_path / "missing") == []


def test_a_study_keeps_its_wall_time_beside_its_ledger_so_a_clean_clone_adds_to_it(tmp_path, monkeypatch):
    monkeypatch.setattr(driver, "run_study", lambda *args, **kwargs: None)
    monkeypatch.setattr(driver, "report", lambda *args, **kwargs: None)
    (tmp_path / "results" / "quick").mkdir(parents=True)
    (tmp_path / "results" / "quick" / FILE).write_text('[{"started": "an earlier machine", "seconds": 100.0}]')
    driver.run(["profile=quick", f"reports_dir={tmp_path / 'reports'}", f"results_dir={tmp_path / 'results'}"])
    entries = read_entries(tmp_path / "results" / "quick")
    assert [entry["started"] for entry in entries][0] == "an earlier machine" and len(entries) == 2
    assert read_entries(tmp_path / "reports" / "quick") == []
