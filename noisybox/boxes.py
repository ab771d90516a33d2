"""Box geometry on numpy arrays: format conversion, normalization, element-wise and pairwise
IoU.

All functions are vectorized over the leading dimension and allocate no Python objects per box.
"""

from __future__ import annotations

import numpy as np


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` corners ``(x1, y1, x2, y2)`` to centre and size ``(cx, cy, w, h)``."""
    x1, y1, x2, y2 = boxes.T
    return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=1)


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` centre and size ``(cx, cy, w, h)`` to corners ``(x1, y1, x2, y2)``."""
    cx, cy, w, h = boxes.T
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``(N, 4)`` top-left corner and size ``(x, y, w, h)`` (COCO) to corners."""
    x, y, w, h = boxes.T
    return np.stack([x, y, x + w, y + h], axis=1)


def elementwise_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of each row of ``boxes1`` with the same row of ``boxes2``, both ``(N, 4)`` xyxy.

    Pairs with no union (two empty boxes) get IoU 0.
    """
    inter_w = np.clip(
        np.minimum(boxes1[:, 2], boxes2[:, 2]) - np.maximum(boxes1[:, 0], boxes2[:, 0]), 0, None
    )
    inter_h = np.clip(
        np.minimum(boxes1[:, 3], boxes2[:, 3]) - np.maximum(boxes1[:, 1], boxes2[:, 1]), 0, None
    )
    inter = inter_w * inter_h
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    union = area1 + area2 - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def pairwise_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """``(N, M)`` IoU of each row of ``boxes1`` (``(N, 4)`` xyxy) with each row of
    ``boxes2`` (``(M, 4)``); pairs with no union get IoU 0."""
    x1 = np.maximum(boxes1[:, None, 0], boxes2[None, :, 0])
    y1 = np.maximum(boxes1[:, None, 1], boxes2[None, :, 1])
    x2 = np.minimum(boxes1[:, None, 2], boxes2[None, :, 2])
    y2 = np.minimum(boxes1[:, None, 3], boxes2[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    union = area1[:, None] + area2[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
