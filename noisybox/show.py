"""Clean and noisy boxes drawn over their images, side by side (the α-IoU paper's appendix B.4)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .annotations import Annotations
from .atomic import atomic_write
from .errors import NoisyboxError
from .images import find_image, read_rgb
from .keys import keyed_uniform
from .loss_curves import FIGURE_FORMATS


def _boxes_of(
    annotations: Annotations, image: int, size: tuple[int, int]
) -> tuple[np.ndarray, list[str]]:
    rows = np.flatnonzero((annotations.image == image) & annotations.valid)
    boxes = annotations.boxes[rows]
    if annotations.units == "normalized":
        boxes = boxes * np.array([size[0], size[1], size[0], size[1]])
    names = [annotations.categories.get(int(c), str(c)) for c in annotations.category[rows]]
    return boxes, names


def draw_comparison(
    clean: Annotations,
    noisy: Annotations,
    images_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    count: int = 6,
    seed: int = 0,
) -> list[str]:
    """Draw ``count`` images (chosen by ``seed``) with clean boxes left, noisy boxes right.

    Images are matched between the two datasets by name. Returns the image names drawn.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    suffix = os.fspath(output).rsplit(".", 1)[-1].lower()
    if suffix not in FIGURE_FORMATS:
        raise NoisyboxError(
            f"{os.fspath(output)}: figure must end in .{', .'.join(FIGURE_FORMATS)}"
        )
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise NoisyboxError(f"{images_dir}: no such image folder")
    noisy_row = {name: row for row, name in enumerate(noisy.image_name)}
    with_boxes = np.unique(clean.image[clean.valid])
    shared = [int(i) for i in with_boxes if clean.image_name[i] in noisy_row]
    if not shared:
        raise NoisyboxError(f"{noisy.path}: shares no image with boxes with {clean.path}")
    priority = keyed_uniform(seed, "show", clean.image_key[shared], 1)[:, 0]
    chosen = [shared[i] for i in np.argsort(priority, kind="stable")[:count]]
    figure = Figure(figsize=(10, 4.2 * len(chosen)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(chosen), 2, squeeze=False))
    for row_axes, image in zip(axes, chosen, strict=True):
        name = clean.image_name[image]
        pixels = read_rgb(find_image(images_dir, name))
        size = (pixels.shape[1], pixels.shape[0])
        for axis, (dataset, row, colour, title) in zip(
            row_axes,
            [(clean, image, "lime", "clean"), (noisy, noisy_row[name], "red", "noisy")],
            strict=True,
        ):
            axis.imshow(pixels)
            boxes, labels = _boxes_of(dataset, row, size)
            for (x1, y1, x2, y2), label in zip(boxes, labels, strict=True):
                axis.add_patch(
                    Rectangle(
                        (x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.5
                    )
                )
                axis.text(
                    x1, y1, label, color="black", fontsize=7, backgroundcolor=colour, va="bottom"
                )
            axis.set_title(f"{title}: {name} ({len(boxes)} boxes)", fontsize=9)
            axis.set_axis_off()
    with atomic_write(output) as handle:
        figure.savefig(handle, format=suffix, dpi=100)
    return [clean.image_name[i] for i in chosen]
