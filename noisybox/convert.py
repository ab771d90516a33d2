"""Convert annotations between COCO, VOC and YOLO (``noisybox convert``).

The source is read by its format's reader into :class:`~noisybox.annotations.Annotations`
and written by the target format's creator (``Format.create``), so a conversion carries
exactly what the arrays hold: image file names and sizes, boxes, classes (ids and names) and
crowd marks (COCO ``iscrowd``, VOC ``difficult``). Boxes are lossless (floats are written so
they read back bit for bit). What a target cannot hold is left out and named in
:attr:`Conversion.not_carried`, never dropped silently. Pure apart from reading image
headers where YOLO's normalized boxes need pixel sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .annotations import Annotations, select_rows
from .errors import NoisyboxError
from .formats import FORMATS
from .formats._common import image_size_from_file
from .images import find_image


@dataclass(frozen=True)
class Conversion:
    """A converted dataset in memory.

    Attributes:
        rendered: the bytes of one file, or ``{relative path: bytes}`` of a folder.
        images, boxes, classes: what it holds.
        not_carried: one phrase per kind of information the target could not hold.
    """

    rendered: bytes | dict[str, bytes]
    images: int
    boxes: int
    classes: int
    not_carried: list[str]

    @property
    def is_folder(self) -> bool:
        """Whether :attr:`rendered` is a folder."""
        return isinstance(self.rendered, dict)


def in_pixels(annotations: Annotations, images_dir: Path | None) -> Annotations:
    """``annotations`` in pixels with image file names: YOLO's normalized boxes are scaled by
    the sizes read from the images in ``images_dir`` (``labels/``'s sibling ``images/`` by
    default); other formats are returned as they are."""
    if annotations.units == "pixels":
        return annotations
    if images_dir is None:
        sibling = annotations.path.parent / "images"
        if not sibling.is_dir():
            raise NoisyboxError(
                f"{annotations.path}: YOLO boxes are normalized; pass `images_dir=DIR` so that "
                "their pixel sizes can be read from the images"
            )
        images_dir = sibling
    names, sizes = [], np.empty((annotations.num_images, 2))
    root = Path(images_dir).resolve()
    for index, label in enumerate(annotations.image_name):
        name = find_image(images_dir, label).relative_to(root).as_posix()
        found = image_size_from_file(images_dir, name)
        if isinstance(found, str):
            raise NoisyboxError(f"{annotations.path / label}: {found}")
        names.append(name)
        sizes[index] = found
    size = sizes[annotations.image]
    boxes = annotations.boxes * np.concatenate([size, size], axis=1)
    return replace(annotations, units="pixels", boxes=boxes, image_size=sizes, image_name=names)


def clip_to_images(annotations: Annotations) -> tuple[Annotations, int]:
    """``annotations`` (pixels) with every box clipped to its image, and how many changed.
    Readers accept a box up to a pixel outside its image; a normalized format does not."""
    size = annotations.image_size[annotations.image]
    limit = np.concatenate([size, size], axis=1)
    clipped = np.clip(annotations.boxes, 0.0, limit)
    changed = int((clipped != annotations.boxes).any(axis=1).sum())
    return replace(annotations, boxes=clipped), changed


def convert(annotations: Annotations, to: str, images_dir: Path | None = None) -> Conversion:
    """``annotations`` as a new dataset of format ``to`` (``coco``, ``voc`` or ``yolo``).

    Invalid records must have been refused or left out by the reader (``on_invalid``): a
    conversion writes valid boxes only. ``images_dir`` is where a YOLO source's images are.
    """
    if to not in FORMATS:
        raise NoisyboxError(f"to must be one of {', '.join(FORMATS)}; got {to!r}", "to")
    if not annotations.valid.all() or np.isnan(annotations.image_size).any():
        raise NoisyboxError(
            f'{annotations.path}: holds invalid records (kept with `on_invalid="keep"`); a '
            'conversion writes valid boxes only: use `on_invalid="error"` or `on_invalid="skip"`'
        )
    source = in_pixels(annotations, images_dir)
    beyond = FORMATS[annotations.format].beyond(annotations)
    not_carried = [", ".join(beyond)] if beyond else []
    crowd = int(source.crowd.sum())
    if to == "yolo" and crowd:
        source = select_rows(source, ~source.crowd)
        not_carried.append(f"{crowd} crowd/difficult boxes (YOLO has no such mark; left out)")
    if to == "yolo":
        source, clipped = clip_to_images(source)
        if clipped:
            not_carried.append(
                f"{clipped} boxes' parts outside their image (clipped to it: YOLO's "
                "normalized boxes lie within [0, 1])"
            )
    ids = list(source.categories)
    if to == "yolo" and ids != list(range(len(ids))):
        not_carried.append("category ids (YOLO numbers the classes 0…K-1 in id order)")
    if to == "voc" and annotations.format != "voc":
        if ids != list(range(len(ids))):
            not_carried.append("category ids (VOC names classes; ids are their sorted order)")
        unused = len(set(ids) - set(source.category.tolist()))
        if unused:
            not_carried.append(f"{unused} classes without boxes (VOC lists classes by box)")
    return Conversion(
        rendered=FORMATS[to].create(source),
        images=source.num_images,
        boxes=len(source.boxes),
        classes=len(source.categories),
        not_carried=not_carried,
    )
