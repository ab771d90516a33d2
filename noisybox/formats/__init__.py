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
from ..atomic import atomic_directory, atomic_write
from ..errors import NoisyboxError
from ..outputs import Output, check_outputs
from .coco import read_coco, write_coco
from .voc import quantize_voc, read_voc, write_voc
from .yolo import quantize_yolo, read_yolo, write_yolo

FORMATS = ("coco", "voc", "yolo")


def detect_format(path: Path) -> str:
    """``coco`` for a .json file, ``voc`` for .xml (or a folder of them), ``yolo`` for a
    folder of .txt label files."""
    if not path.exists():
        raise NoisyboxError(f"{path}: no such file or folder")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".json":
            return "coco"
        if suffix == ".xml":
            return "voc"
        raise NoisyboxError(f"{path}: cannot tell the format from '{suffix}'; pass --format")
    if any(path.glob("*.xml")):
        return "voc"
    if any(p.name != "classes.txt" for p in path.rglob("*.txt")):
        return "yolo"
    raise NoisyboxError(f"{path}: no .xml or .txt annotation files in this folder; pass --format")


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
        raise NoisyboxError(f"--format must be one of {', '.join(FORMATS)}; got {format!r}")
    if not path.exists():
        raise NoisyboxError(f"{path}: no such file or folder")
    if split is not None and format != "voc":
        raise NoisyboxError(f"{path}: an image-set list applies to VOC folders only")
    if format == "coco":
        if not path.is_file():
            raise NoisyboxError(f"{path}: a COCO dataset is a .json file")
        annotations = read_coco(path)
    elif format == "voc":
        annotations = read_voc(
            path, Path(images_dir) if images_dir else None, Path(split) if split else None
        )
    else:
        annotations = read_yolo(path)
    return apply_on_invalid(annotations, on_invalid)


def quantize(annotations: Annotations, boxes: np.ndarray) -> np.ndarray:
    """``boxes`` as they will read back after writing (VOC: whole pixels or 2 decimals;
    YOLO: 6 decimals; COCO: exact)."""
    if annotations.format == "voc":
        return quantize_voc(annotations, boxes)
    if annotations.format == "yolo":
        return quantize_yolo(boxes)
    return boxes


def render(annotations: Annotations, changes: Changes) -> bytes | dict[str, bytes]:
    """The output in memory: the bytes of one file, or ``{relative path: bytes}`` of a folder.

    Annotations read with ``on_invalid="skip"`` leave their invalid images out as well.
    """
    if annotations.skip_invalid:
        changes = replace(changes, keep_image=changes.keep_image & ~annotations.invalid_images())
    if annotations.format == "coco":
        return write_coco(annotations, changes)
    files = (
        write_voc(annotations, changes)
        if annotations.format == "voc"
        else write_yolo(annotations, changes)
    )
    if annotations.format == "voc" and annotations.source.single_file:
        if not files:
            raise NoisyboxError(f"{annotations.path}: nothing valid is left to write")
        return next(iter(files.values()))
    return files


def output_is_a_folder(annotations: Annotations) -> bool:
    return annotations.format == "yolo" or (
        annotations.format == "voc" and not annotations.source.single_file
    )


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
    rendered = render(annotations, changes)
    if isinstance(rendered, bytes):
        with atomic_write(output) as handle:
            handle.write(rendered)
        return
    with atomic_directory(output, overwrite=True) as staging:
        for relative, data in rendered.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
