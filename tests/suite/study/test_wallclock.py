import json

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
