"""``noisybox losses``: look at the α-IoU loss family."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

losses_app = typer.Typer(help="Look at the α-IoU loss family.", no_args_is_help=True)


@losses_app.command("plot")
def plot(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Figure to write: .png, .svg or .pdf.")
    ] = Path("alpha_iou_curves.png"),
    alpha: Annotated[
        list[float] | None,
        typer.Option("--alpha", "-a", help="A power to draw; repeat for several."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Draw the α-IoU loss and |dL/dIoU| against IoU (the paper's Figure 1)."""
    from noisybox.loss_curves import loss_curves, plot_loss_curves
    from noisybox.outputs import Output, check_outputs

    check_outputs([Output(output)], [], overwrite)
    plot_loss_curves(loss_curves(alpha or [0.5, 1.0, 2.0, 3.0]), output)
    typer.echo(f"wrote {output}")
