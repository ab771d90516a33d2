"""How noisy are these labels? Compare two annotation sets of the same images (a clean or
reference set and a noisy, relabelled or doubly annotated one) and find the noise level of
each protocol that would give the same disagreement.

Boxes are matched per image, one to one, greedily by IoU (highest first), in three passes
over the boxes still unmatched: the same class at IoU >= 0.5, any class at IoU >= 0.5 (a
class change when they differ), then the same class at any overlap (a box moved far). A
clean box left unmatched is *missing*, a noisy one *extra*. The **equivalent η** of a protocol is
the η at which that protocol's noise, simulated on the clean set itself with the same
matching, gives the same mean IoU of matched boxes (interpolated on a grid of η). Boxes are
compared in the annotations' units (pixels; YOLO normalized); images by name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .annotations import Annotations
from .boxes import pairwise_iou
from .errors import NoisyboxError
from .noise import NoiseConfig, corrupt
from .noise.protocols import PROTOCOLS

#: the η grid on which each protocol's mean IoU is simulated
ETA_GRID = tuple(round(0.025 * i, 3) for i in range(25))  # 0 ... 0.6
#: IoU at or above which boxes of different classes count as one box relabelled
CLASS_CHANGE_IOU = 0.5


@dataclass
class Matching:
    """Matched pairs (row indices into each set and their IoU) and what is left."""

    clean_rows: np.ndarray
    noisy_rows: np.ndarray
    iou: np.ndarray
    class_changed: np.ndarray
    missing: int
    extra: int


@dataclass
class Comparison:
    """What :func:`compare_annotations` found (shares are of the clean boxes, extra of the
    noisy ones; IoU quantiles over the matched pairs)."""

    clean_boxes: int
    noisy_boxes: int
    images: int
    matched: int
    mean_iou: float | None
    iou_quantiles: dict[str, float]
    missing_share: float
    extra_share: float
    class_changed_share: float
    equivalent_eta: dict[str, float | None] = field(default_factory=dict)
    matched_ious: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "matched_ious"}


def _greedy(ious: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs by descending IoU (above ``threshold``, exclusive for 0)."""
    pairs: list[tuple[int, int]] = []
    if ious.size == 0:
        return pairs
    order = np.argsort(-ious, axis=None, kind="stable")
    used_rows, used_cols = set(), set()
    for flat in order.tolist():
        row, col = divmod(flat, ious.shape[1])
        value = ious[row, col]
        if value < threshold or (threshold == 0 and value <= 0):
            break
        if row in used_rows or col in used_cols:
            continue
        used_rows.add(row)
        used_cols.add(col)
        pairs.append((row, col))
    return pairs


def _usable(annotations: Annotations) -> np.ndarray:
    return annotations.valid & ~annotations.crowd & np.isfinite(annotations.boxes).all(axis=1)


def match_boxes(clean: Annotations, noisy: Annotations, keep: np.ndarray | None = None) -> Matching:
    """Match the boxes of ``noisy`` to those of ``clean``, image by image (by name).

    ``keep``: for simulated noise, which rows of ``noisy`` exist (dropped ones do not).
    """
    noisy_usable = _usable(noisy) if keep is None else (_usable(noisy) & keep)
    clean_rows_by_image = _rows_by_image(clean, _usable(clean))
    noisy_rows_by_image = _rows_by_image(noisy, noisy_usable)
    pairs_clean, pairs_noisy, pair_iou, changed = [], [], [], []
    missing = extra = 0
    for name, c_rows in clean_rows_by_image.items():
        n_rows = noisy_rows_by_image.get(name, np.zeros(0, np.int64))
        ious = pairwise_iou(clean.boxes[c_rows], noisy.boxes[n_rows])
        c_class, n_class = clean.category[c_rows], noisy.category[n_rows]
        same = c_class[:, None] == n_class[None, :]
        found: list[tuple[int, int]] = []
        for pass_ious, threshold in (
            (np.where(same, ious, 0.0), CLASS_CHANGE_IOU),  # the same box, kept class
            (ious, CLASS_CHANGE_IOU),  # the same box, relabelled
            (np.where(same, ious, 0.0), 0.0),  # a box moved far, kept class
        ):
            left_c = np.setdiff1d(np.arange(len(c_rows)), [p[0] for p in found])
            left_n = np.setdiff1d(np.arange(len(n_rows)), [p[1] for p in found])
            found += [
                (left_c[i], left_n[j])
                for i, j in _greedy(pass_ious[np.ix_(left_c, left_n)], threshold)
            ]
        for i, j in found:
            pairs_clean.append(c_rows[i])
            pairs_noisy.append(n_rows[j])
            pair_iou.append(ious[i, j])
            changed.append(c_class[i] != n_class[j])
        missing += len(c_rows) - len(found)
        extra += len(n_rows) - len(found)
    for name, n_rows in noisy_rows_by_image.items():
        if name not in clean_rows_by_image:
            extra += len(n_rows)
    return Matching(
        np.asarray(pairs_clean, np.int64),
        np.asarray(pairs_noisy, np.int64),
        np.asarray(pair_iou, np.float64),
        np.asarray(changed, bool),
        missing,
        extra,
    )


def _rows_by_image(annotations: Annotations, usable: np.ndarray) -> dict[str, np.ndarray]:
    rows = np.flatnonzero(usable)
    names = annotations.image_name
    grouped: dict[str, list[int]] = {}
    for row, image in zip(rows.tolist(), annotations.image[rows].tolist(), strict=True):
        grouped.setdefault(names[image], []).append(row)
    return {name: np.asarray(found, np.int64) for name, found in grouped.items()}


def simulated_mean_iou(clean: Annotations, protocol: str, eta: float, seed: int = 0) -> float:
    """The mean IoU of matched boxes when ``protocol``'s noise at ``eta`` is applied to
    ``clean`` and matched back by :func:`match_boxes`."""
    if eta == 0:
        return 1.0
    changes, _ = corrupt(clean, NoiseConfig(eta=eta, protocol=protocol), seed)
    noisy, keep = _with_changes(clean, changes)
    matching = match_boxes(clean, noisy, keep=keep)
    return float(matching.iou.mean()) if len(matching.iou) else 0.0


def _with_changes(annotations: Annotations, changes) -> tuple[Annotations, np.ndarray]:
    """``annotations`` with the changed boxes and classes and the added boxes appended, and
    which of its rows exist (dropped ones do not)."""
    from dataclasses import replace

    added = len(changes.added_boxes)
    return replace(
        annotations,
        boxes=np.concatenate([changes.boxes, changes.added_boxes.reshape(-1, 4)]),
        category=np.concatenate([changes.category, changes.added_category]),
        image=np.concatenate([annotations.image, changes.added_image]),
        crowd=np.concatenate([annotations.crowd, np.zeros(added, bool)]),
        valid=np.concatenate([annotations.valid, np.ones(added, bool)]),
        key=np.concatenate([annotations.key, np.zeros(added, np.uint64)]),
        record=np.concatenate([annotations.record, -np.ones(added, np.int64)]),
    ), np.concatenate([changes.keep, np.ones(added, bool)])


def eta_curve(clean: Annotations, protocol: str, seed: int = 0) -> np.ndarray:
    """The simulated mean IoU of ``protocol`` on ``clean`` at each η of :data:`ETA_GRID`."""
    return np.asarray([simulated_mean_iou(clean, protocol, eta, seed) for eta in ETA_GRID])


def invert_curve(curve: np.ndarray, mean_iou: float) -> float | None:
    """The η at which ``curve`` (from :func:`eta_curve`) reaches ``mean_iou``, by linear
    interpolation; 0 at or above the clean value, ``None`` beyond the grid."""
    if mean_iou >= curve[0]:
        return 0.0
    for index in range(1, len(curve)):
        high, low = curve[index - 1], curve[index]
        if low <= mean_iou <= high:
            step = ETA_GRID[index] - ETA_GRID[index - 1]
            return ETA_GRID[index - 1] + step * (high - mean_iou) / max(high - low, 1e-12)
    return None


def compare_annotations(
    clean: Annotations, noisy: Annotations, protocols: tuple[str, ...] = tuple(PROTOCOLS)
) -> Comparison:
    """Match ``noisy`` to ``clean`` and measure their disagreement (:class:`Comparison`)."""
    shared = set(clean.image_name) & set(noisy.image_name)
    if not shared:
        raise NoisyboxError(
            f"{clean.path} and {noisy.path} share no image name: nothing to compare"
        )
    matching = match_boxes(clean, noisy)
    clean_count, noisy_count = int(_usable(clean).sum()), int(_usable(noisy).sum())
    ious = matching.iou
    mean = float(ious.mean()) if len(ious) else None
    quantiles = (
        {f"p{q}": float(np.quantile(ious, q / 100)) for q in (10, 25, 50, 75, 90)}
        if len(ious)
        else {}
    )
    result = Comparison(
        clean_boxes=clean_count,
        noisy_boxes=noisy_count,
        images=len(shared),
        matched=len(ious),
        mean_iou=mean,
        iou_quantiles=quantiles,
        missing_share=matching.missing / max(1, clean_count),
        extra_share=matching.extra / max(1, noisy_count),
        class_changed_share=float(matching.class_changed.sum()) / max(1, clean_count),
        matched_ious=ious,
    )
    if mean is not None:
        result.equivalent_eta = {p: invert_curve(eta_curve(clean, p), mean) for p in protocols}
    return result


def plot_iou_distribution(result: Comparison, path) -> None:
    """A histogram of the matched boxes' IoUs, written atomically to ``path``."""
    import io
    from pathlib import Path

    from matplotlib.figure import Figure

    from .atomic import atomic_write

    figure = Figure(figsize=(6, 3.6), layout="constrained")
    axis = figure.subplots()
    axis.hist(result.matched_ious, bins=np.linspace(0, 1, 41), color="tab:blue")
    axis.set_xlabel("IoU of matched boxes (measured vs reference)")
    axis.set_ylabel("boxes")
    found = ", ".join(
        f"{name} η≈{eta:.2f}" for name, eta in result.equivalent_eta.items() if eta is not None
    )
    axis.set_title(f"mean IoU {result.mean_iou or 0:.3f}; {found}", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=Path(path).suffix.lstrip(".") or "png", dpi=110)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())
