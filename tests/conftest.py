"""Shared fixtures: the real configs, shrunk for tests (tiny data, 1 epoch, CPU, no W&B)."""
from __future__ import annotations

import pytest

from suite.config import compose_config

FAST = [
    "logger.mode=disabled",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.checkpoint=false",
]


@pytest.fixture
def make_config(tmp_path):
    """``make_config("task=cls", "norm=bgn", ...)``: the real composed config with the
    FAST overrides and results under a temporary directory; later overrides win."""

    def compose(*overrides: str):
        return compose_config([*FAST, f"paths.runs={tmp_path / 'runs'}", *overrides])

    return compose
