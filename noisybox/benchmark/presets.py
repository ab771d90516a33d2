"""Ready-made grid sizes for ``noisybox bench``: ``quick`` (a 2-core CPU, about 11 minutes)
and ``paper`` (a GPU: the α-IoU paper's Table 3 losses, three seeds)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Defaults that explicit ``noisybox bench`` options override.

    Attributes:
        shapes_images: images of the built-in dataset made when no ``--data`` is given.
        shapes_size: their side in pixels.
        train: training settings (``TrainConfig`` field names).
        losses, etas, fractions, seeds: the grid.
    """

    shapes_images: int
    shapes_size: int
    train: dict[str, object]
    losses: tuple[str, ...]
    etas: tuple[float, ...]
    fractions: tuple[float, ...]
    seeds: tuple[int, ...]


PRESETS: dict[str, Preset] = {
    # 8 runs of about 75 s on 2 CPU cores (README, "Robustness benchmark"): two seeds per
    # cell, so the table shows a spread; the shapes-quick study has the full grid
    "quick": Preset(
        shapes_images=800,
        shapes_size=96,
        train={
            "model": "fcos",
            "backbone": "tiny",
            "image_size": 96,
            "batch_size": 8,
            "max_steps": 800,
            "lr": 4e-3,
            "warmup_steps": 50,
        },
        losses=("iou", "alpha-iou"),
        etas=(0.0, 0.2),
        fractions=(1.0,),
        seeds=(0, 1),
    ),
    # 48 runs of about 2.5 min on one H100 (measured: 244 images/s, 8 s of evaluation), about
    # 2 hours: the paper's four losses of Table 3, η = 0 ... 0.3, three seeds
    "paper": Preset(
        shapes_images=4000,
        shapes_size=256,
        train={
            "model": "fcos",
            "backbone": "resnet18",
            "image_size": 256,
            "batch_size": 32,
            "max_steps": 1000,
            "lr": 2e-3,
            "warmup_steps": 100,
        },
        losses=("iou", "alpha-iou", "diou", "alpha-diou"),
        etas=(0.0, 0.1, 0.2, 0.3),
        fractions=(1.0,),
        seeds=(0, 1, 2),
    ),
}
