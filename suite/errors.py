"""The one exception type the CLI turns into a one-line message."""


class UserError(ValueError):
    """Bad input from the user: the message names the problem and the fix.

    The CLI prints it as a single line without a traceback, so raise it before
    training starts wherever the problem can be seen from the configuration.
    """


# A loss that stopped being finite: the run ends with status ``diverged`` and exit code 3. The NaN
# guard raises `TrainingDiverged` where it exists (the engine's on-device check), FloatingPointError before.
DIVERGED: tuple[type[Exception], ...] = (FloatingPointError,)
