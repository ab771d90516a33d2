"""``noisybox corrupt``, ``subsample``, ``inspect`` and ``show``: annotation files in, files out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from noisybox.errors import NoisyboxError

from .progress import stage

InputArgument = Annotated[
    Path, typer.Argument(help="COCO .json, VOC .xml or folder, YOLO labels folder.")
]
FormatOption = Annotated[
    str | None, typer.Option("--format", "-f", help="coco, voc or yolo (default: detected).")
]
OnInvalidOption = Annotated[
    str,
    typer.Option(
        "--on-invalid",
        help="What to do with invalid records: error (stop, write nothing), skip (leave them "
        "out) or keep (keep them untouched).",
    ),
]
ImagesOption = Annotated[
    Path | None, typer.Option("--images", help="VOC image folder, to read a missing <size>.")
]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists (never the input).")
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the summary; write nothing.")]


def _default_output(path: Path, tag: str) -> Path:
    """Beside the input: ``train.noisy-eta0.2-seed0.json``, ``Annotations-noisy-...``."""
    path = path.absolute() if not path.name else path  # "." names no folder of its own
    if path.is_file():
        return path.with_name(f"{path.stem}.{tag}{path.suffix}")
    return path.with_name(f"{path.name}-{tag}")


def _rate_tag(rates: dict[str, float]) -> str:
    """``eta0.2-flip0.1``; ``eta0`` for no noise at all (a lossless copy)."""
    return "-".join(f"{name}{rate:g}" for name, rate in rates.items()) or "eta0"


def _print_table(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right", overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def _derive_options(on_invalid: str, overwrite: bool, dry_run: bool) -> dict:
    """The options of ``derive_annotations`` that the annotation commands share."""
    from noisybox.manifest import command_line

    return {
        "argv": command_line(),
        "details": {"on_invalid": on_invalid},
        "overwrite": overwrite,
        "dry_run": dry_run,
    }


def _report(title: str, rows: list[tuple[str, str]], derived, output: Path) -> None:
    """The summary table, with the files written (none on a dry run)."""
    if derived.manifest_file is None:
        _print_table(f"{title} (dry run: nothing written)", rows)
        return
    files = [("output", str(output)), ("manifest", str(derived.manifest_file))]
    if derived.box_table is not None:
        files.append(("per-box table", str(derived.box_table)))
    _print_table(title, [*rows, *files])


def _load_confusion(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        confusion = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        raise NoisyboxError(f"{path}: cannot read the confusion weights: {error}") from None
    if not isinstance(confusion, dict) or not all(isinstance(v, dict) for v in confusion.values()):
        raise NoisyboxError(
            f"{path}: confusion weights are {{class: {{mistaken-for class: weight}}}}"
        )
    return confusion


def corrupt(
    input: InputArgument,
    eta: Annotated[float, typer.Option(help="The paper's uniform box noise rate η.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default: beside INPUT).")
    ] = None,
    format: FormatOption = None,
    gaussian: Annotated[float, typer.Option(help="σ of normal box noise, relative to size.")] = 0.0,
    shift: Annotated[float, typer.Option(help="Pure translation, up to ±rate × size.")] = 0.0,
    scale: Annotated[
        float, typer.Option(help="Pure scaling by a factor in [1-rate, 1+rate].")
    ] = 0.0,
    flip: Annotated[float, typer.Option(help="Probability of a class flip.")] = 0.0,
    confusion: Annotated[
        Path | None,
        typer.Option(help="JSON {class: {mistaken-for: weight}} weighting the flips."),
    ] = None,
    drop: Annotated[float, typer.Option(help="Probability that a box is dropped.")] = 0.0,
    spurious: Annotated[
        float, typer.Option(help="Probability that a box spawns a spurious one.")
    ] = 0.0,
    include_crowd: Annotated[bool, typer.Option(help="Also perturb COCO crowd boxes.")] = False,
    protocol: Annotated[
        str,
        typer.Option(
            help="The noise protocol, --eta its rate: alpha-iou (the paper's; equation (5) "
            "moves boxes inward), oa-mil (the same noise, clipped; an emptied box keeps its "
            "original) or una (r drives drops, relocations, class flips and extra boxes)."
        ),
    ] = "alpha-iou",
    per_box: Annotated[
        bool,
        typer.Option(
            "--per-box",
            help="Also write OUTPUT.boxes.csv: each box's clean and noisy values, IoU and "
            "flags (moved, fitted, flipped, dropped, spurious).",
        ),
    ] = False,
    box_fraction: Annotated[
        float,
        typer.Option(help="Share of the boxes that get box noise, chosen by the seed (1: all)."),
    ] = 1.0,
    on_invalid: OnInvalidOption = "error",
    images: ImagesOption = None,
    overwrite: OverwriteOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Write a noisy copy of a dataset's annotations, and its provenance manifest beside it."""
    from noisybox.derive import check_derived_outputs, derive_annotations
    from noisybox.formats import read_annotations
    from noisybox.noise import NoiseConfig

    config = NoiseConfig(
        eta=eta,
        gaussian=gaussian,
        shift=shift,
        scale=scale,
        flip=flip,
        drop=drop,
        spurious=spurious,
        confusion=_load_confusion(confusion),
        include_crowd=include_crowd,
        box_fraction=box_fraction,
        protocol=protocol,
    )
    with stage(f"read {input}"):
        annotations = read_annotations(input, format, images_dir=images, on_invalid=on_invalid)
    named = output is not None
    output = output or _default_output(input, f"noisy-{_rate_tag(config.rates())}-seed{seed}")
    if not dry_run:
        inputs = [images, confusion]
        check_derived_outputs(annotations, output, inputs, overwrite, per_box, named)
    run_options = _derive_options(on_invalid, overwrite, dry_run)
    with stage(f"add noise to {len(annotations):,} boxes and write {output}"):
        derived = derive_annotations(
            annotations,
            output,
            command="corrupt",
            seed=seed,
            noise=config,
            per_box=per_box,
            **run_options,
        )
    report = derived.report
    rows = [
        ("input", f"{input} ({annotations.format})"),
        ("images", f"{report.images:,}"),
        ("boxes", f"{report.boxes:,}"),
        ("perturbed", f"{report.perturbed:,}"),
        ("crowd left untouched", f"{report.untouched_crowd:,}"),
        (f"invalid records ({on_invalid})", f"{len(annotations.issues):,}"),
    ]
    if report.mean_iou is not None:
        rows += [
            (
                "clamped by eq. (5)" if protocol == "alpha-iou" else f"fitted ({protocol})",
                f"{report.clamped_boxes:,} "
                + "("
                + ", ".join(f"{k} {v:,}" for k, v in report.clamped.items())
                + ")",
            ),
            ("mean IoU noisy vs clean", f"{report.mean_iou:.4f}"),
        ]
    rows += [
        (name, f"{getattr(report, name):,}")
        for name in ("flipped", "dropped", "spurious")
        if name in config.rates() or getattr(report, name)
    ]
    _report("noisybox corrupt", rows, derived, output)


def split(
    input: InputArgument,
    val: Annotated[
        float, typer.Option(help="Share of the images for validation, in (0, 1).")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the split: same seed, same lists.")] = 0,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder for the two parts: train.txt and val.txt (VOC), train.json and "
            "val.json (COCO), train/ and val/ (YOLO) (default: splits/ beside INPUT, as --data "
            "reads it).",
        ),
    ] = None,
    format: FormatOption = None,
    on_invalid: OnInvalidOption = "error",
    images: ImagesOption = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Split one annotated dataset into training and validation parts (seeded), every class on
    both sides where it has two images or more: image lists for a VOC folder, two copies of a
    COCO file or YOLO folder."""
    from noisybox.atomic import AtomicBatch
    from noisybox.formats import read_annotations
    from noisybox.outputs import Output, check_outputs
    from noisybox.split import split_images, split_outputs

    annotations = read_annotations(input, format, images_dir=images, on_invalid=on_invalid)
    folder = output or Path(input).absolute().parent / "splits"
    chosen = split_images(annotations, val, seed)
    files = split_outputs(annotations, chosen)
    targets = [folder / name for name in files]
    outputs = [
        Output(target, named=output is not None, folder=isinstance(data, dict))
        for target, data in zip(targets, files.values(), strict=True)
    ]
    check_outputs(outputs, [input, images], overwrite)
    with AtomicBatch() as batch:
        for target, data in zip(targets, files.values(), strict=True):
            batch.put(target, data)
        batch.commit()
    rows = annotations.valid
    sides = {"train": ~chosen, "val": chosen}
    classes = {
        side: set(annotations.category[rows & mask[annotations.image]].tolist())
        for side, mask in sides.items()
    }
    every = classes["train"] | classes["val"]
    one_side = sorted(every - (classes["train"] & classes["val"]))
    table = [
        ("input", f"{input} ({annotations.format})"),
        *((f"{side} images", f"{int(mask.sum()):,}") for side, mask in sides.items()),
        ("classes on both sides", f"{len(every) - len(one_side)} of {len(every)}"),
    ]
    if one_side:
        images = annotations.image[rows]
        names = [
            f"{annotations.categories.get(c, str(c))} "
            f"({len(set(images[annotations.category[rows] == c].tolist()))} image(s))"
            for c in one_side
        ]
        table.append(("on one side only", ", ".join(names)))
    table += [("train", str(targets[0])), ("val", str(targets[1]))]
    _print_table("noisybox split", table)


def convert(
    input: InputArgument,
    to: Annotated[str, typer.Option("--to", help="The format to write: coco, voc or yolo.")],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The file (COCO) or folder (VOC, YOLO) to write."),
    ],
    format: FormatOption = None,
    on_invalid: OnInvalidOption = "error",
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="Image folder, for image sizes a source lacks (YOLO; VOC without <size>); "
            "default for YOLO: images/ beside the labels folder.",
        ),
    ] = None,
    overwrite: OverwriteOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Convert annotations between COCO, VOC and YOLO: images, boxes, classes and crowd
    marks carried losslessly, and one line naming what the target cannot hold."""
    from noisybox.atomic import AtomicBatch
    from noisybox.convert import convert as convert_annotations
    from noisybox.formats import read_annotations
    from noisybox.outputs import Output, check_outputs

    annotations = read_annotations(input, format, images_dir=images, on_invalid=on_invalid)
    converted = convert_annotations(annotations, to, images)
    if not dry_run:
        check_outputs([Output(output, folder=converted.is_folder)], [input, images], overwrite)
        with AtomicBatch() as batch:
            batch.put(output, converted.rendered)
            batch.commit()
    rows = [
        ("input", f"{input} ({annotations.format})"),
        ("images", f"{converted.images:,}"),
        ("boxes", f"{converted.boxes:,}"),
        ("classes", f"{converted.classes:,}"),
        ("not carried", "; ".join(converted.not_carried) or "nothing"),
    ]
    title = "noisybox convert" + (" (dry run: nothing written)" if dry_run else "")
    _print_table(title, rows if dry_run else [*rows, ("output", f"{output} ({to})")])


def subsample(
    input: InputArgument,
    fraction: Annotated[float, typer.Option(help="Share of the images to keep, in (0, 1].")],
    seed: Annotated[int, typer.Option(help="Seed of the ranking; nested subsets share it.")] = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default: beside INPUT).")
    ] = None,
    format: FormatOption = None,
    on_invalid: OnInvalidOption = "error",
    images: ImagesOption = None,
    overwrite: OverwriteOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Write an image-level subset; for one seed, smaller fractions nest inside larger ones."""
    from noisybox.derive import check_derived_outputs, derive_annotations
    from noisybox.formats import read_annotations

    annotations = read_annotations(input, format, images_dir=images, on_invalid=on_invalid)
    named = output is not None
    output = output or _default_output(input, f"subset{fraction:g}-seed{seed}")
    if not dry_run:
        check_derived_outputs(annotations, output, [images], overwrite, named=named)
    derived = derive_annotations(
        annotations,
        output,
        command="subsample",
        seed=seed,
        fraction=fraction,
        **_derive_options(on_invalid, overwrite, dry_run),
    )
    keep_image = derived.keep_image
    kept_rows = keep_image[annotations.image]
    classes_before = len(set(annotations.category.tolist()))
    classes_after = len(set(annotations.category[kept_rows].tolist()))
    rows = [
        ("input", f"{input} ({annotations.format})"),
        ("images kept", f"{int(keep_image.sum()):,} of {annotations.num_images:,}"),
        ("boxes kept", f"{int(kept_rows.sum()):,} of {len(annotations):,}"),
        ("classes present", f"{classes_after} of {classes_before}"),
    ]
    _report("noisybox subsample", rows, derived, output)


def inspect(
    input: InputArgument,
    format: FormatOption = None,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="The image folder: read missing VOC sizes, and open every image to list "
            "missing or unreadable ones.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Counts per class, box sizes and aspects, empty images, and every invalid record."""
    from noisybox.formats import read_annotations
    from noisybox.summary import summarize

    annotations = read_annotations(input, format, images_dir=images, on_invalid="keep")
    summary = summarize(annotations, images)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    console = Console()
    _print_table(
        f"{summary.path} ({summary.format}, {summary.units})",
        [
            ("images", f"{summary.images:,}"),
            ("boxes (valid)", f"{summary.boxes:,}"),
            ("images without boxes", f"{summary.images_without_boxes:,}"),
            ("crowd boxes", f"{summary.crowd:,}"),
            *[
                (f"{name} boxes (COCO sizes)", f"{count:,}")
                for name, count in summary.sizes.items()
            ],
            ("invalid records", f"{len(summary.invalid):,}"),
        ],
    )
    classes = Table(title="classes", title_justify="left")
    for column in ("id", "name", "boxes", "images"):
        classes.add_column(column, justify="left" if column == "name" else "right")
    for item in summary.classes:
        classes.add_row(str(item.id), item.name, f"{item.boxes:,}", f"{item.images:,}")
    console.print(classes)
    distribution = Table(title=f"box distribution ({summary.units})", title_justify="left")
    distribution.add_column("")
    for quantile in summary.width:
        distribution.add_column(quantile, justify="right")
    for name in ("width", "height", "aspect"):
        distribution.add_row(name, *(f"{v:.4g}" for v in getattr(summary, name).values()))
    console.print(distribution)
    if summary.invalid:
        invalid = Table(title="invalid records", title_justify="left")
        for column in ("file", "record", "problem"):
            invalid.add_column(column, overflow="fold")
        for issue in summary.invalid:
            invalid.add_row(issue["file"], issue["record"], issue["problem"])
        console.print(invalid)


def show(
    input: Annotated[Path, typer.Argument(help="The clean annotations.")],
    noisy: Annotated[Path, typer.Option(help="The noisy annotations (from noisybox corrupt).")],
    images: Annotated[Path, typer.Option(help="The image folder.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help=".png, .svg or .pdf to write.")
    ] = Path("noisy_boxes.png"),
    count: Annotated[int, typer.Option(help="How many images to draw.", min=1)] = 6,
    seed: Annotated[int, typer.Option(help="Chooses the images.")] = 0,
    format: FormatOption = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists (never an input).")
    ] = False,
    boxes: Annotated[
        Path | None,
        typer.Option(
            help="The per-box table of the corruption (NOISY.boxes.csv, from corrupt --per-box):"
            " colour noisy boxes by what happened to them, dropped ones dashed."
        ),
    ] = None,
) -> None:
    """Draw clean (left) and noisy (right) boxes over the same images."""
    from noisybox.formats import read_annotations
    from noisybox.outputs import Output, check_outputs
    from noisybox.show import draw_comparison

    check_outputs([Output(output)], [input, noisy, images, boxes], overwrite)
    flags = None
    if boxes is not None:
        import pandas as pd

        from noisybox.provenance import COLUMNS

        try:
            flags = pd.read_csv(boxes)
        except (OSError, ValueError) as error:
            raise NoisyboxError(f"{boxes}: cannot read the per-box table: {error}") from None
        if list(flags.columns) != COLUMNS:
            raise NoisyboxError(f"{boxes}: not a per-box table of noisybox corrupt --per-box")

    clean = read_annotations(input, format, images_dir=images, on_invalid="keep")
    noisy_annotations = read_annotations(noisy, format, images_dir=images, on_invalid="keep")
    drawn = draw_comparison(
        clean, noisy_annotations, images, output, count=count, seed=seed, flags=flags
    )
    typer.echo(f"wrote {output} ({len(drawn)} images)")


def compare(
    clean: Annotated[Path, typer.Argument(help="The reference annotations (e.g. clean).")],
    noisy: Annotated[Path, typer.Argument(help="Annotations of the same images to measure.")],
    format: FormatOption = None,
    protocol: Annotated[
        list[str] | None,
        typer.Option(help="A protocol to find the equivalent η of (repeat; default: all)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also draw the IoU distribution here (.png/.svg)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """How noisy are NOISY's boxes against CLEAN's: matched IoUs, missing, extra and
    relabelled boxes, and the equivalent η of each noise protocol."""
    from noisybox.compare import compare_annotations
    from noisybox.formats import read_annotations
    from noisybox.noise.protocols import PROTOCOLS
    from noisybox.outputs import Output, check_outputs

    chosen = tuple(protocol or PROTOCOLS)
    unknown = [p for p in chosen if p not in PROTOCOLS]
    if unknown:
        raise NoisyboxError(f"--protocol must be one of {', '.join(PROTOCOLS)}; got {unknown[0]}")
    if output is not None:
        from noisybox.loss_curves import FIGURE_FORMATS

        if output.suffix.lstrip(".").lower() not in FIGURE_FORMATS:
            raise NoisyboxError(f"{output}: the figure must end in .{', .'.join(FIGURE_FORMATS)}")
        check_outputs([Output(output)], [clean, noisy], overwrite)
    reference = read_annotations(clean, format, on_invalid="skip")
    measured = read_annotations(noisy, format, on_invalid="skip")
    result = compare_annotations(reference, measured, chosen)
    if output is not None:
        from noisybox.compare import plot_iou_distribution

        plot_iou_distribution(result, output)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    rows = [
        ("images compared", f"{result.images:,}"),
        ("boxes", f"{result.clean_boxes:,} clean, {result.noisy_boxes:,} measured"),
        ("matched", f"{result.matched:,}"),
        (
            "mean IoU of matched boxes",
            "n/a" if result.mean_iou is None else f"{result.mean_iou:.4f}",
        ),
        *[(f"IoU {name}", f"{value:.4f}") for name, value in result.iou_quantiles.items()],
        ("missing (of clean)", f"{result.missing_share:.1%}"),
        ("extra (of measured)", f"{result.extra_share:.1%}"),
        ("class changed (of clean)", f"{result.class_changed_share:.1%}"),
        *[
            (f"equivalent η ({name})", "beyond 0.6" if eta is None else f"{eta:.3f}")
            for name, eta in result.equivalent_eta.items()
        ],
    ]
    _print_table(f"noisybox compare: {noisy} against {clean}", rows)
    if output is not None:
        typer.echo(f"wrote {output}")
