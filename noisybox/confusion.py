"""A detector's confusion matrix with a background row and column (``noisybox eval --plots``).

The rule is the one detection toolkits draw (ultralytics' ``ConfusionMatrix``, YOLOv5's
``process_batch``): per image, detections scoring at least ``score`` are matched to
ground-truth boxes of any class with IoU at least ``iou``, each pair once, highest IoU first;
a matched pair counts at (predicted class, true class), an unmatched ground truth at
(background, its class) — missed — and an unmatched detection at (its class, background) — a
false alarm. Crowd boxes are left out, and detections matching only a crowd box count for
nothing, as in COCO. Boxes are COCO ``[x, y, w, h]`` in pixels. Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .boxes import pairwise_iou, xywh_to_xyxy
from .errors import NoisyboxError


@dataclass(frozen=True)
class ConfusionMatrix:
    """``counts[p, t]``: detections of class ``classes[p]`` (row ``-1``: background, a missed
    box) on ground truth of class ``classes[t]`` (column ``-1``: background, a false alarm).

    Attributes:
        counts: ``(K + 1, K + 1)`` int64.
        classes: the K category ids, in the ground truth's order.
        names: their names.
        iou, score: the thresholds it was counted at.
    """

    counts: np.ndarray
    classes: list
    names: list[str]
    iou: float
    score: float


def confusion_matrix(
    ground_truth: dict, detections: list, iou: float = 0.5, score: float = 0.25
) -> ConfusionMatrix:
    """Count ``detections`` (COCO results) against ``ground_truth`` (a COCO document)."""
    if not 0 < iou <= 1:
        raise NoisyboxError(f"iou must be in (0, 1]; got {iou}", "iou")
    if not 0 <= score <= 1:
        raise NoisyboxError(f"score must be in [0, 1]; got {score}", "score")
    categories = ground_truth["categories"]
    classes = [c["id"] for c in categories]
    index = {cid: i for i, cid in enumerate(classes)}
    background = len(classes)
    counts = np.zeros((background + 1, background + 1), np.int64)
    truths: dict[object, list] = {}
    crowds: dict[object, list] = {}
    for record in ground_truth["annotations"]:
        target = crowds if record.get("iscrowd", 0) else truths
        target.setdefault(record["image_id"], []).append(record)
    found: dict[object, list] = {}
    for record in detections:
        if record["score"] >= score and record["category_id"] in index:
            found.setdefault(record["image_id"], []).append(record)
    for image in {image["id"] for image in ground_truth["images"]}:
        gt = truths.get(image, [])
        dt = found.get(image, [])
        gt_class = np.asarray([index[r["category_id"]] for r in gt], np.int64)
        dt_class = np.asarray([index[r["category_id"]] for r in dt], np.int64)
        matched_gt = np.zeros(len(gt), bool)
        matched_dt = np.zeros(len(dt), bool)
        if gt and dt:
            ious = pairwise_iou(_xyxy(dt), _xyxy(gt))
            pairs = np.argwhere(ious >= iou)
            order = np.argsort(-ious[pairs[:, 0], pairs[:, 1]], kind="stable")
            for d, t in pairs[order]:
                if not matched_dt[d] and not matched_gt[t]:
                    matched_dt[d] = matched_gt[t] = True
                    counts[dt_class[d], gt_class[t]] += 1
        np.add.at(counts[background], gt_class[~matched_gt], 1)
        false_alarms = ~matched_dt
        if crowds.get(image) and false_alarms.any():
            on_crowd = pairwise_iou(_xyxy(dt), _xyxy(crowds[image])).max(axis=1) >= iou
            false_alarms &= ~on_crowd
        np.add.at(counts[:, background], dt_class[false_alarms], 1)
    names = [str(c.get("name", c["id"])) for c in categories]
    return ConfusionMatrix(counts, classes, names, iou, score)


def _xyxy(records: list) -> np.ndarray:
    return xywh_to_xyxy(np.asarray([r["bbox"] for r in records], np.float64).reshape(-1, 4))
