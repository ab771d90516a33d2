"""The central data type: a detection dataset's boxes as arrays, beside its untouched source."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NoisyboxError

ON_INVALID = ("error", "skip", "keep")


@dataclass(frozen=True)
class Issue:
    """One invalid record: where it is and what is wrong with it.

    ``row`` is the annotation's row in :class:`Annotations` (``None`` for a problem with an
    image or category record); ``image`` the image row it concerns, if any.
    """

    file: str
    record: str
    message: str
    row: int | None = None
    image: int | None = None

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: {self.message}"


@dataclass
class Annotations:
    """A detection dataset read from COCO, VOC or YOLO files.

    Annotation arrays, one row per box, in the order of the source:

    - ``boxes``: ``(N, 4)`` float64, xyxy corners, in pixels (YOLO: normalized to the image,
      and ``units == "normalized"``).
    - ``image``: ``(N,)`` int64, the row of the box's image in the image arrays.
    - ``category``: ``(N,)`` int64 category ids (VOC: names numbered in sorted order).
    - ``key``: ``(N,)`` uint64, a stable identity derived from the annotation id (COCO) or
      from the file and the position in it (VOC, YOLO). Noise is seeded by it, so a box gets
      the same noise in a subset as in the full dataset.
    - ``crowd``: ``(N,)`` bool, COCO ``iscrowd`` (never set for VOC and YOLO).
    - ``valid``: ``(N,)`` bool, False for invalid records kept as they are
      (``on_invalid="keep"``); those are written back untouched and never noised.
    - ``record``: ``(N,)`` int64, the position of the row's record in the source (a COCO
      annotation, a VOC ``<object>``, a YOLO line, counted over the whole dataset). A
      source record with no row is left out when writing.

    Image arrays, one row per image: ``image_size`` ``(I, 2)`` float64 width and height in
    pixels (YOLO: 1, 1), ``image_name`` (file name, or label file for YOLO) and
    ``image_key`` ``(I,)`` uint64, a stable identity (seeds subsampling).

    ``source`` is the format's own parsed document, which the writer edits so that
    everything noisybox does not change is written back as it was.
    """

    format: str
    path: Path
    units: str
    boxes: np.ndarray
    image: np.ndarray
    category: np.ndarray
    key: np.ndarray
    crowd: np.ndarray
    valid: np.ndarray
    record: np.ndarray
    image_size: np.ndarray
    image_name: list[str]
    image_key: np.ndarray
    categories: dict[int, str]
    source: Any
    issues: list[Issue] = field(default_factory=list)
    #: read with ``on_invalid="skip"``: invalid records, images and categories are left out
    #: of what is written too, so that the output holds no invalid record
    skip_invalid: bool = False

    def __len__(self) -> int:
        return len(self.boxes)

    def invalid_images(self) -> np.ndarray:
        """``(I,)`` bool: images with an issue of their own (no size, a duplicate id)."""
        bad = np.zeros(self.num_images, bool)
        for issue in self.issues:
            if issue.row is None and issue.image is not None:
                bad[issue.image] = True
        return bad

    @property
    def num_images(self) -> int:
        return len(self.image_name)


@dataclass
class Changes:
    """What a writer applies to an :class:`Annotations` on its way back to disk.

    - ``boxes``, ``category``: ``(N, 4)`` / ``(N,)`` new values per row (same units).
    - ``keep``: ``(N,)`` bool, False for boxes left out (dropped annotations).
    - ``keep_image``: ``(I,)`` bool, False for images left out with all their boxes.
    - ``added_image``, ``added_category``, ``added_boxes``: ``(M,)``, ``(M,)``, ``(M, 4)``,
      new boxes (spurious annotations), appended after the existing ones of their image.
    """

    boxes: np.ndarray
    category: np.ndarray
    keep: np.ndarray
    keep_image: np.ndarray
    added_image: np.ndarray
    added_category: np.ndarray
    added_boxes: np.ndarray

    @classmethod
    def none(cls, annotations: Annotations) -> Changes:
        """No change at all: writing it reproduces the input."""
        return cls(
            boxes=annotations.boxes.copy(),
            category=annotations.category.copy(),
            keep=np.ones(len(annotations), bool),
            keep_image=np.ones(annotations.num_images, bool),
            added_image=np.zeros(0, np.int64),
            added_category=np.zeros(0, np.int64),
            added_boxes=np.zeros((0, 4)),
        )

    def changed_rows(self, annotations: Annotations) -> np.ndarray:
        """Rows whose box or category differ from the source (NaN equals NaN here)."""
        old, new = annotations.boxes, self.boxes
        same = (new == old) | (np.isnan(new) & np.isnan(old))
        return ~same.all(axis=1) | (self.category != annotations.category)


def apply_on_invalid(annotations: Annotations, on_invalid: str) -> Annotations:
    """Act on the issues found while reading.

    ``"error"``: raise :class:`NoisyboxError` naming the first issue (and how many more).
    ``"skip"``: leave out the invalid annotations and the annotations of invalid images.
    ``"keep"``: keep them, marked ``valid = False`` (written back untouched, never noised).
    """
    if on_invalid not in ON_INVALID:
        raise NoisyboxError(f"on_invalid must be one of {', '.join(ON_INVALID)}", "on_invalid")
    if not annotations.issues:
        return annotations
    if on_invalid == "error":
        first, more = annotations.issues[0], len(annotations.issues) - 1
        suffix = f" (and {more} more invalid records; see `noisybox inspect`)" if more else ""
        raise NoisyboxError(f"{first}{suffix}")
    bad = np.zeros(len(annotations), bool)
    bad_images = np.zeros(annotations.num_images, bool)
    for issue in annotations.issues:
        if issue.row is not None:
            bad[issue.row] = True
        elif issue.image is not None:
            bad_images[issue.image] = True
    bad |= bad_images[annotations.image]
    if on_invalid == "keep":
        return replace(annotations, valid=annotations.valid & ~bad)
    return replace(select_rows(annotations, ~bad), skip_invalid=True)


def select_rows(annotations: Annotations, mask: np.ndarray) -> Annotations:
    """The annotations whose rows are True in ``mask``; the source is shared, not copied.

    Writers only write the rows present, so the rows left out disappear from the output.
    """
    fields = ("boxes", "image", "category", "key", "crowd", "valid", "record")
    return replace(annotations, **{name: getattr(annotations, name)[mask] for name in fields})
