"""Annotation formats: COCO JSON, PASCAL VOC XML and YOLO txt, read and written losslessly.

>>> from noisybox.formats import read_annotations, write_annotations
>>> annotations = read_annotations("instances_train.json")       # doctest: +SKIP
>>> write_annotations(annotations, changes, "noisy.json")        # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..annotations import Annotations, Changes, apply_on_invalid
from ..atomic import AtomicBatch, Rendered
from ..errors import NoisyboxError
from ..outputs import Output, check_outputs
from . import coco, voc, yolo
from .base import Format, ReadOptions

#: the formats by name, in the order :func:`detect_format` asks them
FORMATS: dict[str, Format] = {f.name: f for f in (coco.FORMAT, voc.FORMAT, yolo.FORMAT)}


def detect_format(path: Path) -> str:
    """The name of the format that holds ``path``: ``coco`` for a COCO .json file, ``voc``
    for .xml (or a folder of them), ``yolo`` for a folder of .txt label files."""
    if not path.exists():
        raise NoisyboxError(f"{path}: no such file or folder")
    for name, found in FORMATS.items():
        if found.detect(path):
            return name
    if path.is_file():
        raise NoisyboxError(
            f"{path}: not a format noisybox reads ({', '.join(FORMATS)}); pass `format`"
        )
    raise NoisyboxError(f"{path}: no .xml or .txt annotation files in this folder; pass `format`")


def read_annotations(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    images_dir: str | os.PathLike[str] | None = None,
    on_invalid: str = "error",
    split: str | os.PathLike[str] | None = None,
) -> Annotations:
    """Read a dataset's annotations.

    Args:
        path: a COCO .json file, a VOC .xml file or folder, or a YOLO labels folder.
        format: ``coco``, ``voc`` or ``yolo``; detected from ``path`` when omitted.
        images_dir: where VOC images are, to read a missing ``<size>`` from the image.
        on_invalid: ``error`` (stop at the first invalid record, one line naming file and
            record), ``skip`` (leave invalid records out) or ``keep`` (keep them as they are).
        split: for a VOC folder, an ``ImageSets/Main/*.txt`` list of the images to read.
    """
    path = Path(path)
    format = format or detect_format(path)
    if format not in FORMATS:
        raise NoisyboxError(f"format must be one of {', '.join(FORMATS)}; got {format!r}", "format")
    if not path.exists():
        raise NoisyboxError(f"{path}: no such file or folder")
    if split is not None and not FORMATS[format].split_lists:
        raise NoisyboxError(f"{path}: an image list applies to VOC folders only")
    options = ReadOptions(Path(images_dir) if images_dir else None, Path(split) if split else None)
    return apply_on_invalid(FORMATS[format].read(path, options), on_invalid)


def quantize(annotations: Annotations, boxes: np.ndarray) -> np.ndarray:
    """``boxes`` as they will read back after writing (VOC: whole pixels or 2 decimals;
    YOLO: 6 decimals; COCO: exact)."""
    return FORMATS[annotations.format].quantize(annotations, boxes)


def render_stream(annotations: Annotations, changes: Changes) -> Rendered:
    """The output: the bytes of one file (whole, or pieces made as they are written, so that
    a large COCO file is never whole in memory), or ``{relative path: bytes}`` of a folder.

    Annotations read with ``on_invalid="skip"`` leave their invalid images out as well.
    """
    if annotations.skip_invalid:
        changes = replace(changes, keep_image=changes.keep_image & ~annotations.invalid_images())
    return FORMATS[annotations.format].write(annotations, changes)


def render(annotations: Annotations, changes: Changes) -> bytes | dict[str, bytes]:
    """:func:`render_stream` in memory: the bytes of one file, or ``{relative path: bytes}``
    of a folder."""
    rendered = render_stream(annotations, changes)
    return rendered if isinstance(rendered, (bytes, dict)) else b"".join(rendered)


def output_is_a_folder(annotations: Annotations) -> bool:
    """Whether writing ``annotations`` makes a folder (VOC and YOLO folders) or a file."""
    return FORMATS[annotations.format].is_folder(annotations)


def annotation_output(annotations: Annotations, output: Path) -> Output:
    """``output`` as the file or folder that writing ``annotations`` makes."""
    return Output(Path(output), folder=output_is_a_folder(annotations))


def check_output_path(annotations: Annotations, output: Path, overwrite: bool) -> None:
    """Refuse an output that :func:`noisybox.outputs.check_outputs` refuses: one that is,
    contains or lies inside the input, exists already (without ``overwrite``), or is a folder
    noisybox did not write."""
    check_outputs([annotation_output(annotations, output)], [annotations.path], overwrite)


def write_annotations(
    annotations: Annotations,
    changes: Changes,
    output: str | os.PathLike[str],
    overwrite: bool = False,
) -> None:
    """Write ``annotations`` with ``changes`` to ``output``, atomically.

    A file appears complete or not at all; a folder is written beside its final place and
    renamed into it (with ``overwrite``, the old folder is replaced only once the new one is
    complete). The input is never written to.
    """
    output = Path(output)
    check_output_path(annotations, output, overwrite)
    write_rendered(render_stream(annotations, changes), output)


def write_rendered(rendered: Rendered, output: Path) -> None:
    """Write what :func:`render` made to ``output`` atomically (a file, or a folder built
    beside its place and renamed into it); paths are checked by the caller."""
    with AtomicBatch() as batch:
        batch.put(output, rendered)
        batch.commit()
