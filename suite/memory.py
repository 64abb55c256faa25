"""A run's peak memory, measured inside the run's own process while it runs.

Memory is why volumes force small batches, so every run records it (``memory/peak_mb`` and
``memory/start_mb`` in metrics.json and the W&B summary, ``peak_memory_source`` saying which):

- ``cuda_max_allocated``: when the run used CUDA, ``torch.cuda.max_memory_allocated`` (tensors only,
  not the caching allocator's reserve), its peak statistics reset when the run starts.
- ``cpu_rss_sampled``: otherwise the process's resident set size, sampled by a background thread every
  ``interval_s`` (default 20 ms) from start to stop. Not ``ru_maxrss``: a study worker process that runs
  several cells would report the largest earlier cell's peak as every later one's. A peak shorter than
  the interval can be missed, so this is a lower bound; ``start_mb`` (RSS at start: interpreter,
  libraries, data) lets a reader subtract what the run did not add.
"""
from __future__ import annotations

import threading

import psutil
import torch

MB = 2**20


class PeakMemory:
    """``start()`` before the work, ``stop()`` after: returns the metrics named in the module docstring."""

    def __init__(self, interval_s: float = 0.02):
        self.interval_s = interval_s
        self._process = psutil.Process()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.start_rss = self.peak_rss = 0

    def _sample(self) -> None:
        while not self._stopped.wait(self.interval_s):
            self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    def start(self) -> "PeakMemory":
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.reset_peak_memory_stats()
        self.start_rss = self.peak_rss = self._process.memory_info().rss
        self._cuda_start = torch.cuda.memory_allocated() if torch.cuda.is_initialized() else 0
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> tuple[dict[str, float], str]:
        """Stop sampling; ``({"memory/peak_mb": ..., "memory/start_mb": ...}, source)``."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            peak, start, source = torch.cuda.max_memory_allocated(), self._cuda_start, "cuda_max_allocated"
        else:
            peak, start, source = self.peak_rss, self.start_rss, "cpu_rss_sampled"
        return {"memory/peak_mb": peak / MB, "memory/start_mb": start / MB}, source
