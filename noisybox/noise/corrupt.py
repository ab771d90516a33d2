"""Apply a combination of noise models to a dataset: the engine behind ``noisybox corrupt``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..annotations import Annotations, Changes
from ..boxes import cxcywh_to_xyxy, elementwise_iou, xyxy_to_cxcywh
from ..errors import NoisyboxError
from ..formats import quantize
from ..keys import keyed_uniform
from .boxes import (
    gaussian_box_noise,
    scale_box_noise,
    shift_box_noise,
    uniform_box_noise,
)
from .labels import drop_boxes, flip_classes, spurious_boxes
from .protocols import PROTOCOLS
from .una import una_noise

#: Smallest box width/height after noise, for normalized (YOLO) data; one pixel otherwise.
MIN_NORMALIZED_SIZE = 1e-6

BOX_MODELS = {  # name -> (function, number of uniforms per box), applied in this order
    "uniform": (uniform_box_noise, 4),
    "gaussian": (gaussian_box_noise, 4),
    "shift": (shift_box_noise, 2),
    "scale": (scale_box_noise, 1),
}


@dataclass(frozen=True)
class NoiseConfig:
    """Which noise models to apply, each with its own rate; 0 switches a model off.

    Attributes:
        eta: the paper's uniform box noise rate η (``uniform`` model).
        gaussian: σ of normal box noise, relative to the box size.
        shift: pure translation, up to ``±shift`` times the box size.
        scale: pure scaling, by a factor in ``[1 - scale, 1 + scale]``.
        flip: probability that a box's class is replaced by another.
        confusion: ``{true class name: {mistaken-for name: weight}}`` for flips; classes
            left out flip uniformly.
        drop: probability that a box is removed (a missing annotation).
        spurious: probability that a box spawns a spurious box in its image.
        include_crowd: also perturb COCO crowd annotations (left untouched by default).
        box_fraction: the share of boxes that receive box noise (the "p% of the boxes are
            noisy" reading of a noise level), chosen per box from the seed; 1 = every box.
        protocol: how a perturbed box is fitted into its image, a key of
            :data:`~noisybox.noise.protocols.PROTOCOLS`: ``alpha-iou`` (equation (5), boxes
            moved inward) or ``oa-mil`` (clipped; an emptied box keeps its original).
    """

    eta: float = 0.0
    gaussian: float = 0.0
    shift: float = 0.0
    scale: float = 0.0
    flip: float = 0.0
    confusion: dict[str, dict[str, float]] | None = None
    drop: float = 0.0
    spurious: float = 0.0
    include_crowd: bool = False
    box_fraction: float = 1.0
    protocol: str = "alpha-iou"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise NoisyboxError(
                f"protocol must be one of {', '.join(PROTOCOLS)}; got {self.protocol!r}",
                "protocol",
            )
        if not 0 <= self.box_fraction <= 1:
            raise NoisyboxError(
                f"box_fraction must be in [0, 1]; got {self.box_fraction}", "box_fraction"
            )
        for name in ("eta", "gaussian", "shift", "scale", "flip", "drop", "spurious"):
            value = getattr(self, name)
            if not (0 <= value < float("inf")):
                raise NoisyboxError(f"{name} must be a number >= 0; got {value}", name)
        for name in ("flip", "drop", "spurious"):
            if getattr(self, name) > 1:
                raise NoisyboxError(
                    f"{name} is a probability, at most 1; got {getattr(self, name)}", name
                )
        if self.scale >= 1:
            raise NoisyboxError(
                f"scale must be below 1 (a factor of 1 - scale > 0); got {self.scale}", "scale"
            )

    def rates(self) -> dict[str, float]:
        """The models switched on and their rates, in the order they are applied."""
        names = ("eta", "gaussian", "shift", "scale", "flip", "drop", "spurious")
        return {name: getattr(self, name) for name in names if getattr(self, name) > 0}

    def describe(self) -> dict:
        """The rates switched on, the confusion weights and ``include_crowd``: what a
        manifest records of the noise."""
        described = {
            **self.rates(),
            "confusion": self.confusion,
            "include_crowd": self.include_crowd,
        }
        if self.box_fraction < 1:
            described["box_fraction"] = self.box_fraction
        if self.protocol != "alpha-iou":
            described["protocol"] = self.protocol
        return described


@dataclass
class CorruptionReport:
    """What a corruption did, for the summary table and the provenance manifest."""

    boxes: int
    images: int
    perturbed: int  # eligible for noise (valid, not crowd unless asked)
    untouched_crowd: int
    untouched_invalid: int
    clamped: dict[str, int] = field(default_factory=dict)
    clamped_boxes: int = 0
    moved: int = 0  # boxes that received box noise (all eligible ones unless box_fraction)
    mean_iou: float | None = None  # noisy vs clean over every eligible box
    flipped: int = 0
    dropped: int = 0
    spurious: int = 0
    #: ``(N,)`` bool per annotation row: its box was fitted into the image by the protocol
    #: (clamped, moved or clipped); not part of :meth:`to_dict`
    fitted: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: ``(M,)`` the annotation row each spurious box was spawned from
    spurious_parents: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {
            item.name: dict(value) if isinstance(value := getattr(self, item.name), dict) else value
            for item in fields(self)
            if item.name not in ("fitted", "spurious_parents")
        }


def _confusion_matrix(
    annotations: Annotations, class_ids: np.ndarray, confusion: dict
) -> np.ndarray:
    position = {annotations.categories[int(c)]: i for i, c in enumerate(class_ids)}
    matrix = np.zeros((len(class_ids), len(class_ids)))
    for true_name, row in confusion.items():
        for name in (true_name, *row):
            if name not in position:
                raise NoisyboxError(
                    f"confusion: unknown class {name!r}; the dataset has {', '.join(position)}"
                )
        for name, weight in row.items():
            number = isinstance(weight, (int, float)) and not isinstance(weight, bool)
            if not (number and 0 <= weight < 1e300):  # also no integer beyond a float
                raise NoisyboxError(
                    f"confusion: weight {true_name!r} -> {name!r} must be a finite number >= 0; "
                    f"got {weight!r}"
                )
            matrix[position[true_name], position[name]] = weight
    return matrix


#: boxes moved by the box models at a time: their temporaries (a few hundred bytes a box)
#: stay bounded however large the dataset
NOISE_BLOCK = 1 << 17


def _scale(annotations: Annotations, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the boxes ``rows``: ``(N, 4)`` image sizes ``(W, H, W, H)`` that divide xyxy
    boxes into normalized ones, and ``(N, 2)`` the smallest normalized width and height a
    box keeps (one pixel, or :data:`MIN_NORMALIZED_SIZE` for normalized annotations)."""
    size = annotations.image_size[annotations.image[rows]]
    if annotations.units == "normalized":
        min_size = np.full((len(rows), 2), MIN_NORMALIZED_SIZE)
    else:
        min_size = 1.0 / size
    return np.concatenate([size, size], axis=1), min_size


def _blocks(count: int) -> list[slice]:
    """``range(count)`` in slices of :data:`NOISE_BLOCK` (one empty slice when ``count`` is
    0)."""
    return [slice(start, start + NOISE_BLOCK) for start in range(0, max(count, 1), NOISE_BLOCK)]


def corrupt(
    annotations: Annotations, config: NoiseConfig, seed: int
) -> tuple[Changes, CorruptionReport]:
    """Apply ``config`` to ``annotations``; return the changes to write and a report.

    Every random draw for a box is a pure function of ``(seed, model, box key)``, so a box
    gets the same noise in a subset as in the full dataset and re-runs are identical. Box
    models run in the normalized centre-size space of the paper, all of them before the
    image constraints of equation (5) are enforced once; the results are then rounded as the
    output format will store them, and the report's mean IoU is measured on those values.
    Invalid records kept by ``on_invalid="keep"`` and (unless ``include_crowd``) crowd
    annotations are never changed.
    """
    changes = Changes.none(annotations)
    eligible = annotations.valid & (config.include_crowd | ~annotations.crowd)
    rows = np.flatnonzero(eligible)
    keys = annotations.key[rows]
    report = CorruptionReport(
        boxes=len(annotations),
        images=annotations.num_images,
        perturbed=len(rows),
        untouched_crowd=int((annotations.valid & annotations.crowd & ~eligible).sum()),
        untouched_invalid=int((~annotations.valid).sum()),
    )
    clean = annotations.boxes[rows]
    class_ids = np.asarray(sorted(annotations.categories), dtype=np.int64)
    start, start_class = clean, annotations.category[rows]
    una = None
    if config.protocol == "una" and config.eta > 0:  # --eta is UNA's ratio r
        scale, min_size = _scale(annotations, rows)
        una = una_noise(
            clean,
            start_class,
            keys,
            annotations.image[rows],
            annotations.image_size,
            class_ids,
            config.eta,
            seed,
            min_size * scale[:, :2],
        )
        start, start_class = quantize(annotations, una.boxes), una.classes
        changes.boxes[rows] = start
        changes.keep[rows[una.dropped]] = False
        changes.category[rows] = start_class
        report.moved = int(una.relocated.sum())

    box_rates = {
        "uniform": 0.0 if config.protocol == "una" else config.eta,
        "gaussian": config.gaussian,
        "shift": config.shift,
        "scale": config.scale,
    }
    if any(box_rates.values()):
        # which boxes move: a pure function of (seed, box key), so a box's fate does not
        # depend on the others; every draw below is made for every box alike
        moved = keyed_uniform(seed, "box-fraction", keys, 1)[:, 0] < config.box_fraction
        clamped: dict[str, np.ndarray] = {}
        for block in _blocks(len(rows)):  # elementwise: blocks bound the temporaries
            block_start = start[block]
            scale, min_size = _scale(annotations, rows[block])
            normalized = xyxy_to_cxcywh(block_start / scale)
            for name, (model, columns) in BOX_MODELS.items():
                if box_rates[name] > 0:
                    uniforms = keyed_uniform(seed, name, keys[block], columns)
                    normalized = model(normalized, box_rates[name], uniforms)
            fitted, block_clamped = PROTOCOLS[config.protocol](
                normalized, block_start, scale, min_size, annotations.units
            )
            noisy = quantize(annotations, fitted)
            still = ~moved[block]
            noisy[still] = block_start[still]
            changes.boxes[rows[block]] = noisy
            for name, mask in block_clamped.items():
                clamped.setdefault(name, np.zeros(len(rows), bool))[block] = mask
        report.moved = int((moved | (una.relocated if una is not None else False)).sum())
        report.fitted = np.zeros(len(annotations), bool)
        report.fitted[rows] = np.any(list(clamped.values()), axis=0) & moved if len(rows) else []
        report.clamped = {name: int((mask & moved).sum()) for name, mask in clamped.items()}
        report.clamped_boxes = (
            int((np.any(list(clamped.values()), axis=0) & moved).sum()) if len(rows) else 0
        )
    if una is not None or any(box_rates.values()):
        kept_rows = np.flatnonzero(changes.keep[rows])
        ious = np.empty(len(kept_rows))
        for block in _blocks(len(kept_rows)):
            chosen = kept_rows[block]
            ious[block] = elementwise_iou(changes.boxes[rows[chosen]], clean[chosen])
        report.mean_iou = float(ious.mean()) if len(kept_rows) else None

    if config.flip > 0:
        matrix = (
            None
            if config.confusion is None
            else _confusion_matrix(annotations, class_ids, config.confusion)
        )
        changes.category[rows] = flip_classes(
            start_class,
            class_ids,
            config.flip,
            keyed_uniform(seed, "flip", keys, 2),
            matrix,
        )
    report.flipped = int((changes.category[rows] != annotations.category[rows]).sum())
    if config.drop > 0:
        changes.keep[rows] &= drop_boxes(config.drop, keyed_uniform(seed, "drop", keys, 1))
    report.dropped = int((~changes.keep[rows]).sum())
    added = (
        []
        if una is None
        else [(una.added_image, una.added_category, quantize(annotations, una.added_boxes), None)]
    )
    if config.spurious > 0:
        scale, _ = _scale(annotations, rows)
        parents, new_boxes, classes = spurious_boxes(
            xyxy_to_cxcywh(start / scale),
            class_ids,
            config.spurious,
            keyed_uniform(seed, "spurious", keys, 6),
        )
        new = quantize(annotations, cxcywh_to_xyxy(new_boxes) * scale[parents])
        added.append((annotations.image[rows[parents]], classes, new, rows[parents]))
        report.spurious_parents = rows[parents]
    if added:
        changes.added_image = np.concatenate([a[0] for a in added]).astype(np.int64)
        changes.added_category = np.concatenate([a[1] for a in added]).astype(np.int64)
        changes.added_boxes = np.concatenate([a[2] for a in added]).reshape(-1, 4)
        report.spurious = len(changes.added_boxes)
    return changes, report
