"""Helpers shared by the format readers and writers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..annotations import Issue


def as_number(value: object) -> float | None:
    """A JSON/XML value as a float, or None if it is not a number (booleans are not, nor
    integers too large for a float)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
    except (ValueError, OverflowError):  # text, or an integer beyond a float's range
        return None
    return None


def box_issues(
    boxes: np.ndarray,
    image_size: np.ndarray,
    describe: Callable[[int], tuple[str, str]],
    rows: np.ndarray,
    image: np.ndarray,
    tolerance: float,
) -> list[Issue]:
    """Issues for xyxy boxes that are not finite, empty, or outside their image.

    Vectorized over all boxes; only the offending rows are described. ``tolerance`` is how
    far (in the boxes' units) a box may stick out of its image before it counts as outside;
    ``describe(row)`` gives ``(file, record)`` for a row. Rows already reported (NaN from a
    missing value) are passed in ``rows`` as False.
    """
    issues: list[Issue] = []
    finite = np.isfinite(boxes).all(axis=1)
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    size = image_size[image]
    checks = [
        (~finite, "box has a NaN or infinite coordinate"),
        (finite & ((width <= 0) | (height <= 0)), "box has zero or negative width or height"),
        (
            finite
            & (width > 0)
            & (height > 0)
            & np.isfinite(size).all(axis=1)
            & (
                (boxes[:, 0] < -tolerance)
                | (boxes[:, 1] < -tolerance)
                | (boxes[:, 2] > size[:, 0] + tolerance)
                | (boxes[:, 3] > size[:, 1] + tolerance)
            ),
            "box lies outside its image",
        ),
    ]
    for mask, message in checks:
        for row in np.flatnonzero(mask & rows):
            file, record = describe(int(row))
            x1, y1, x2, y2 = (f"{v:g}" for v in boxes[row])  # "nan" for NaN
            w, h = (f"{v:g}" for v in size[row])
            detail = f"{message} (x1={x1}, y1={y1}, x2={x2}, y2={y2}; image {w}x{h})"
            issues.append(Issue(file, record, detail, row=int(row), image=int(image[row])))
    return issues


def image_size_from_file(images_dir: Path, filename: str) -> tuple[float, float] | str:
    """Width and height in pixels read from the header of image ``filename`` below
    ``images_dir``, or why they could not be (a path out of the folder is not followed)."""
    from PIL import Image

    root = images_dir.resolve()
    candidate = (root / filename).resolve()
    if not candidate.is_relative_to(root):
        return f"filename {filename!r} points outside the image folder {images_dir}; not followed"
    if not candidate.is_file():
        return f"no image {filename!r} in {images_dir}"
    try:
        with Image.open(candidate) as image:
            return float(image.width), float(image.height)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"the image {filename!r} cannot be read ({error})"


def whole_or_float(value: float) -> int | float:
    """A coordinate as the format creators write it: a whole number as an integer (``48``,
    not ``48.0``), else the float itself (JSON and ``str`` write its shortest exact text)."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def number_text(value: float) -> str:
    """:func:`whole_or_float` as text (XML): lossless."""
    return str(whole_or_float(value))
