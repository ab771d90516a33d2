"""Per-box provenance of a corruption: which box was moved, fitted into its image, flipped,
dropped or added, and by how much, as a table (``OUTPUT.boxes.csv`` beside a noisy output).

One row per source annotation and one per spurious box added. What label-error detectors
(cleanlab's ``find_label_issues`` for detection, FiftyOne's mistakenness) need as ground
truth: the IoU of each noisy box with its clean one is that of the values as written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .annotations import Annotations, Changes
from .boxes import elementwise_iou
from .noise import CorruptionReport

#: the table's columns; boxes are xyxy in the annotations' units (pixels; YOLO: normalized)
COLUMNS = [
    "image",
    "annotation",
    "class_before",
    "class_after",
    "clean_x1",
    "clean_y1",
    "clean_x2",
    "clean_y2",
    "noisy_x1",
    "noisy_y1",
    "noisy_x2",
    "noisy_y2",
    "iou",
    "moved",
    "fitted",
    "flipped",
    "dropped",
    "spurious",
]


def box_table_path(output: Path) -> Path:
    """Where the table of ``output`` goes: ``OUTPUT.boxes.csv``."""
    return output.with_name(output.name + ".boxes.csv")


def _annotation_labels(annotations: Annotations) -> list[str]:
    """Each row's identity: the COCO annotation id, or ``IMAGE#K`` (the K-th box of that
    image's file, from 0) for VOC and YOLO."""
    if annotations.format == "coco":
        labels = [
            str(record.get("id")) if isinstance(record, dict) else f"annotations[{index}]"
            for index, record in enumerate(annotations.source.records())
        ]
        return [labels[r] for r in annotations.record.tolist()]
    order = np.argsort(annotations.image, kind="stable")
    starts = np.searchsorted(annotations.image[order], annotations.image[order], side="left")
    position = np.empty(len(order), np.int64)
    position[order] = np.arange(len(order)) - starts
    names = annotations.image_name
    return [
        f"{names[i]}#{k}"
        for i, k in zip(annotations.image.tolist(), position.tolist(), strict=True)
    ]


def box_table(annotations: Annotations, changes: Changes, report: CorruptionReport) -> pd.DataFrame:
    """The per-box table of a corruption (:data:`COLUMNS`)."""
    names = annotations.categories
    count = len(annotations)
    noisy = changes.boxes.astype(np.float64).copy()
    dropped = ~changes.keep | ~changes.keep_image[annotations.image]
    noisy[dropped] = np.nan
    iou = elementwise_iou(np.nan_to_num(noisy), annotations.boxes)
    iou[dropped] = np.nan
    moved = (changes.boxes != annotations.boxes).any(axis=1) & ~dropped
    fitted = report.fitted if report.fitted is not None else np.zeros(count, bool)
    table = pd.DataFrame(
        {
            "image": [annotations.image_name[i] for i in annotations.image.tolist()],
            "annotation": _annotation_labels(annotations),
            "class_before": [names.get(c, str(c)) for c in annotations.category.tolist()],
            "class_after": [names.get(c, str(c)) for c in changes.category.tolist()],
            **{
                f"clean_{k}": annotations.boxes[:, i]
                for i, k in enumerate(("x1", "y1", "x2", "y2"))
            },
            **{f"noisy_{k}": noisy[:, i] for i, k in enumerate(("x1", "y1", "x2", "y2"))},
            "iou": iou,
            "moved": moved,
            "fitted": fitted & ~dropped,
            "flipped": changes.category != annotations.category,
            "dropped": dropped,
            "spurious": np.zeros(count, bool),
        }
    )
    added = len(changes.added_boxes)
    if added:
        keep = changes.keep_image[changes.added_image]
        spurious = pd.DataFrame(
            {
                "image": [annotations.image_name[i] for i in changes.added_image.tolist()],
                "annotation": "",
                "class_before": "",
                "class_after": [names.get(c, str(c)) for c in changes.added_category.tolist()],
                **{f"clean_{k}": np.nan for k in ("x1", "y1", "x2", "y2")},
                **{
                    f"noisy_{k}": changes.added_boxes[:, i]
                    for i, k in enumerate(("x1", "y1", "x2", "y2"))
                },
                "iou": np.nan,
                "moved": False,
                "fitted": False,
                "flipped": False,
                "dropped": False,
                "spurious": True,
            }
        )[keep]
        table = pd.concat([table, spurious], ignore_index=True)
    return table[COLUMNS]


def _csv_cells(values) -> list[bytes]:
    """A column's cells as CSV bytes: floats in shortest round-trip form (orjson's, empty for
    NaN), booleans ``True``/``False``, text quoted where it needs to be."""
    import orjson

    array = np.asarray(values)
    if array.dtype.kind == "b":
        return [b"True" if v else b"False" for v in array.tolist()]
    if array.dtype.kind in "fiu":
        text = orjson.dumps(array.astype(np.float64).tolist())[1:-1]
        return [b"" if cell == b"null" else cell for cell in text.split(b",")] if len(array) else []
    texts = [str(value) for value in array.tolist()]
    joined = "\x00".join(texts)
    if not any(c in joined for c in ',"\n\r'):  # the usual case: nothing to quote
        return joined.encode().split(b"\x00") if texts else []
    return [
        ('"' + t.replace('"', '""') + '"' if any(c in t for c in ',"\n\r') else t).encode()
        for t in texts
    ]


def table_csv(table: pd.DataFrame) -> bytes:
    """``table`` as CSV bytes (a header line, then a line per row), as ``pandas.read_csv``
    reads it back; several times faster than ``DataFrame.to_csv`` on a million rows."""
    columns = [_csv_cells(table[name].to_numpy()) for name in table.columns]
    lines = [",".join(table.columns).encode()]
    lines += [b",".join(row) for row in zip(*columns, strict=True)]
    return b"\n".join(lines) + b"\n"
