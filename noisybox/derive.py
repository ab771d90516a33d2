"""Derive a dataset's annotations: an image subset, then noise, written in the source's
format with its provenance manifest beside it. ``noisybox corrupt``, ``noisybox subsample``
and ``noisybox bench`` all derive through :func:`derive_annotations`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .annotations import Annotations, Changes
from .atomic import AtomicBatch
from .formats import annotation_output, check_output_path, render_stream
from .manifest import build_manifest, manifest_bytes, manifest_path
from .noise import CorruptionReport, NoiseConfig, corrupt
from .outputs import Output, check_output_name, check_outputs, written_by_noisybox
from .provenance import box_table, box_table_path, table_csv
from .subsample import subsample_images


def check_derived_outputs(
    annotations: Annotations,
    output: Path,
    inputs: list[Path | None],
    overwrite: bool,
    per_box: bool = False,
    named: bool = True,
) -> None:
    """Check ``output`` and the files beside it (manifest, per-box table) before anything is
    written: none is an input, none replaces what noisybox did not write (see
    :func:`noisybox.outputs.check_outputs`); ``named``: the user named ``output``."""
    check_output_name(output)
    beside = [manifest_path(output), *([box_table_path(output)] if per_box else [])]
    main = replace(annotation_output(annotations, output), named=named)
    check_outputs(
        [main, *(Output(p, sidecar=True) for p in beside)],
        [annotations.path, *inputs],
        overwrite,
    )


@dataclass
class Derived:
    """What :func:`derive_annotations` made: the changes written, the noise report (``None``
    without noise), the images kept and the manifest (``manifest_file`` once written, and
    ``box_table``, the per-box table, when asked for)."""

    changes: Changes
    report: CorruptionReport | None
    keep_image: np.ndarray
    manifest: dict
    manifest_file: Path | None = None
    box_table: Path | None = None


def derive_annotations(
    annotations: Annotations,
    output: Path,
    *,
    command: str,
    seed: int,
    noise: NoiseConfig | None = None,
    fraction: float = 1.0,
    argv: str | None = None,
    details: dict | None = None,
    overwrite: bool = False,
    dry_run: bool = False,
    timestamp: bool = True,
    per_box: bool = False,
) -> Derived:
    """Subset ``annotations`` to ``fraction`` of the images, add ``noise``, and (unless
    ``dry_run``) write the result to ``output`` with ``OUTPUT.manifest.json``.

    The manifest records ``command``, ``argv`` (the command line, when one made it), the
    seed, fraction, noise rates and report, counts and ``details``; ``timestamp=False``
    leaves out the creation time, so the same derivation gives the same bytes. Everything is
    staged beside its place (a large COCO output written a chunk of records at a time; any
    error removes what was staged, leaving the targets as they were), then renamed into
    place together (:class:`~noisybox.atomic.AtomicBatch`): output,
    manifest and, with ``per_box``, the per-box table (:mod:`noisybox.provenance`); a stale
    per-box table of a replaced output is removed. The caller checks the paths first
    (:func:`noisybox.outputs.check_outputs`).
    """
    changes, report = (
        corrupt(annotations, noise, seed)
        if noise is not None
        else (Changes.none(annotations), None)
    )
    keep_image = (
        subsample_images(annotations, fraction, seed)
        if fraction != 1
        else np.ones(annotations.num_images, bool)
    )
    changes.keep_image = keep_image
    kept_rows = keep_image[annotations.image]
    manifest = build_manifest(
        command,
        annotations.path,
        output,
        argv=argv,
        timestamp=timestamp,
        format=annotations.format,
        seed=seed,
        fraction=fraction,
        images=int(keep_image.sum()),
        boxes=int(kept_rows.sum()),
        noise=None if noise is None else noise.describe(),
        invalid_records=len(annotations.issues),
        report=None if report is None else report.to_dict(),
        **(details or {}),
    )
    derived = Derived(changes, report, keep_image, manifest)
    if not dry_run:
        check_output_path(annotations, output, overwrite)
        rendered = render_stream(annotations, changes)
        boxes_path = box_table_path(output)
        with AtomicBatch() as batch:
            batch.put(output, rendered)
            derived.manifest_file = manifest_path(output)
            batch.file(derived.manifest_file, manifest_bytes(manifest))
            if per_box:
                table = box_table(annotations, changes, report or CorruptionReport(0, 0, 0, 0, 0))
                derived.box_table = boxes_path
                batch.file(boxes_path, table_csv(table))
            elif boxes_path.exists() and written_by_noisybox(boxes_path):
                batch.remove(boxes_path)  # it described the output this one replaces
            batch.commit()
    return derived
