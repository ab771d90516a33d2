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


#: the colour of a noisy box by its per-box flag, the first that holds (``--boxes``)
FLAG_COLOURS = {
    "spurious": "magenta",
    "flipped": "deepskyblue",
    "moved": "orange",
    "unchanged": "lime",
}


def _flagged_boxes(table, name: str, size: tuple[int, int], units: str):
    """From a per-box table: the noisy boxes of image ``name`` with their colour and
    label, and the clean boxes that were dropped."""
    rows = table[table["image"] == name]
    scale = np.array([size[0], size[1], size[0], size[1]]) if units == "normalized" else 1.0
    noisy = rows[~rows["dropped"]]
    columns = ["noisy_x1", "noisy_y1", "noisy_x2", "noisy_y2"]
    kinds = [
        next((k for k in ("spurious", "flipped", "moved") if row[k]), "unchanged")
        for _, row in noisy.iterrows()
    ]
    drawn = [
        (box * scale, FLAG_COLOURS[kind], f"{label} ({kind})" if kind != "unchanged" else label)
        for box, kind, label in zip(
            noisy[columns].to_numpy(float), kinds, noisy["class_after"], strict=True
        )
    ]
    dropped = rows[rows["dropped"]][["clean_x1", "clean_y1", "clean_x2", "clean_y2"]]
    return drawn, dropped.to_numpy(float) * scale


def draw_comparison(
    clean: Annotations,
    noisy: Annotations,
    images_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    count: int = 6,
    seed: int = 0,
    flags=None,
) -> list[str]:
    """Draw ``count`` images (chosen by ``seed``) with clean boxes left, noisy boxes right.

    Images are matched between the two datasets by name. With ``flags``, the per-box table
    of the corruption (:mod:`noisybox.provenance`, a pandas DataFrame), noisy boxes are
    coloured by what happened to them (:data:`FLAG_COLOURS`) and dropped boxes are drawn
    dashed on the clean side. Returns the image names drawn.
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
        dropped = np.zeros((0, 4))
        for axis, (dataset, row, colour, title) in zip(
            row_axes,
            [(clean, image, "lime", "clean"), (noisy, noisy_row[name], "red", "noisy")],
            strict=True,
        ):
            axis.imshow(pixels)
            boxes, labels = _boxes_of(dataset, row, size)
            drawn = [(box, colour, label) for box, label in zip(boxes, labels, strict=True)]
            if flags is not None and title == "noisy":
                drawn, dropped = _flagged_boxes(flags, name, size, noisy.units)
            for (x1, y1, x2, y2), box_colour, label in drawn:
                axis.add_patch(
                    Rectangle(
                        (x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=box_colour, linewidth=1.5
                    )
                )
                axis.text(
                    x1, y1, label, color="black", fontsize=7, backgroundcolor=box_colour,
                    va="bottom",
                )  # fmt: skip
            axis.set_title(f"{title}: {name} ({len(drawn)} boxes)", fontsize=9)
            axis.set_axis_off()
        for x1, y1, x2, y2 in dropped:  # on the clean side: the boxes the noise removed
            row_axes[0].add_patch(
                Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="red",
                          linewidth=1.5, linestyle="--")
            )  # fmt: skip
    with atomic_write(output) as handle:
        figure.savefig(handle, format=suffix, dpi=100)
    return [clean.image_name[i] for i in chosen]
