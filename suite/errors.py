"""The exceptions the CLI turns into a one-line message and an exit code."""
import signal
import sys
from typing import Callable


class UserError(ValueError):
    """Bad input from the user: the message names the problem and the fix.

    The CLI prints it as a single line without a traceback, so raise it before
    training starts wherever the problem can be seen from the configuration.
    """


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite (`suite.divergence.DivergenceGuard`).

    Not a configuration mistake that can be seen before training; the message names the step, the
    value and the usual fixes. The run ends with it as soon as the guard checks.
    """


# A loss that stopped being finite: the run ends with status ``diverged`` and exit code 3. Raised only by
# the NaN guard (`suite.divergence`, on the device).
DIVERGED: tuple[type[Exception], ...] = (TrainingDiverged,)


class Interrupted(Exception):
    """The run was asked to stop by signal `signum` (its checkpoint is written): exit code 128 + `signum`."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


# Exit codes (README "Exit codes and statuses"): 0 finished, 1 failed (a bug: traceback),
# 2 bad input (one line, nothing made), 3 diverged (one line), 128 + N interrupted by signal N.
EXIT_BAD_INPUT, EXIT_DIVERGED = 2, 3


def run_command(program: str, action: Callable[[], None], resume_hint: str) -> int:
    """Run a command's `action` and return its exit code: 0 when it returns; one line on stderr, prefixed
    with `program`, and 2 for a UserError, 3 for a divergence, 128 + N when stopped by signal N (then
    followed by `resume_hint`, how to continue). Anything else is a bug and keeps its traceback."""
    try:
        action()
    except UserError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DIVERGED as error:
        print(f"{program}: diverged: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_DIVERGED
    except Interrupted as interrupted:
        print(f"{program}: interrupted: {interrupted}; {resume_hint}", file=sys.stderr)
        return 128 + interrupted.signum
    return 0
