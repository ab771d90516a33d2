"""``noisybox eval``: AP at every IoU threshold, mAP, mAP75:95 and the paper's Figure 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from noisybox.errors import NoisyboxError

from .progress import stage


def _read_json(path: Path, what: str):
    from noisybox.formats.coco import load_json

    if not path.is_file():
        raise NoisyboxError(f"{path}: no such {what} file")
    return load_json(path)[0]


def evaluate(
    gt: Annotated[Path | None, typer.Option(help="Ground truth, a COCO .json file.")] = None,
    dt: Annotated[Path | None, typer.Option(help="Detections, a COCO results .json list.")] = None,
    run: Annotated[
        Path | None, typer.Option(help="A run folder of `noisybox train` (instead of --gt/--dt).")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="faster (faster-coco-eval) or pycocotools.")
    ] = "faster",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    per_class: Annotated[
        bool, typer.Option("--per-class", help="Also print AP, AP50, AP75 and AR100 per class.")
    ] = False,
    plots: Annotated[
        Path | None,
        typer.Option(
            help="Also draw each class's precision-recall curves and the confusion matrix "
            "(with background) into this folder (PNG and SVG)."
        ),
    ] = None,
    score: Annotated[
        float, typer.Option(help="The confusion matrix counts detections scoring at least this.")
    ] = 0.25,
    iou: Annotated[
        float, typer.Option(help="The confusion matrix matches boxes at IoU at least this.")
    ] = 0.5,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace figures already in --plots.")
    ] = False,
) -> None:
    """Evaluate detections: AP50 … AP95, mAP, mAP75:95, APs/m/l, AR100, in percent."""
    from noisybox.evaluate import evaluate_detections

    if run is not None:  # the run's own files: evaluable from any working folder
        from noisybox.training.run_folder import RunFolder

        gt, dt = RunFolder(run).ground_truth, RunFolder(run).detections
        if not gt.is_file():
            raise NoisyboxError(
                f"{run}: no ground_truth.json (not a finished run of this noisybox); "
                "pass --gt and --dt instead"
            )
    if gt is None or dt is None:
        raise NoisyboxError("give --gt and --dt, or --run")
    if plots is not None:  # checked before anything is computed or written
        from noisybox.outputs import Output, check_outputs
        from noisybox.report.eval_figures import EVAL_FIGURES
        from noisybox.report.plots import figure_paths

        paths = figure_paths(plots, EVAL_FIGURES)
        check_outputs([Output(path) for path in paths], [gt, dt], overwrite)
    with stage(f"read {gt} and {dt}"):
        truth, found = _read_json(gt, "ground-truth"), _read_json(dt, "detections")
    with stage(f"evaluate {len(found):,} detections" if isinstance(found, list) else "evaluate"):
        result = evaluate_detections(truth, found, backend, curves=plots is not None)
    if plots is not None:
        from noisybox.confusion import confusion_matrix
        from noisybox.report.eval_figures import draw_eval_figures
        from noisybox.report.plots import save_figures

        # evaluate_detections has refused malformed input, so the matrix reads it as valid
        with stage(f"draw the figures into {plots}"):
            matrix = confusion_matrix(truth, found, iou=iou, score=score)
            written = save_figures(draw_eval_figures(result, matrix), plots)
        typer.echo(f"wrote {len(written)} figures in {plots}", err=True)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console = Console()
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"{dt}: {result.detections:,} detections, {result.ground_truths:,} boxes")
    metrics = list(result.metrics.items())
    for title, part in (
        ("AP at each IoU threshold (%)", metrics[:10]),
        ("summary (%)", metrics[10:]),
    ):
        cells = {name: "n/a" if value is None else f"{value:.2f}" for name, value in part}
        console.print(_row_table(title, cells))
    matches = {name: f"{count:,}" for name, count in result.matches.items()}
    console.print(_row_table("detections matching a ground truth (Figure 2)", matches))
    if per_class:
        table = Table(title="per class (%)", title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("id", "class", "boxes", "AP", "AP50", "AP75", "AR100"):
            table.add_column(column, justify="left" if column == "class" else "right")
        for category, row in result.per_class.items():
            cells = [
                "n/a" if row[k] is None else f"{row[k]:.2f}"
                for k in ("AP", "AP50", "AP75", "AR100")
            ]
            table.add_row(category, row["name"] or "", f"{row['ground_truths']:,}", *cells)
        console.print(table)


def predict(
    images: Annotated[Path, typer.Argument(help="An image, or a folder of images.")],
    run: Annotated[Path, typer.Option(help="A finished run folder of `noisybox train`.")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Folder for predictions.json and the drawn images/."),
    ],
    score: Annotated[
        float, typer.Option(help="Keep (and draw) detections scoring at least this.")
    ] = 0.25,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    draw: Annotated[
        bool, typer.Option("--draw/--no-draw", help="Also write each image with its boxes.")
    ] = True,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT if noisybox wrote it.")
    ] = False,
) -> None:
    """Run a trained model on new images: COCO detections (predictions.json, with scores)
    and, for each image, a JPEG with its boxes drawn."""
    from noisybox.atomic import AtomicBatch
    from noisybox.outputs import Output, check_outputs
    from noisybox.training.predict import list_images, predict_folder

    from .progress import counting

    check_outputs([Output(output, folder=True)], [images, run], overwrite)
    paths = list_images(images)
    with counting("predict", len(paths)) as advance:
        files = predict_folder(run, paths, score, device, draw, on_image=advance)
    with AtomicBatch() as batch:
        batch.folder(output, files)
        batch.commit()
    found = json.loads(files["predictions.json"])
    typer.echo(
        f"{len(found['annotations']):,} detections (score >= {score:g}) on "
        f"{len(found['images']):,} images: {output / 'predictions.json'}"
        + (f" and {output / 'images'}/" if draw else "")
    )


def _row_table(title: str, cells: dict[str, str]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for name in cells:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_row(*cells.values())
    return table
