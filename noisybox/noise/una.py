"""UNA, "universal noise annotation" (Ryoo et al. 2023, github.com/Ryoo72/UNA, ``una_inj.py``):
one ratio ``r`` drives four kinds of noise at once, in this order, over the ``N`` boxes:

1. missing: ``int(r·N)`` boxes are dropped;
2. location: ``int(r·N)`` of the remaining boxes get new corners, each x corner drawn from
   ``U(x1 − w/2, x2 + w/2)`` (two draws, sorted) and each y corner likewise, clamped to the
   image ``[0, W] × [0, H]``; a box left thinner than the minimum size becomes the central
   half of its original (the authors' fallback);
3. class: ``int(r·N)`` of the remaining boxes (drawn independently of step 2) get a class
   drawn uniformly from all classes, their own included, so the share that really changes
   class is ``r·(K − 1)/K``;
4. spurious: ``round(N·r/(1 − r))`` boxes are added, the i-th on image ``i mod M`` (images
   in file order), corners uniform over the image (two draws per axis, sorted), a uniform
   class.

The authors draw from Python's ``random`` re-seeded per stage; noisybox picks "the k boxes
with the smallest keyed uniforms" per stage, a pure function of (seed, stage, box key), so
the counts are UNA's exactly and a box's fate does not depend on the file's order. (The
authors' latest script draws the class from the letters of the string ``"coco"``, a bug;
noisybox follows their earlier, intended code.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..keys import keyed_uniform


@dataclass
class UnaNoise:
    """What UNA does to the eligible rows ``rows`` (indices into them), and what it adds.

    Attributes:
        dropped, relocated, reclassed: ``(n,)`` bool masks over the eligible rows.
        boxes: ``(n, 4)`` xyxy boxes after the location noise, in the boxes' units.
        classes: ``(n,)`` category ids after the class noise.
        added_image, added_boxes, added_category: the spurious boxes.
    """

    dropped: np.ndarray
    relocated: np.ndarray
    reclassed: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    added_image: np.ndarray
    added_boxes: np.ndarray
    added_category: np.ndarray


def _pick(count: int, scores: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Mask of the ``count`` entries of ``among`` with the smallest ``scores``."""
    chosen = np.zeros(len(scores), bool)
    candidates = np.flatnonzero(among)
    order = np.argsort(scores[candidates], kind="stable")[:count]
    chosen[candidates[order]] = True
    return chosen


def _sorted_pair(low: np.ndarray, high: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Two uniform draws in ``[low, high]`` per row (``u``: ``(n, 2)``), sorted."""
    values = low[:, None] + u * (high - low)[:, None]
    return np.sort(values, axis=1)


def una_noise(
    boxes: np.ndarray,
    categories: np.ndarray,
    keys: np.ndarray,
    image_of_box: np.ndarray,
    image_size: np.ndarray,
    class_ids: np.ndarray,
    ratio: float,
    seed: int,
    min_size: np.ndarray,
) -> UnaNoise:
    """UNA's four noises at ``ratio`` on ``boxes`` (``(n, 4)`` xyxy, the boxes' units;
    ``image_size`` ``(M, 2)`` in the same units; ``min_size`` ``(n, 2)``)."""
    n = len(boxes)
    k = int(ratio * n)
    dropped = _pick(k, keyed_uniform(seed, "una-missing", keys, 1)[:, 0], np.ones(n, bool))
    relocated = _pick(k, keyed_uniform(seed, "una-location", keys, 1)[:, 0], ~dropped)
    reclassed = _pick(k, keyed_uniform(seed, "una-class", keys, 1)[:, 0], ~dropped)

    new = boxes.astype(np.float64).copy()
    x1, y1, x2, y2 = boxes[relocated].T
    w, h = x2 - x1, y2 - y1
    u = keyed_uniform(seed, "una-corners", keys[relocated], 4)
    size = image_size[image_of_box[relocated]]
    xs = np.clip(_sorted_pair(x1 - w / 2, x2 + w / 2, u[:, :2]), 0, size[:, :1])
    ys = np.clip(_sorted_pair(y1 - h / 2, y2 + h / 2, u[:, 2:]), 0, size[:, 1:])
    moved = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)
    thin = (xs[:, 1] - xs[:, 0] < min_size[relocated, 0]) | (
        ys[:, 1] - ys[:, 0] < min_size[relocated, 1]
    )
    central = np.stack([x1 + w / 4, y1 + h / 4, x2 - w / 4, y2 - h / 4], axis=1)
    moved[thin] = central[thin]
    new[relocated] = moved

    classes = categories.copy()
    draw = keyed_uniform(seed, "una-class-choice", keys[reclassed], 1)[:, 0]
    classes[reclassed] = class_ids[
        np.minimum((draw * len(class_ids)).astype(np.int64), len(class_ids) - 1)
    ]

    added = round(n * ratio / (1 - ratio)) if ratio < 1 else 0
    images = len(image_size)
    added_image = np.arange(added) % max(1, images)
    counter = np.arange(added, dtype=np.uint64)
    u = keyed_uniform(seed, "una-spurious", counter, 5)
    size = image_size[added_image]
    xs = np.sort(u[:, :2] * size[:, :1], axis=1)
    ys = np.sort(u[:, 2:4] * size[:, 1:], axis=1)
    added_boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)
    added_category = class_ids[
        np.minimum((u[:, 4] * len(class_ids)).astype(np.int64), len(class_ids) - 1)
    ]
    return UnaNoise(
        dropped, relocated, reclassed, new, classes, added_image, added_boxes, added_category
    )
