"""``noisybox make-dataset``: the built-in data."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from noisybox.errors import NoisyboxError

from .options import DataSource, command_options, run_options


def make_dataset(
    name: Annotated[str, typer.Argument(help="The dataset to make: shapes.")],
    out: Annotated[Path, typer.Option(help="Folder to create.")],
    images: Annotated[int, typer.Option(help="Number of images (train + val).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same files.")] = 0,
    image_size: Annotated[int, typer.Option(help="Square image side, pixels.")] = 128,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Generate a dataset with exact boxes: OUT/images/ and OUT/annotations/{train,val}.json."""
    from noisybox.shapes import ShapesConfig, make_shapes_dataset

    if name != "shapes":
        raise NoisyboxError(f"unknown dataset {name!r}; the built-in one is 'shapes'")
    config = ShapesConfig.for_size(images, image_size)
    from .progress import counting

    with counting("make-dataset", config.images) as advance:
        counts = make_shapes_dataset(out, config, seed=seed, overwrite=overwrite, on_image=advance)
    typer.echo(
        f"wrote {out}: {counts['train_images']} train images ({counts['train_boxes']} boxes), "
        f"{counts['val_images']} val images ({counts['val_boxes']} boxes)"
    )


@run_options("train")
def train(
    loss: Annotated[
        str, typer.Option(help="Box loss: iou, alpha-iou, diou, alpha-ciou:2.5, ...")
    ] = "iou",
    alpha: Annotated[float | None, typer.Option(help="α of an alpha-* loss.")] = None,
    alpha_penalty: Annotated[float | None, typer.Option(help="α of the penalty term.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialization, order and augmentation.")] = 0,
    tensorboard: Annotated[bool, typer.Option(help="Also log to RUN_DIR/tensorboard.")] = False,
    checkpoint_every: Annotated[
        int, typer.Option(help="Save a checkpoint every N steps (and at the end).", min=1)
    ] = 100,
    out: Annotated[Path, typer.Option(help="Run folder to create.")] = Path("runs/run"),
    resume: Annotated[bool, typer.Option(help="Continue the interrupted run in --out.")] = False,
    *,
    run: dict,
    source: DataSource,
) -> None:
    """Train a detector with the chosen box loss, then evaluate it on the clean validation set."""
    from noisybox.config import TrainConfig
    from noisybox.training.trainer import finish_distributed, train_and_evaluate

    if run["epochs"] is None and run["max_steps"] is None:
        run["epochs"] = 10
    source.check_out_beside(out)
    config = TrainConfig(
        **source.paths(),
        **run,
        loss=loss,
        alpha=alpha,
        alpha_penalty=alpha_penalty,
        seed=seed,
        tensorboard=tensorboard,
        checkpoint_every=checkpoint_every,
        out=str(out),
    )
    with progress_display() as on_step:
        result = train_and_evaluate(
            config, resume=resume, on_step=on_step, command_options=command_options()
        )
    finish_distributed()
    if not result:  # another process of a torchrun group: rank 0 reports
        return
    metrics = result["metrics"]
    typer.echo(
        f"{out}: mAP {metrics['mAP']:.2f}  mAP75:95 {metrics['mAP75:95']:.2f}  "
        f"AP50 {metrics['AP50']:.2f}  AP75 {metrics['AP75']:.2f}  (eval.json, detections.json)"
    )


@contextlib.contextmanager
def progress_display():
    """A rich progress bar (step, loss, lr, ETA) on a terminal; plain lines otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.2e}  {task.fields[speed]:.1f} img/s"
        ),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task("train", total=None, loss=0.0, lr=0.0, speed=0.0)

        def on_step(record: dict) -> None:
            progress.update(
                task,
                total=record["total"],
                completed=record["step"],
                loss=record["loss"],
                lr=record["lr"],
                speed=record["images_per_s"],
            )

        yield on_step
