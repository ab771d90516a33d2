"""The COCO document a run's detections are scored against, built alike for every format.

COCO, VOC and YOLO validation sets go through the same arrays (:class:`Annotations`), so a
dataset and its conversion to another format (``noisybox convert``) are scored against the
same ground truth. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..annotations import Annotations


def ground_truth_document(
    val: Annotations,
    rows: Sequence[int],
    image_ids: Sequence,
    pixel_sizes: np.ndarray,
    labels: dict[int, int],
    category_of: dict[int, int],
    categories: list[dict],
) -> dict:
    """The validation annotations as a COCO ground truth.

    Args:
        val: the validation annotations; their valid boxes are the ground truth, as
            annotated (not clipped or filtered as the training targets are).
        rows: the image rows in use (an unreadable image is left out with its boxes).
        image_ids: the id of each image row (``Format.image_ids``: COCO's own, else 1…N).
        pixel_sizes: ``(I, 2)`` width and height of each image row in pixels (YOLO's
            normalized boxes are scaled by them).
        labels: ``val``'s category id -> model label; category_of: model label -> the run's
            category id (:class:`~noisybox.training.classes.ClassTable`).
        categories: the run's COCO categories.

    Returns:
        ``{"images", "annotations", "categories"}``: each image in use with its id and size;
        a record per valid box (``bbox`` xywh in pixels, ``area`` = w·h, crowd and VOC
        ``difficult`` boxes as ``iscrowd`` 1: ignore regions, where a detection is neither
        right nor wrong), in the order of the rows.
    """
    rows = [int(row) for row in rows]
    in_use = np.zeros(val.num_images, bool)
    in_use[rows] = True
    category_ids = {c: category_of[label] for c, label in labels.items()}
    picked = np.flatnonzero(
        val.valid & in_use[val.image] & np.isin(val.category, list(category_ids))
    )
    boxes = val.boxes[picked]
    if val.units == "normalized":
        size = pixel_sizes[val.image[picked]]
        boxes = boxes * np.concatenate([size, size], axis=1)
    images = [
        {
            "id": image_ids[row],
            "file_name": val.image_name[row],
            "width": width,
            "height": height,
        }
        for row, (width, height) in zip(rows, pixel_sizes[rows].tolist(), strict=True)
    ]
    records = [
        {
            "id": number,
            "image_id": image_ids[image],
            "category_id": category_ids[category],
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "area": (x2 - x1) * (y2 - y1),
            "iscrowd": int(crowd),
        }
        for number, (image, category, crowd, (x1, y1, x2, y2)) in enumerate(
            zip(
                val.image[picked].tolist(),
                val.category[picked].tolist(),
                val.crowd[picked].tolist(),
                boxes.tolist(),
                strict=True,
            ),
            start=1,
        )
    ]
    return {"images": images, "annotations": records, "categories": categories}
