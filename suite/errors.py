"""The one exception type the CLI turns into a one-line message."""


class UserError(ValueError):
    """Bad input from the user: the message names the problem and the fix.

    The CLI prints it as a single line without a traceback, so raise it before
    training starts wherever the problem can be seen from the configuration.
    """
