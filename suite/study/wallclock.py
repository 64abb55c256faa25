"""Wall time of a study or a selection that may take several commands: ``wall_time.json`` in its reports
directory holds one entry per command, ``{"started": <UTC ISO time>, "seconds": <float>}``; the total is
their sum."""
from __future__ import annotations

import json
import time
from pathlib import Path

from suite.results import write_json_atomic


FILE = "wall_time.json"


def read_entries(directory: Path) -> list[dict]:
    """The entries of `directory`'s wall-time file (none if it does not exist); a bare number, the format
    selections wrote before, reads as an entry whose start is unknown."""
    path = directory / FILE
    entries = json.loads(path.read_text()) if path.is_file() else []
    return [entry if isinstance(entry, dict) else {"started": None, "seconds": float(entry)} for entry in entries]


def total_seconds(entries: list[dict]) -> float:
    return round(sum(entry["seconds"] for entry in entries), 1)


class WallClock:
    """This command's seconds, kept as the last entry of `directory`'s wall-time file, updated each time
    it is called; returns the total over every command so far."""

    def __init__(self, directory: Path):
        self.path, self.started = directory / FILE, time.time()
        self.entries = read_entries(directory)
        self.entries.append({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                             "seconds": 0.0})

    def __call__(self) -> float:
        self.entries[-1]["seconds"] = round(time.time() - self.started, 1)
        write_json_atomic(self.path, self.entries)
        return total_seconds(self.entries)
