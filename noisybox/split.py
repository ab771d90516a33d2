"""A seeded train/validation split of one annotated dataset, every class on both sides where
it can be: ``noisybox split``. A VOC folder is split by lists ``splits/{train,val}.txt``
(what ``--data`` reads beside ``images/`` and ``annotations/``); a COCO file or a YOLO
labels folder by two copies of it, each with its side's images (``train.json`` and
``val.json``, or folders ``train/`` and ``val/``), written losslessly by the format's own
writer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .annotations import Annotations
from .atomic import Rendered
from .errors import NoisyboxError
from .keys import keyed_uniform


def split_images(annotations: Annotations, val: float, seed: int) -> np.ndarray:
    """``(I,)`` bool: the validation images, ``round(val · I)`` of them (at least one on each
    side).

    Images are ranked by :func:`~noisybox.keys.keyed_uniform` on their keys; validation takes,
    first, the best-ranked image of each class that has two images or more (rarest classes
    first), then the next images of the ranking. Then images are swapped between the sides
    while a swap leaves fewer classes missing from a side (:func:`_cover_both_sides`).
    Classes of a single image stay on one side.
    """
    if not 0 < val < 1:
        raise NoisyboxError(f"val must be in (0, 1); got {val}", "val")
    count = annotations.num_images
    if count < 2:
        raise NoisyboxError(f"{annotations.path}: {count} image; a split needs two", "val")
    size = min(max(1, round(val * count)), count - 1)
    priority = keyed_uniform(seed, "split", annotations.image_key, 1)[:, 0]
    order = np.argsort(priority, kind="stable")
    rank = np.empty(count, np.int64)
    rank[order] = np.arange(count)
    valid = annotations.valid
    images_of: dict[int, set[int]] = {}
    for category, image in zip(
        annotations.category[valid].tolist(), annotations.image[valid].tolist(), strict=True
    ):
        images_of.setdefault(category, set()).add(image)
    shared = {c: sorted(i, key=rank.__getitem__) for c, i in images_of.items() if len(i) > 1}
    covering = dict.fromkeys(
        images[0] for _, images in sorted(shared.items(), key=lambda item: len(item[1]))
    )
    ranking = [*covering, *(i for i in order.tolist() if i not in covering)]
    chosen = np.zeros(count, bool)
    chosen[ranking[:size]] = True
    _cover_both_sides(chosen, shared, order.tolist())
    return chosen


#: images of a side a swap may take, in rank order (bounds the search on large datasets)
_SWAP_CANDIDATES = 500


def _cover_both_sides(chosen: np.ndarray, shared: dict[int, list[int]], order: list[int]) -> None:
    """Swap images between the sides while a swap lowers the number of (class, side) pairs
    without an image: for a class missing from a side, one of its images (worst-ranked
    first) against one of that side's (best-ranked first), the first swap that helps."""
    classes_of: dict[int, list[int]] = {}
    for category, images in shared.items():
        for image in images:
            classes_of.setdefault(image, []).append(category)
    counts = {
        c: [sum(not chosen[i] for i in imgs), sum(bool(chosen[i]) for i in imgs)]
        for c, imgs in shared.items()
    }

    def gain(a: int, b: int) -> int:
        """Pairs filled minus pairs emptied when ``a`` and ``b`` change sides."""
        change: dict[tuple[int, int], int] = {}
        for image in (a, b):
            side = int(chosen[image])
            for category in classes_of.get(image, []):
                change[category, side] = change.get((category, side), 0) - 1
                change[category, 1 - side] = change.get((category, 1 - side), 0) + 1
        before = sum(counts[c][s] == 0 for c, s in change)
        after = sum(counts[c][s] + d == 0 for (c, s), d in change.items())
        return before - after

    improved = True
    while improved:
        improved = False
        for category, images in shared.items():
            for side in (0, 1):
                if counts[category][side]:
                    continue
                others = [i for i in order if int(chosen[i]) == side][:_SWAP_CANDIDATES]
                swap = next(
                    ((a, b) for a in reversed(images) for b in others if gain(a, b) > 0), None
                )
                if swap is None:
                    continue
                for image in swap:
                    side_of = int(chosen[image])
                    for c in classes_of.get(image, []):
                        counts[c][side_of] -= 1
                        counts[c][1 - side_of] += 1
                    chosen[image] = not chosen[image]
                improved = True


def split_outputs(annotations: Annotations, val_images: np.ndarray) -> dict[str, Rendered]:
    """What a split writes, by name: for a VOC folder ``{"train.txt": …, "val.txt": …}``, the
    ids ``--data`` reads (annotation file names without ``.xml``, one a line, sorted); for COCO
    ``{"train.json": …, "val.json": …}`` and for YOLO ``{"train": {…}, "val": {…}}``, the
    dataset with only that side's images, everything else as it was."""
    from .annotations import Changes
    from .formats import render_stream

    sides = {"train": ~val_images, "val": val_images}
    if annotations.format == "voc":
        if annotations.source.single_file:
            raise NoisyboxError(f"{annotations.path}: one VOC file is one image; split a folder")
        names = np.asarray([Path(file.relative).stem for file in annotations.source.files])
        return {
            f"{side}.txt": "".join(f"{n}\n" for n in sorted(names[mask].tolist())).encode()
            for side, mask in sides.items()
        }
    suffix = ".json" if annotations.format == "coco" else ""
    outputs = {}
    for side, mask in sides.items():
        changes = replace(Changes.none(annotations), keep_image=mask.copy())
        outputs[side + suffix] = render_stream(annotations, changes)
    return outputs
