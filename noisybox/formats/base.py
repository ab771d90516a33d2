"""The interface every annotation format implements, and the options a reader takes.

A format is one module of this package exposing ``FORMAT``, a :class:`Format`; the table
``noisybox.formats.FORMATS`` lists them in detection order. Adding a format (LabelMe, CVAT,
…) is one new module and one entry in that table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..annotations import Annotations, Changes
from ..atomic import Rendered


@dataclass(frozen=True)
class ReadOptions:
    """What a reader may need beyond the path.

    Attributes:
        images_dir: the image folder, where a format lacks image sizes (VOC without
            ``<size>``).
        split: a list of image names (one a line, without suffix) to read of a folder.
    """

    images_dir: Path | None = None
    split: Path | None = None


@dataclass(frozen=True)
class Format:
    """An annotation format.

    Attributes:
        name: what ``--format`` calls it.
        detect: whether a path holds this format (by suffix, and by content where a suffix
            is ambiguous); formats are asked in the table's order.
        read: the annotations at a path (invalid records collected as issues).
        write: the output: the bytes of one file (whole, or pieces made as they are
            written), or ``{relative path: bytes}`` of a folder.
        quantize: boxes as they will read back after writing (the format's precision).
        is_folder: whether the output of these annotations is a folder.
        create: a new document of this format from the arrays alone (``noisybox convert``):
            given annotations in pixels (xyxy) whose ``image_name`` are image file paths
            relative to the image folder, the bytes of one file or ``{relative path: bytes}``
            of a folder. Only what the arrays hold is written: image names and sizes, boxes,
            classes and crowd (VOC ``difficult``) marks.
        beyond: what a source of this format holds beyond those arrays (fields, elements,
            files), named for the user; empty when nothing.
        image_ids: the id of each image row as results name it: the source's own ids
            where it has them (COCO), else 1…N.
        split_lists: whether ``read`` takes ``ReadOptions.split``, a list of the images of
            a folder to read (VOC's ``ImageSets``); other formats refuse one.
    """

    name: str
    detect: Callable[[Path], bool]
    read: Callable[[Path, ReadOptions], Annotations]
    write: Callable[[Annotations, Changes], Rendered]
    quantize: Callable[[Annotations, np.ndarray], np.ndarray]
    is_folder: Callable[[Annotations], bool]
    create: Callable[[Annotations], bytes | dict[str, bytes]]
    beyond: Callable[[Annotations], list[str]]
    image_ids: Callable[[Annotations], list] = lambda annotations: list(
        range(1, annotations.num_images + 1)
    )
    split_lists: bool = False
