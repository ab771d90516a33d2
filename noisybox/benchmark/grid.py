"""The runs of a robustness grid: every (data fraction, noise rate η, seed, loss), and shards.

No I/O and no torch here: a grid is a plain, ordered list of :class:`RunSpec`, so a dry run,
a shard and a report all agree on what the runs are and what they are called.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..config import LossSpec
from ..errors import NoisyboxError


def normalize_loss(spec: str) -> str:
    """``NAME`` or ``NAME:ALPHA`` in its one spelling (``alpha-diou:2.5``; ``alpha-iou:3``
    for the registry's own α is ``alpha-iou``), checked (:class:`~noisybox.config.LossSpec`)."""
    return LossSpec.parse(spec).text


def loss_alpha(spec: str) -> float | None:
    """The α a normalized loss spec trains with (``None`` for l1 and smooth-l1)."""
    return LossSpec.parse(spec).trains_with_alpha


@dataclass(frozen=True, order=True)
class RunSpec:
    """One training run of a grid.

    Attributes:
        fraction: share of the training images used, in (0, 1].
        eta: the paper's uniform box-noise rate η of the training annotations (0: clean).
        seed: seeds the subset, the noise and the training run alike.
        loss: a normalized loss spec (:func:`normalize_loss`).
    """

    fraction: float
    eta: float
    seed: int
    loss: str

    @property
    def run_id(self) -> str:
        """A file-name-safe name, e.g. ``frac0.5-eta0.2-seed0-alpha-diou@2.5``."""
        loss = self.loss.replace(":", "@")
        return f"frac{self.fraction:g}-eta{self.eta:g}-seed{self.seed}-{loss}"

    @property
    def data_id(self) -> str:
        """The name of its training annotations, shared by every loss: ``frac0.5-eta0.2-seed0``."""
        return f"frac{self.fraction:g}-eta{self.eta:g}-seed{self.seed}"


def expand_grid(
    losses: list[str], etas: list[float], fractions: list[float], seeds: list[int]
) -> list[RunSpec]:
    """Every combination, duplicates removed, in a fixed order.

    The order is by fraction (largest first), η, seed, then the losses as given, so that the
    runs sharing one noisy training file follow each other and a grid cut short has whole
    comparisons done first.
    """
    for eta in etas:
        if not 0 <= eta < float("inf"):
            raise NoisyboxError(f"eta must be a number >= 0; got {eta}", "eta")
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise NoisyboxError(f"fraction must be in (0, 1]; got {fraction}", "fraction")
    if not (losses and etas and fractions and seeds):
        raise NoisyboxError(
            "the grid is empty: give at least one of each of `losses`, `etas`, `fractions`, `seeds`"
        )
    specs = list(dict.fromkeys(normalize_loss(loss) for loss in losses))
    axes = (
        sorted(set(fractions), reverse=True),
        sorted(set(etas)),
        list(dict.fromkeys(seeds)),
        specs,
    )
    return [RunSpec(f, e, s, loss) for f, e, s, loss in itertools.product(*axes)]


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (1 <= K <= N) as ``(K, N)``."""
    try:
        part, total = (int(value) for value in text.split("/"))
    except ValueError:
        raise NoisyboxError(f"shard {text}: expected K/N, e.g. 1/4", "shard") from None
    if not 1 <= part <= total:
        raise NoisyboxError(f"shard {text}: K must be between 1 and N", "shard")
    return part, total


def select_shard(runs: list[RunSpec], part: int, total: int) -> list[RunSpec]:
    """Shard ``part`` of ``total``: every ``total``-th run from run ``part - 1`` on.

    Shards are disjoint and together hold every run, whatever the grid; dealing runs out in
    turn keeps the shards within one run of each other in size.
    """
    return runs[part - 1 :: total]
