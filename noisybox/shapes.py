"""The built-in dataset: images of shapes with exact boxes, made from a seed.

Each image has a cluttered, textured background (a colour gradient, noise and unlabeled
blobs and lines) and 1 to ``max_shapes`` shapes of four classes (ellipse, rectangle,
triangle, cross) in random sizes, aspect ratios, colours and textures. Shapes may overlap a
little (IoU at most 0.2). Every box is the tight box of the shape's own pixels, in xyxy pixel
edges, so the clean ground truth is exact, which is what noise is measured against and what
high-IoU APs (AP75 to AP95) need.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_directory
from .boxes import elementwise_iou
from .errors import NoisyboxError
from .outputs import MARKER, Output, check_outputs

CLASSES = ("ellipse", "rectangle", "triangle", "cross")
TEXTURES = ("solid", "stripes", "checker", "speckle")


@dataclass(frozen=True)
class ShapesConfig:
    """Size of the generated dataset.

    Attributes:
        images: number of images, split into train and validation by ``val_fraction``.
        image_size: square image side, pixels.
        min_size, max_size: range of shape sides before the aspect ratio, pixels.
        max_shapes: most shapes in one image.
        val_fraction: share of the images in the validation split.
    """

    images: int = 1000
    image_size: int = 128
    min_size: int = 14
    max_size: int = 56
    max_shapes: int = 4
    val_fraction: float = 0.2

    @classmethod
    def for_size(cls, images: int, image_size: int) -> ShapesConfig:
        """``images`` images of side ``image_size``, shape sides from 1/9 to 7/16 of it."""
        return cls(
            images=images,
            image_size=image_size,
            min_size=max(4, image_size // 9),
            max_size=max(4, image_size * 7 // 16),
        )

    def __post_init__(self) -> None:
        if self.images < 2:
            raise NoisyboxError(
                f"images must be at least 2 (one per split); got {self.images}", "images"
            )
        if not 16 <= self.image_size <= 4096:
            raise NoisyboxError(
                f"image_size must be in [16, 4096]; got {self.image_size}", "image_size"
            )
        if not 4 <= self.min_size <= self.max_size <= self.image_size:
            raise NoisyboxError("shape sizes must satisfy 4 <= min_size <= max_size <= image_size")
        if not 0 < self.val_fraction < 1:
            raise NoisyboxError(f"val_fraction must be in (0, 1); got {self.val_fraction}")


def _shape_mask(kind: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of a shape filling a ``height × width`` box (touching all four sides)."""
    y, x = np.mgrid[0:height, 0:width]
    u = (x + 0.5) / width * 2 - 1  # [-1, 1] across the box
    v = (y + 0.5) / height * 2 - 1
    if kind == "ellipse":
        mask = u**2 + v**2 <= 1.0
    elif kind == "rectangle":
        mask = np.ones((height, width), bool)
    elif kind == "triangle":
        apex = rng.uniform(-0.8, 0.8)  # the top vertex's place, left to right
        t = (1 - v) / 2  # 0 at the base, 1 at the apex
        mask = (u >= -1 + (apex + 1) * t) & (u <= 1 - (1 - apex) * t)
    else:  # cross
        arm = rng.uniform(0.3, 0.55)
        mask = (np.abs(u) <= arm) | (np.abs(v) <= arm)
    return mask


def _texture(kind: str, shape: tuple[int, int], colour: np.ndarray, rng: np.random.Generator):
    """An ``(h, w, 3)`` float image of ``colour`` with a texture."""
    h, w = shape
    base = np.broadcast_to(colour, (h, w, 3)).astype(np.float32)
    if kind == "solid":
        return base
    other = rng.uniform(0, 255, 3).astype(np.float32)
    y, x = np.mgrid[0:h, 0:w]
    if kind == "stripes":
        period = rng.integers(3, 7)
        pattern = ((x + y * rng.integers(0, 2)) // period) % 2 == 0
    elif kind == "checker":
        period = rng.integers(2, 6)
        pattern = ((x // period) + (y // period)) % 2 == 0
    else:
        pattern = rng.random((h, w)) < 0.7
    return np.where(pattern[..., None], base, 0.6 * base + 0.4 * other)


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = np.linspace(0, 1, size)[:, None, None]
    image = (start * (1 - ramp) + end * ramp) * np.ones((1, size, 1))
    image += rng.normal(0, 12, (size, size, 3))
    for _ in range(rng.integers(2, 6)):  # unlabeled clutter: soft blobs and thin lines
        cy, cx = rng.uniform(0, size, 2)
        radius = rng.uniform(2, size / 10)
        y, x = np.ogrid[0:size, 0:size]
        blob = ((y - cy) ** 2 + (x - cx) ** 2) <= radius**2
        image[blob] = 0.5 * image[blob] + 0.5 * rng.uniform(0, 255, 3)
        if rng.random() < 0.5:
            row = int(rng.integers(0, size))
            image[row, :] = rng.uniform(0, 255, 3)
    return image


def render_image(config: ShapesConfig, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """One image (``uint8 (S, S, 3)``) and its objects ``[(class index, [x1, y1, x2, y2])]``."""
    size = config.image_size
    image = _background(size, rng)
    objects: list[tuple[int, list[float]]] = []
    for _ in range(int(rng.integers(1, config.max_shapes + 1))):
        for _attempt in range(20):
            side = rng.uniform(config.min_size, config.max_size)
            aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
            w = int(np.clip(round(side * np.sqrt(aspect)), 4, size))
            h = int(np.clip(round(side / np.sqrt(aspect)), 4, size))
            x1, y1 = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
            box = np.array([[x1, y1, x1 + w, y1 + h]], float)
            others = np.array([b for _, b in objects], float).reshape(-1, 4)
            if len(others) and elementwise_iou(np.repeat(box, len(others), 0), others).max() > 0.2:
                continue
            kind = int(rng.integers(len(CLASSES)))
            mask = _shape_mask(CLASSES[kind], h, w, rng)
            colour = rng.uniform(0, 255, 3)
            texture = _texture(TEXTURES[int(rng.integers(len(TEXTURES)))], (h, w), colour, rng)
            region = image[y1 : y1 + h, x1 : x1 + w]
            region[mask] = texture[mask]
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            tight = [x1 + cols[0], y1 + rows[0], x1 + cols[-1] + 1, y1 + rows[-1] + 1]
            objects.append((kind, [float(v) for v in tight]))
            break
    return np.clip(image, 0, 255).astype(np.uint8), objects


def make_shapes_dataset(
    output: str | os.PathLike[str],
    config: ShapesConfig,
    seed: int = 0,
    overwrite: bool = False,
    on_image: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write ``output/images/*.png`` and ``output/annotations/{train,val}.json`` (COCO);
    ``on_image(1)`` is called after each image (progress).

    The same seed and config give byte-identical files. The folder appears complete or not
    at all, with noisybox's mark (:data:`noisybox.outputs.MARKER`) inside; ``overwrite``
    replaces only a folder noisybox made. Returns the number of images and boxes per split.
    """
    from PIL import Image

    output = Path(output)
    check_outputs([Output(output, folder=True)], [], overwrite)
    rng = np.random.default_rng(seed)
    val_count = max(1, round(config.images * config.val_fraction))
    splits = {"train": config.images - val_count, "val": val_count}
    counts: dict[str, int] = {}
    with atomic_directory(output, overwrite=overwrite) as staging:
        marker = {"tool": "noisybox", "made": "shapes", "seed": seed, "config": config.__dict__}
        (staging / MARKER).write_text(json.dumps(marker, indent=1))
        (staging / "images").mkdir()
        (staging / "annotations").mkdir()
        for split, count in splits.items():
            document = {
                "info": {
                    "description": f"noisybox shapes, seed {seed}, split {split}",
                    "config": config.__dict__,
                },
                "images": [],
                "annotations": [],
                "categories": [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)],
            }
            for index in range(count):
                pixels, objects = render_image(config, rng)
                name = f"{split}_{index:05d}.png"
                Image.fromarray(pixels).save(staging / "images" / name, optimize=False)
                if on_image is not None:
                    on_image(1)
                image_id = len(document["images"]) + 1
                document["images"].append(
                    {
                        "id": image_id,
                        "file_name": name,
                        "width": config.image_size,
                        "height": config.image_size,
                    }
                )
                for kind, (x1, y1, x2, y2) in objects:
                    document["annotations"].append(
                        {
                            "id": len(document["annotations"]) + 1,
                            "image_id": image_id,
                            "category_id": kind + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "area": (x2 - x1) * (y2 - y1),
                            "iscrowd": 0,
                        }
                    )
            path = staging / "annotations" / f"{split}.json"
            path.write_text(json.dumps(document, indent=1))
            counts[f"{split}_images"] = count
            counts[f"{split}_boxes"] = len(document["annotations"])
    return counts
