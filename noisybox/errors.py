"""The one exception type for problems with what a user gave us."""


class NoisyboxError(Exception):
    """A problem with the user's input or request, reported by the CLI as one line.

    The message names the file and the record concerned; no traceback is shown.
    """
