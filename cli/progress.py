"""Progress for the commands a user waits on: a rich bar on a terminal, plain lines on
stderr otherwise (a line per tenth of the work), so logs show it too."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator

import typer


@contextlib.contextmanager
def counting(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """``advance(n)``: ``n`` more of ``total`` items done."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n=1: progress.advance(task, n)
        return
    done, next_line, started = 0, 0, time.perf_counter()

    def advance(n: int = 1) -> None:
        nonlocal done, next_line
        done += n
        while total and done * 10 >= next_line * total and next_line <= 10:
            elapsed = time.perf_counter() - started
            typer.echo(f"{description}: {done:,}/{total:,} ({elapsed:.0f} s)", err=True)
            next_line += 1

    yield advance


@contextlib.contextmanager
def stage(description: str, after_s: float = 2.0) -> Iterator[None]:
    """One step of unknown length: a spinner on a terminal; otherwise, once it has taken
    ``after_s`` seconds, a line, and one more when it ends (so a quick step, or one that
    fails at once with its one-line error, prints nothing)."""
    if sys.stderr.isatty():
        from rich.console import Console

        with Console(stderr=True).status(description):
            yield
        return
    started = time.perf_counter()
    timer = threading.Timer(after_s, lambda: typer.echo(f"{description} …", err=True))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
    if time.perf_counter() - started >= after_s:
        typer.echo(f"{description}: done ({time.perf_counter() - started:.1f} s)", err=True)
