"""What continuing a run needs before Lightning is loaded: ``resume=`` values, the stop signals, the
global random states, and `DataOrder`, a training loader's position in its order.

`suite.checkpoints` (Lightning) writes and restores the checkpoints that hold these.
"""
from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import numpy as np
import torch

from suite.distributed import every_rank, own_state, requeue_signal
from suite.errors import Interrupted

LAST = "last.ckpt"
DONE = "done"  # beside last.ckpt once it holds a finished phase's final weights: the metrics training ended with (JSON)
RESUME_MODES = ("auto", "never")  # ``resume=``: else the path of a checkpoint


def resume_file(resume) -> str | None:
    """The checkpoint path ``resume=`` names, or None for auto and never."""
    return None if resume in RESUME_MODES else resume


def resume_value(value) -> str | None:
    """The ``resume`` rule (suite.checks): auto, never, or an existing checkpoint file."""
    if value in RESUME_MODES or isinstance(value, str) and Path(value).is_file():
        return None
    return "auto, never or the path of an existing checkpoints/<phase>/last.ckpt"


def finished_phase_metrics(directory: Path) -> dict[str, float]:
    """The metrics the training of the phase checkpointed in `directory` ended with (its ``done``)."""
    return json.loads((Path(directory) / DONE).read_text())


class StopRequest:
    """SIGTERM/SIGINT handlers for one run (and submitit's requeue signal in a submitit job,
    `suite.distributed.requeue_signal`). Inside a training loop a signal only sets `signum`
    (the loop checkpoints at the end of the batch and raises `Interrupted`; under DDP every process
    stops at the same batch, `suite.checkpoints.RunCheckpoint`); outside one, or at a second signal,
    the handler raises `Interrupted` at once. The signal is passed on to the `children` (the DDP
    processes this one launched), so that every process of the run stops."""

    def __init__(self):
        self.signals = (signal.SIGTERM, signal.SIGINT, *filter(None, [requeue_signal()]))
        self.signum: int | None = None
        self.in_training = False
        self.children = ()
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signum)
        if self.in_training and self.signum is None:
            self.signum = signum
            return
        self.signum = signum
        raise Interrupted(signum)

    def __enter__(self) -> "StopRequest":
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def reclaim(self, children=()) -> None:
        """Handle the signals again after a Lightning Trainer has put its own handler first (it does at
        every fit and test): under DDP that handler runs a collective inside the signal handler, which can
        meet a different collective on another process. `children`: the processes to pass signals on to."""
        self.children = tuple(children)
        for signum in self._previous:
            signal.signal(signum, self._handle)

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def random_states() -> dict:
    """The global random states, as plain lists and tensors (loadable with ``torch.load(weights_only=True)``)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    states = {"python": random.getstate(), "numpy": [kind, keys.tolist(), position, has_gauss, cached],
              "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict) -> None:
    random.setstate(states["python"])
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class DataOrder:
    """A training loader's position in its shuffled order, so that a resumed run draws the same batches.

    The loader calls `start` when a pass over the data begins (before it draws from `generator`), and
    skips the batches it returns (indices only: nothing is loaded for them). A checkpoint saves the
    position `mark` notes; `resume_from` puts it back right before the resumed run draws a batch.
    """

    def __init__(self, generator: torch.Generator | None):
        self.generator = generator
        self._pass_start = None
        self._resume: tuple[torch.Tensor | None, int] | None = None
        self.position: dict | None = None
        self.pending_random: dict | None = None

    def start(self) -> int:
        """A pass begins: the number of batches to skip (those a resumed epoch has trained on)."""
        skip = 0
        if self._resume is not None:
            state, skip = self._resume
            self._resume = None
            if state is not None and self.generator is not None:
                self.generator.set_state(state)
        if self.generator is not None:
            self._pass_start = self.generator.get_state()
        return skip

    def mark(self, trained: int | None) -> None:
        """Note the position a checkpoint saves: `trained` batches of this epoch done (mid-epoch: the
        epoch restarts from its first order, skipping them), or None at an epoch end (the next epoch
        draws its order from the generator as it is now). The global random states go with it."""
        generator = self._pass_start if trained is not None else (
            None if self.generator is None else self.generator.get_state())
        self.position = every_rank({"generator": generator, "skip": trained or 0, "mid_epoch": trained is not None,
                                    "random": random_states()})  # under DDP each process's own

    def resume_from(self, position: dict) -> None:
        """Continue from a `mark`ed position. Called right before the resumed run draws its first batch:
        after an epoch end the random states are set now, as the uninterrupted run drew that batch from
        them; mid-epoch that batch was drawn before the save, so they wait for the training to start
        (`suite.checkpoints.RunCheckpoint.on_train_start`)."""
        position = own_state(position)
        if not position:
            return  # saved before any position was marked
        self._resume = (position["generator"], position["skip"])
        if position["mid_epoch"]:
            self.pending_random = position["random"]
        else:
            set_random_states(position["random"])
