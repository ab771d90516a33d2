"""Annotation noise: the α-IoU paper's uniform box noise with equation (5), and beyond.

>>> from noisybox.formats import read_annotations
>>> from noisybox.noise import NoiseConfig, corrupt
>>> annotations = read_annotations("train.json")                        # doctest: +SKIP
>>> changes, report = corrupt(annotations, NoiseConfig(eta=0.2), seed=0)  # doctest: +SKIP
"""

from .boxes import (
    enforce_image_constraints,
    gaussian_box_noise,
    scale_box_noise,
    shift_box_noise,
    uniform_box_noise,
)
from .corrupt import CorruptionReport, NoiseConfig, corrupt
from .labels import drop_boxes, flip_classes, spurious_boxes

__all__ = [
    "CorruptionReport",
    "NoiseConfig",
    "corrupt",
    "drop_boxes",
    "enforce_image_constraints",
    "flip_classes",
    "gaussian_box_noise",
    "scale_box_noise",
    "shift_box_noise",
    "spurious_boxes",
    "uniform_box_noise",
]
