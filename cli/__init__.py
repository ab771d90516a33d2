"""The ``noisybox`` command line: argument parsing only; the work is in the library."""

from __future__ import annotations

import sys

import typer

from noisybox.errors import NoisyboxError

from .annotations import corrupt, inspect, show, subsample
from .benchmark import bench, report
from .evaluation import evaluate
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
for command in (corrupt, subsample, inspect, show):
    app.command()(command)
app.command("eval")(evaluate)
app.command("make-dataset")(make_dataset)
app.command()(train)
app.command()(bench)
app.command()(report)


@app.callback()
def _root() -> None:
    """Measure how noisy box annotations hurt detectors, and which α-IoU loss helps."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (problems with input exit 2, one line)."""
    try:
        app(args=argv, prog_name="noisybox")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    except NoisyboxError as error:
        print(f"noisybox: error: {error}", file=sys.stderr)
        return 2
    return 0
