"""The exceptions the CLI turns into a one-line message and an exit code."""
import signal


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
