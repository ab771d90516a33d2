"""YOLO labels: a folder of ``.txt`` files, one line ``class cx cy w h`` per box, normalized.

Boxes are held normalized to the image (``units == "normalized"``, image size 1 x 1), which is
all the paper's noise model needs. Class names come from a ``classes.txt`` in the folder or
its parent, when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..annotations import Annotations, Changes, Issue
from ..boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from ..errors import NoisyboxError
from ..keys import text_key
from ._common import box_issues
from .base import Format

CLASSES_FILE = "classes.txt"
#: class ids at or above this are refused (larger floats lose integers; int64 would wrap)
MAX_CLASS = 2**31
#: How far a normalized box may stick out of [0, 1]; YOLO exporters round to 6 decimals.
TOLERANCE = 1e-3
DECIMALS = 6


@dataclass
class YoloFile:
    relative: str  # path of the label file below the labels folder, with "/" separators
    lines: list[bytes]  # as read, line endings included
    box_lines: list[int]  # which lines hold the boxes, in row order


@dataclass
class YoloSource:
    files: list[YoloFile]
    extra_files: dict[str, bytes]  # classes.txt and the like, copied along


def list_label_files(root: Path) -> list[Path]:
    files = sorted(p for p in root.rglob("*.txt") if p.is_file() and p.name != CLASSES_FILE)
    if not files:
        raise NoisyboxError(f"{root}: no .txt label files below this folder")
    return files


def read_yolo(root: Path) -> Annotations:
    """Read every label file below ``root``; problems with lines are collected as issues."""
    if not root.is_dir():
        raise NoisyboxError(f"{root}: YOLO labels are a folder of .txt files")
    paths = list_label_files(root)
    names: dict[int, str] = {}
    extra: dict[str, bytes] = {}
    for candidate in (root / CLASSES_FILE, root.parent / CLASSES_FILE):
        if candidate.is_file():
            text = candidate.read_text(errors="replace").splitlines()
            names = {i: line.strip() for i, line in enumerate(text) if line.strip()}
            if candidate.parent == root:
                extra[CLASSES_FILE] = candidate.read_bytes()
            break
    files, issues = [], []
    values, image, keys, parsed, describe_rows = [], [], [], [], []
    for index, path in enumerate(paths):
        relative = path.relative_to(root).as_posix()
        lines = path.read_bytes().splitlines(keepends=True)
        box_lines = []
        for number, raw in enumerate(lines):
            fields = raw.split()
            if not fields:
                continue  # blank lines are kept as they are
            row = len(values)
            record = f"line {number + 1}"
            describe_rows.append((str(path), record))
            box_lines.append(number)
            image.append(index)
            keys.append(text_key(f"{relative}#{number}"))
            try:
                numbers = [float(f) for f in fields]
            except ValueError:
                numbers = []
            if len(numbers) != 5 or not numbers[0].is_integer() or not 0 <= numbers[0] < MAX_CLASS:
                values.append([-1.0, np.nan, np.nan, np.nan, np.nan])
                parsed.append(False)
                issues.append(
                    Issue(
                        str(path),
                        record,
                        "expected 'class cx cy w h' with an integer class in [0, 2^31) and 4 "
                        f"numbers; got {raw.strip().decode(errors='replace')!r}",
                        row=row,
                        image=index,
                    )
                )
                continue
            values.append(numbers)
            parsed.append(True)
        files.append(YoloFile(relative, lines, box_lines))
    if not values:
        raise NoisyboxError(f"{root}: the dataset is empty (no boxes in {len(paths)} label files)")
    table = np.asarray(values, dtype=np.float64)
    count = len(table)
    with np.errstate(invalid="ignore"):
        boxes = cxcywh_to_xyxy(table[:, 1:])
    category = table[:, 0].astype(np.int64)
    image_arr = np.asarray(image, np.int64)
    image_size = np.ones((len(paths), 2))
    issues += box_issues(
        boxes, image_size, describe_rows.__getitem__, np.asarray(parsed, bool), image_arr, TOLERANCE
    )
    for cid in sorted(set(category[category >= 0].tolist()) - set(names)):
        names[cid] = str(cid)
    return Annotations(
        format="yolo",
        path=root,
        units="normalized",
        boxes=boxes,
        image=image_arr,
        category=category,
        key=np.asarray(keys, np.uint64),
        crowd=np.zeros(count, bool),
        valid=np.ones(count, bool),
        record=np.arange(count),
        image_size=image_size,
        image_name=[f.relative for f in files],
        image_key=np.asarray([text_key(f.relative) for f in files], np.uint64),
        categories=dict(sorted(names.items())),
        source=YoloSource(files, extra),
        issues=issues,
    )


def quantize_yolo(boxes: np.ndarray) -> np.ndarray:
    """Boxes as they read back from the file: centre and size rounded to 6 decimals."""
    return cxcywh_to_xyxy(np.round(xyxy_to_cxcywh(boxes), DECIMALS))


def write_yolo(annotations: Annotations, changes: Changes) -> dict[str, bytes]:
    """``{relative path: bytes}`` for the kept label files; untouched lines byte for byte."""
    source: YoloSource = annotations.source
    row_of_record = np.full(sum(len(f.box_lines) for f in source.files), -1, np.int64)
    row_of_record[annotations.record] = np.arange(len(annotations))
    changed = changes.changed_rows(annotations)
    centre_size = np.round(xyxy_to_cxcywh(changes.boxes), DECIMALS)
    added_centre_size = np.round(xyxy_to_cxcywh(changes.added_boxes), DECIMALS)
    added_by_image: dict[int, list[int]] = {}
    for added, img in enumerate(changes.added_image.tolist()):
        added_by_image.setdefault(img, []).append(added)

    def line(category: int, values: np.ndarray) -> bytes:
        return (f"{category} " + " ".join(f"{v:.{DECIMALS}f}" for v in values) + "\n").encode()

    output = dict(source.extra_files)
    first_record = 0
    for index, yolo_file in enumerate(source.files):
        rows = row_of_record[first_record : first_record + len(yolo_file.box_lines)]
        first_record += len(yolo_file.box_lines)
        if not changes.keep_image[index]:
            continue
        lines = list(yolo_file.lines)
        for number, row in zip(yolo_file.box_lines, rows.tolist(), strict=True):
            if row < 0 or not changes.keep[row]:
                lines[number] = b""
            elif changed[row]:
                original = lines[number]
                ending = original[len(original.rstrip(b"\r\n")) :] or b"\n"
                lines[number] = line(int(changes.category[row]), centre_size[row])[:-1] + ending
        if lines and not lines[-1].endswith(b"\n") and index in added_by_image:
            lines[-1] += b"\n"
        for added in added_by_image.get(index, []):
            lines.append(line(int(changes.added_category[added]), added_centre_size[added]))
        output[yolo_file.relative] = b"".join(lines)
    return output


def create_yolo(annotations: Annotations) -> dict[str, bytes]:
    """A new YOLO labels folder from the arrays: ``STEM.txt`` per image (STEM: the image
    file's path without suffix; an image without boxes gets an empty file), a line
    ``class cx cy w h`` per box normalized to its image (lossless), classes numbered 0…K-1
    in the order of their ids, and ``classes.txt`` with their names. YOLO has no crowd mark:
    crowd (VOC ``difficult``) boxes must be left out before."""
    ids = list(annotations.categories)
    index_of = {cid: index for index, cid in enumerate(ids)}
    size = annotations.image_size[annotations.image]
    centre_size = xyxy_to_cxcywh(annotations.boxes) / np.concatenate([size, size], axis=1)
    lines: dict[int, list[str]] = {}
    for image, category, values in zip(
        annotations.image.tolist(), annotations.category.tolist(), centre_size.tolist(), strict=True
    ):
        text = " ".join(repr(v) for v in values)
        lines.setdefault(image, []).append(f"{index_of[category]} {text}\n")
    output = {CLASSES_FILE: "".join(f"{annotations.categories[c]}\n" for c in ids).encode()}
    for index, name in enumerate(annotations.image_name):
        relative = Path(name).with_suffix(".txt").as_posix()
        if relative in output:
            raise NoisyboxError(
                f"{annotations.path}: two images would share the label file {relative} "
                f"(image {name!r}); rename one"
            )
        output[relative] = "".join(lines.get(index, [])).encode()
    return output


def _detect(path: Path) -> bool:
    return path.is_dir() and any(p.name != CLASSES_FILE for p in path.rglob("*.txt"))


FORMAT = Format(
    name="yolo",
    detect=_detect,
    read=lambda path, options: read_yolo(path),
    write=write_yolo,
    quantize=lambda annotations, boxes: quantize_yolo(boxes),
    is_folder=lambda annotations: True,
    create=create_yolo,
    beyond=lambda annotations: [],  # a line holds a class and a box, nothing else
)
