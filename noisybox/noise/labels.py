"""Label noise: class flips, dropped boxes (missing annotations) and spurious boxes."""

from __future__ import annotations

import numpy as np


def flip_classes(
    category: np.ndarray,
    class_ids: np.ndarray,
    probability: float,
    uniforms: np.ndarray,
    confusion: np.ndarray | None = None,
) -> np.ndarray:
    """With ``probability``, replace each box's class by another one.

    Args:
        category: ``(N,)`` class ids.
        class_ids: ``(K,)`` the dataset's class ids, K ≥ 2.
        probability: chance that a box's class is flipped.
        uniforms: ``(N, 2)`` in [0, 1): whether to flip, and to what.
        confusion: ``(K, K)`` non-negative weights, row = true class in ``class_ids`` order,
            column = the class it is mistaken for (the diagonal is ignored). A row of zeros,
            or no matrix, means any other class equally likely.

    Returns:
        ``(N,)`` new class ids; the flipped boxes are those that differ from ``category``.
    """
    k = len(class_ids)
    if k < 2:
        return category.copy()
    index = np.searchsorted(class_ids, category)
    weights = np.ones((k, k)) if confusion is None else np.asarray(confusion, float).copy()
    weights[np.arange(k), np.arange(k)] = 0.0
    empty = weights.sum(axis=1) == 0
    weights[empty] = 1.0
    weights[np.arange(k), np.arange(k)] = 0.0
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    rows = cumulative[index]
    target = np.minimum((rows <= uniforms[:, 1:2]).sum(axis=1), k - 1)
    flip = uniforms[:, 0] < probability
    return np.where(flip, class_ids[target], category)


def drop_boxes(probability: float, uniforms: np.ndarray) -> np.ndarray:
    """``(N,)`` bool, True for boxes kept: each is dropped with ``probability``."""
    return uniforms[:, 0] >= probability


def spurious_boxes(
    boxes: np.ndarray, class_ids: np.ndarray, probability: float, uniforms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spurious annotations: each box spawns, with ``probability``, a box of similar size at
    a random place in the same image, with a random class.

    Args:
        boxes: ``(N, 4)`` normalized ``(cx, cy, w, h)`` of the parent boxes.
        class_ids: ``(K,)`` classes to draw from.
        uniforms: ``(N, 6)`` in [0, 1): whether, width and height factors in [0.5, 1.5],
            position, class.

    Returns:
        ``(parents, boxes, classes)``: the parent rows ``(M,)``, the new boxes ``(M, 4)`` as
        normalized ``(cx, cy, w, h)`` inside the image, and their classes ``(M,)``.
    """
    parents = np.flatnonzero(uniforms[:, 0] < probability)
    u = uniforms[parents]
    w = np.clip(boxes[parents, 2] * (0.5 + u[:, 1]), 1e-6, 1.0)
    h = np.clip(boxes[parents, 3] * (0.5 + u[:, 2]), 1e-6, 1.0)
    cx = w / 2 + u[:, 3] * (1 - w)
    cy = h / 2 + u[:, 4] * (1 - h)
    classes = class_ids[np.minimum((u[:, 5] * len(class_ids)).astype(np.int64), len(class_ids) - 1)]
    return parents, np.stack([cx, cy, w, h], axis=1), classes
