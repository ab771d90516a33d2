"""``noisybox losses``: look at the box losses: list them, draw them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

losses_app = typer.Typer(help="List and draw the box losses.", no_args_is_help=True)


@losses_app.command("list")
def list_losses() -> None:
    """Print every loss name with its formula, parameters and source."""
    from noisybox.losses.catalogue import catalogue

    entries = catalogue()
    width = max(len(entry.name) for entry in entries)
    for entry in entries:
        typer.echo(f"{entry.name:<{width}}  {entry.formula}")
        details = "; ".join(part for part in (entry.parameters, entry.source) if part)
        typer.echo(f"{'':<{width}}  {details}")


@losses_app.command("plot")
def plot(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Figure to write: .png, .svg or .pdf.")
    ] = Path("alpha_iou_curves.png"),
    loss: Annotated[
        list[str] | None,
        typer.Option(
            "--loss",
            "-l",
            help="A loss to draw along two paths (NAME or NAME:ALPHA); repeat for several. "
            "Without it: the α-IoU loss against IoU.",
        ),
    ] = None,
    alpha: Annotated[
        list[float] | None,
        typer.Option("--alpha", "-a", help="A power to draw against IoU; repeat for several."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Draw the α-IoU loss and |dL/dIoU| against IoU (the paper's Figure 1), or, with --loss,
    each loss and its gradient as a box slides off its target and as one grows from a point."""
    from noisybox.errors import NoisyboxError
    from noisybox.loss_curves import (
        PATHS,
        loss_curves,
        path_curves,
        plot_loss_curves,
        plot_path_curves,
    )
    from noisybox.outputs import Output, check_outputs

    if loss and alpha:
        raise NoisyboxError("give --loss NAME:ALPHA or --alpha, not both", parameter="alpha")
    if loss:
        curves = [path_curves(loss, path) for path in PATHS]  # checks the names first
        check_outputs([Output(output)], [], overwrite)
        plot_path_curves(curves, output)
    else:
        check_outputs([Output(output)], [], overwrite)
        plot_loss_curves(loss_curves(alpha or [0.5, 1.0, 2.0, 3.0]), output)
    typer.echo(f"wrote {output}")
