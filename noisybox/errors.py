"""The one exception type for problems with what a user gave us."""


class NoisyboxError(Exception):
    """A problem with the user's input or request, reported by the CLI as one line.

    The message names the file and the record concerned; no traceback is shown. An error
    about an argument names it as the library calls it (``fraction must be ...``) and
    gives it as ``parameter``, which the command line shows as its flag (``--fraction``).
    A hint naming another parameter writes it between backticks as Python would pass it:
    `overwrite=True`, `on_invalid="skip"`, `weights=PATH`, `lr`; the command line shows
    each as its flag: --overwrite, --on-invalid skip, --weights PATH, --lr.
    """

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter
