"""Image-level training subsets (the α-IoU paper's appendix B.2.2), nested across fractions."""

from __future__ import annotations

import numpy as np

from .annotations import Annotations
from .errors import NoisyboxError
from .keys import keyed_uniform


def subsample_images(annotations: Annotations, fraction: float, seed: int) -> np.ndarray:
    """``(I,)`` bool: the images of a ``fraction`` subset.

    Images are ranked once per seed: first, for each class, the best-ranked image that holds
    it (so every class stays present whenever the subset has room for them), then all other
    images; ranks come from :func:`~noisybox.keys.keyed_uniform` on the image keys. A subset
    takes the first ``round(fraction · I)`` images (at least one) of that ranking, so for one
    seed the 25% subset lies inside the 50% one.
    """
    if not 0 < fraction <= 1:
        raise NoisyboxError(f"fraction must be in (0, 1]; got {fraction}", "fraction")
    count = annotations.num_images
    priority = keyed_uniform(seed, "subsample", annotations.image_key, 1)[:, 0]
    order = np.argsort(priority, kind="stable")
    rank = np.empty(count, np.int64)
    rank[order] = np.arange(count)
    valid = annotations.valid
    first_for_class = {}
    for category, image in zip(
        annotations.category[valid].tolist(), annotations.image[valid].tolist(), strict=True
    ):
        if category not in first_for_class or rank[image] < rank[first_for_class[category]]:
            first_for_class[category] = image
    covering = sorted(set(first_for_class.values()), key=rank.__getitem__)
    covered = np.zeros(count, bool)
    covered[covering] = True
    ranking = np.concatenate([np.asarray(covering, np.int64), order[~covered[order]]])
    chosen = np.zeros(count, bool)
    chosen[ranking[: max(1, round(fraction * count))]] = True
    return chosen
