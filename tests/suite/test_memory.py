"""PeakMemory: peaks inside the measured span count, earlier peaks of the same process do not."""
import resource
import time

import numpy as np

from suite.memory import MB, PeakMemory


def hold(megabytes: int, seconds: float) -> None:
    block = np.ones(megabytes * MB, dtype=np.uint8)  # ones: every page touched, so resident
    time.sleep(seconds)
    del block


def test_a_peak_inside_the_span_is_seen():
    memory = PeakMemory(interval_s=0.01).start()
    hold(200, 0.3)
    metrics, source = memory.stop()
    assert source == "cpu_rss_sampled"
    assert metrics["memory/peak_mb"] - metrics["memory/start_mb"] >= 190  # the 200 MB block, sampled


def test_a_peak_before_the_span_is_not_counted_unlike_ru_maxrss():
    hold(300, 0.05)  # an earlier "run" in the same worker process
    lifetime_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    memory = PeakMemory(interval_s=0.01).start()
    time.sleep(0.1)
    metrics, _ = memory.stop()
    assert metrics["memory/peak_mb"] - metrics["memory/start_mb"] < 50
    assert lifetime_peak_mb - metrics["memory/peak_mb"] > 200
