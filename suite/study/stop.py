"""Stopping a study's running sweep with everything it started.

A sweep (``python -m suite.study.cell -m ...``) runs in a process group of its own, with Hydra's
launcher, its joblib workers and the cells in it; each cell's W&B service (wandb-core) runs in a session
of its own and is found by the ``--pid <its cell>`` it was started with. `stop_sweep` asks them all to
stop with SIGTERM (a cell then writes its checkpoint and status ``interrupted``), waits, and kills what is
left after `grace_s` seconds.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from suite.errors import Interrupted

PROC = Path("/proc")


def _processes() -> list[tuple[int, int, list[str]]]:
    """(pid, process group, command line) of every running process this user can see (Linux ``/proc``)."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # ended while we looked
            continue
        state, _, group = stat.rsplit(")", 1)[1].split()[:3]  # the fields after the command name
        if state != "Z":  # a zombie has ended; only its parent's wait is missing
            found.append((int(entry.name), int(group), [part.decode(errors="replace") for part in command if part]))
    return found


def members(group: int) -> list[int]:
    """The pids of process group `group`."""
    return [pid for pid, pgrp, _ in _processes() if pgrp == group]


def wandb_services(pids: list[int]) -> list[int]:
    """The wandb-core processes started by one of `pids` (``wandb-core ... --pid <pid>``)."""
    wanted = {str(pid) for pid in pids}
    found = []
    for pid, _, command in _processes():
        if command and "wandb-core" in Path(command[0]).name and "--pid" in command:
            index = command.index("--pid")
            if index + 1 < len(command) and command[index + 1] in wanted:
                found.append(pid)
    return found


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _alive(pids: list[int]) -> list[int]:
    running = {pid for pid, _, _ in _processes()}
    return [pid for pid in pids if pid in running]


def stop_sweep(process: subprocess.Popen, grace_s: float = 60.0) -> None:
    """SIGTERM to `process`'s group (`process` started with ``start_new_session=True``) and its cells' W&B
    services; wait up to `grace_s` seconds (a second signal to this process cuts the wait short), then
    SIGKILL what is left. Returns when every one of them has ended."""
    group = process.pid
    seen: set[int] = set()

    def remaining() -> list[int]:
        """The group's processes and their W&B services, ever seen and still running."""
        pids = members(group)
        seen.update(pids, wandb_services(pids))
        return _alive(sorted(seen))

    # The services are not signalled: a cell finishes its W&B run as it stops, and they end with their cell.
    _signal(members(group), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    try:
        while remaining() and time.monotonic() < deadline:
            process.poll()  # reap the sweep itself
            time.sleep(0.2)
    except Interrupted:
        pass
    _signal(remaining(), signal.SIGKILL)
    process.wait()
