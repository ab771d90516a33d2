"""A seeded train/validation split of one annotated dataset, every class on both sides where
it can be: ``noisybox split``, whose lists ``splits/{train,val}.txt`` are what ``--data``
reads beside ``images/`` and ``annotations/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .annotations import Annotations
from .errors import NoisyboxError
from .keys import keyed_uniform


def split_images(annotations: Annotations, val: float, seed: int) -> np.ndarray:
    """``(I,)`` bool: the validation images, ``round(val · I)`` of them (at least one on each
    side).

    Images are ranked by :func:`~noisybox.keys.keyed_uniform` on their keys; validation takes,
    first, the best-ranked image of each class that has two images or more (rarest classes
    first), then the next images of the ranking. A class left with no training image gets it
    back: its worst-ranked validation image swaps with the best-ranked training image whose
    classes all keep another training image. Classes of a single image stay on one side.
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
    for images in shared.values():
        if all(chosen[i] for i in images):
            _give_back(chosen, images[-1], shared, rank)
    return chosen


def _give_back(chosen: np.ndarray, image: int, shared: dict, rank: np.ndarray) -> None:
    """Move ``image`` to training, and the best-ranked training image that no class needs
    there to validation (none: the split keeps one image less in validation)."""
    chosen[image] = False
    needed = {images[0] for images in (
        [i for i in images if not chosen[i]] for images in shared.values()
    ) if len(images) == 1}  # fmt: skip
    spare = [i for i in np.argsort(rank).tolist() if not chosen[i] and i != image]
    for candidate in spare:
        if candidate not in needed:
            chosen[candidate] = True
            return


def split_lists(annotations: Annotations, val_images: np.ndarray) -> dict[str, bytes]:
    """``{"train.txt": …, "val.txt": …}``: image names without suffix, one a line, sorted."""
    names = [Path(name).stem for name in annotations.image_name]
    sides = {"train.txt": ~val_images, "val.txt": val_images}
    return {
        file: "".join(f"{n}\n" for n in sorted(np.asarray(names)[mask].tolist())).encode()
        for file, mask in sides.items()
    }
