"""The one exception type for problems with what a user gave us."""


class NoisyboxError(Exception):
    """A problem with the user's input or request, reported by the CLI as one line.

    The message names the file and the record concerned; no traceback is shown. An error
    about an argument names it as the library calls it (``image_size must be ...``) and
    gives it as ``parameter``, which the command line shows as its flag (``--img-size``).
    """

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter
