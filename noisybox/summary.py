"""What is in a dataset: the numbers behind ``noisybox inspect``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .annotations import Annotations
from .images import check_images

QUANTILES = (0.0, 0.05, 0.5, 0.95, 1.0)
#: COCO's object size ranges, by box area in square pixels.
COCO_SIZES = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, float("inf"))}


@dataclass
class ClassCount:
    id: int
    name: str
    boxes: int
    images: int


@dataclass
class DatasetSummary:
    """Counts and distributions of a dataset's valid boxes.

    Sizes are in the boxes' units (pixels, or fractions of the image for YOLO); ``aspect``
    is width / height; quantiles are at 0, 5, 50, 95 and 100%.
    """

    format: str
    path: str
    units: str
    images: int
    boxes: int
    images_without_boxes: int
    crowd: int
    classes: list[ClassCount]
    width: dict[str, float]
    height: dict[str, float]
    aspect: dict[str, float]
    sizes: dict[str, int] = field(default_factory=dict)
    invalid: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {}
    return {
        f"p{round(q * 100)}": float(v)
        for q, v in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True)
    }


def summarize(annotations: Annotations, images_dir: Path | None = None) -> DatasetSummary:
    """Summarize the valid boxes of ``annotations`` and list every invalid record; with
    ``images_dir``, also every image that is missing or cannot be decoded (each is opened
    and decoded to the end)."""
    unusable = check_images(annotations, Path(images_dir)) if images_dir is not None else {}
    valid = annotations.valid & np.isfinite(annotations.boxes).all(axis=1)
    boxes = annotations.boxes[valid]
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    positive = (width > 0) & (height > 0)
    images_with_boxes = np.zeros(annotations.num_images, bool)
    images_with_boxes[annotations.image[valid]] = True
    classes = []
    for cid, name in annotations.categories.items():
        of_class = valid & (annotations.category == cid)
        classes.append(
            ClassCount(cid, name, int(of_class.sum()), len(np.unique(annotations.image[of_class])))
        )
    sizes = {}
    if annotations.units == "pixels":
        area = width * height
        sizes = {
            name: int(((area >= low) & (area < high)).sum())
            for name, (low, high) in COCO_SIZES.items()
        }
    return DatasetSummary(
        format=annotations.format,
        path=str(annotations.path),
        units=annotations.units,
        images=annotations.num_images,
        boxes=int(valid.sum()),
        images_without_boxes=int((~images_with_boxes).sum()),
        crowd=int((annotations.crowd & valid).sum()),
        classes=classes,
        width=_quantiles(width),
        height=_quantiles(height),
        aspect=_quantiles(width[positive] / height[positive]),
        sizes=sizes,
        invalid=[
            {"file": i.file, "record": i.record, "problem": i.message} for i in annotations.issues
        ]
        + [
            {"file": annotations.image_name[row], "record": "image", "problem": problem}
            for row, problem in unusable.items()
        ],
    )
