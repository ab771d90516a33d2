"""The ``noisybox`` command line: argument parsing only; the work is in the library."""

from __future__ import annotations

import re
import sys

import typer

try:  # typer 0.2x carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # older typer runs on click itself
    from click import exceptions as click_errors

from noisybox.errors import NoisyboxError

from .annotations import compare, convert, corrupt, inspect, show, split, subsample
from .benchmark import bench, report
from .evaluation import evaluate, predict
from .losses import losses_app
from .training import make_dataset, train

app = typer.Typer(
    name="noisybox",
    help="Measure how noisy box annotations hurt detectors, and which α-IoU loss helps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(losses_app, name="losses")
for command in (corrupt, subsample, split, convert, inspect, show, compare):
    app.command()(command)
app.command("eval")(evaluate)
app.command()(predict)
app.command("make-dataset")(make_dataset)
app.command()(train)
app.command()(bench)
app.command()(report)


def _print_version(value: bool) -> None:
    if value:
        from noisybox import __version__

        print(f"noisybox {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """Measure how noisy box annotations hurt detectors, and which α-IoU loss helps."""


def _exit_on_sigterm(signum, frame) -> None:
    """SIGTERM (``kill``, a scheduler's time limit) as an exit: clean-up code runs, so no
    temporary file is left behind."""
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (problems with input exit 2, one line)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        app(args=argv, prog_name="noisybox", standalone_mode=False)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    except click_errors.ClickException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `noisybox` alone: the help
            ctx = getattr(error, "ctx", None)
            print(ctx.get_help() if ctx else error.format_message())
            return 2
        print(f"noisybox: error: {_one_line(error.format_message())}", file=sys.stderr)
        return 2  # a usage error: one line too
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        print("noisybox: aborted", file=sys.stderr)
        return 130
    except NoisyboxError as error:
        print(f"noisybox: error: {_one_line(_as_flags(error))}", file=sys.stderr)
        return 2
    except OSError as error:  # the file system said no (permissions, a full disk, ...)
        where = f"{error.filename}: " if error.filename else ""
        print(f"noisybox: error: {where}{_one_line(error.strerror or str(error))}", file=sys.stderr)
        return 2
    return 0


#: library parameters whose flag is not their name with dashes
FLAGS = {
    "images_dir": "--images",
    "losses": "--loss",
    "etas": "--eta",
    "fractions": "--fraction",
    "seeds": "--seed",
}
#: a parameter named in a message's hint: `name`, `name=True`, `name="value"`, `name=VALUE`
MENTION = re.compile(r"`([a-z][a-z_]*)(?:=([^`]*))?`")
QUOTES = "\"'"  # around a text value: `name="value"` is shown --name value


def _flag(parameter: str) -> str:
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def _as_flags(error: NoisyboxError) -> str:
    """The message, with the parameters it names given as command-line flags: the one it is
    about (its start) and those of its hints (between backticks)."""
    message = str(error)
    parameter = getattr(error, "parameter", None)
    if parameter and message.startswith(parameter):
        message = _flag(parameter) + message[len(parameter) :]

    def as_flag(found: re.Match) -> str:
        value = found.group(2)
        if value is None or value == "True":
            return _flag(found.group(1))
        return f"{_flag(found.group(1))} {value.strip(QUOTES)}"

    return MENTION.sub(as_flag, message)


def _one_line(message: str) -> str:
    """``message`` on one line, control characters shown escaped (a NUL in a file name)."""
    text = " ".join(message.split())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
