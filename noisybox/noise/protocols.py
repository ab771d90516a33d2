"""Noise protocols of the literature: how a perturbed box is fitted back into its image.

The α-IoU paper (He et al. 2021, section 4.3) and OA-MIL (Liu et al., ECCV 2022, the
benchmark of SSD-Det and DISCO) perturb a box alike: its centre moves by ``U(-r, r)·w`` and
``U(-r, r)·h`` and its width and height are multiplied by ``1 + U(-r, r)``, every box, ``r``
being ``--eta``. They differ in what happens at the image border:

- ``alpha-iou``: equation (5) of the paper, :func:`~noisybox.noise.boxes.enforce_image_constraints`:
  a size is kept within one pixel and the image, and a box over an edge is *moved* inward;
- ``oa-mil``: the box is *clipped* to the image as in the authors' generator
  (``utils/gen_noisy_voc.py`` of github.com/cxliu0/OA-MIL: ``x1, y1 >= 0``,
  ``x2 <= W - 1``, ``y2 <= H - 1`` in pixels; for YOLO's normalized boxes ``<= 1``), and a
  box that clipping leaves empty keeps its original.

So a border box shrinks under OA-MIL where the α-IoU protocol keeps its noisy size. The
authors' script draws from one ``numpy.random.seed(45)`` stream in file order; noisybox
draws each box's numbers from (seed, box key), so the distribution is theirs and a box gets
the same noise in any subset, but not their exact files.

Each protocol is a function ``(noisy cxcywh normalized, clean xyxy, scale, min_size, units)
-> (noisy xyxy in the boxes' units, {what acted: (N,) bool})``, in :data:`PROTOCOLS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..boxes import cxcywh_to_xyxy
from .boxes import enforce_image_constraints


def equation_5(
    noisy: np.ndarray, clean: np.ndarray, scale: np.ndarray, min_size: np.ndarray, units: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The α-IoU paper's constraints (equation (5)), then back to the boxes' units."""
    constrained, clamped = enforce_image_constraints(noisy, min_size)
    return cxcywh_to_xyxy(constrained) * scale, clamped


def clip_keep_empty(
    noisy: np.ndarray, clean: np.ndarray, scale: np.ndarray, min_size: np.ndarray, units: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """OA-MIL's handling: clip to ``[0, W - 1] × [0, H - 1]`` pixels (``[0, 1]`` for
    normalized boxes); a box left empty keeps its clean original."""
    boxes = cxcywh_to_xyxy(noisy) * scale
    last = scale[:, 2:] - (1.0 if units == "pixels" else 0.0)
    clipped = np.concatenate(
        [np.maximum(boxes[:, :2], 0.0), np.minimum(boxes[:, 2:], last)], axis=1
    )
    empty = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])
    clipped[empty] = clean[empty]
    changed = (clipped != boxes).any(axis=1) & ~empty
    return clipped, {"clipped": changed, "kept_original": empty}


Protocol = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, str],
    tuple[np.ndarray, dict[str, np.ndarray]],
]

#: protocol name -> how it fits a perturbed box into its image. ``una`` is UNA's four kinds of
#: noise driven by one ratio (:mod:`noisybox.noise.una`); noisybox's own box models added
#: on top of it are fitted by equation (5)
PROTOCOLS: dict[str, Protocol] = {
    "alpha-iou": equation_5,
    "oa-mil": clip_keep_empty,
    "una": equation_5,
}
