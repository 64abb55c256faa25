import pytest

from suite.results import read_metrics
from suite.session import RunSession


def test_a_crash_still_writes_the_metrics_recorded_so_far(make_config):
    cfg = make_config("run_id=crash")
    with pytest.raises(RuntimeError, match="boom"):
        with RunSession(cfg) as session:
            session.record({"search/acc": 0.75})
            raise RuntimeError("boom")
    written = read_metrics(session.run_dir / "metrics.json")
    assert written["status"] == "failed" and written["error"] == "RuntimeError: boom"
    recorded = {key: value for key, value in written["metrics"].items() if not key.startswith("memory/")}
    assert recorded == {"search/acc": 0.75} and written["peak_memory_source"] == "cpu_rss_sampled"
    assert written["config"]["run_id"] == "crash" and written["main_metric"] == "test/acc"
    assert (session.run_dir / "config.yaml").is_file()
    assert session.run_dir.parts[-3:] == ("cls", "bn", "crash")
