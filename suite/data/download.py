"""``data.download``: ``auto`` | ``true`` | ``false``, parsed in one place for every dataset that downloads.

``auto`` reads the files when present and downloads them otherwise; ``true`` always lets the library
check and download; ``false`` never touches the network (missing files are a clear error).
"""
from __future__ import annotations

from suite.errors import UserError

MODES = ("auto", "true", "false")


def download_mode(data_cfg) -> str:
    """``data_cfg.download`` as one of `MODES` (YAML's booleans included); anything else is a UserError."""
    mode = str(data_cfg.download).lower()
    if mode not in MODES:
        raise UserError(f"data.download must be auto, true or false, got '{data_cfg.download}'")
    return mode


def should_download(mode: str, present: bool) -> bool:
    """Whether to download: always with ``true``, with ``auto`` only when the files are not `present`."""
    return mode == "true" or (mode == "auto" and not present)
