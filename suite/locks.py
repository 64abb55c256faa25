"""One owner per directory: an exclusive ``flock`` on ``<dir>/.lock`` held while a process works in it.

The kernel releases a ``flock`` when its holder dies, however it dies (SIGKILL, out of memory), so
a stale lock is taken over by the next process without any clean-up; the pid written into the
file only serves the error message of a process that finds the lock held.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from suite.errors import UserError

LOCK = ".lock"


def _try_lock(stream) -> bool:
    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(stream) -> str:
    stream.seek(0)
    return stream.read().strip() or "?"


def lock_holder(directory: Path) -> str | None:
    """The pid of a live process holding `directory`'s lock, or None; creates nothing."""
    try:
        stream = open(Path(directory) / LOCK)
    except FileNotFoundError:
        return None
    with stream:
        if _try_lock(stream):
            return None  # the flock goes with the stream
        return _holder(stream)


class DirectoryLock:
    """``with DirectoryLock(path, what, fix):`` owns `path` or raises a one-line `UserError`
    naming `what` (``run_id=...``), the holder's pid and `fix`."""

    def __init__(self, directory: Path, what: str, fix: str):
        self.path = Path(directory) / LOCK
        self.what = what
        self.fix = fix
        self._stream = None

    def refusal(self, holder: str) -> UserError:
        return UserError(f"{self.what} is in use by process {holder} (lock {self.path}): {self.fix}")

    def __enter__(self) -> "DirectoryLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(self.path, "a+")
        if not _try_lock(stream):
            holder = _holder(stream)
            stream.close()
            raise self.refusal(holder)
        stream.seek(0)
        stream.truncate()
        stream.write(str(os.getpid()))
        stream.flush()
        self._stream = stream
        return self

    def __exit__(self, *exc) -> None:
        if self._stream is not None:
            fcntl.flock(self._stream.fileno(), fcntl.LOCK_UN)
            self._stream.close()
            self._stream = None


def run_lock(run_dir: Path, run_id: str) -> DirectoryLock:
    """The lock of one run's directory (held by its rank-0 process while it runs)."""
    return DirectoryLock(run_dir, f"run_id={run_id}", "wait for that run to end, or choose a fresh run_id")
