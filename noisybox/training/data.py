"""Training and validation data for torchvision detectors, from any annotation format.

Images come from an :class:`~noisybox.annotations.Annotations` (COCO, VOC or YOLO) and an
image folder. Every image is kept, with or without boxes, so that the training set is the
same at every noise rate; boxes that are degenerate after clipping to the image are left out
and counted. Augmentation (albumentations) is seeded per sample from (seed, epoch, index),
so a run is repeatable whatever the number of workers, and a resumed run sees the same data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# albumentations asks PyPI for its newest version when imported (waiting up to 2 s without a
# network); a training run has no business calling out
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A
import numpy as np
import torch

from ..annotations import Annotations
from ..images import find_image, read_rgb
from ..keys import text_key

#: Boxes narrower or lower than this (pixels, after clipping to the image) are left out.
MIN_BOX_SIDE = 1.0


@dataclass
class Prepared:
    """Boxes per image, ready for a detector (xyxy pixels, labels 1..K)."""

    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    filtered: int  # degenerate boxes left out


def prepare_targets(annotations: Annotations, label_of: dict[int, int]) -> Prepared:
    """Group valid boxes by image, clip them to the image and drop degenerate ones.

    Boxes keep the annotations' units (YOLO's normalized boxes are scaled to pixels when
    their image is loaded); in pixels a box needs sides of at least ``MIN_BOX_SIDE``.
    ``label_of`` maps category ids to labels 1..K (0 is the background).
    """
    valid = annotations.valid & ~annotations.crowd
    size = annotations.image_size[annotations.image]
    boxes = np.clip(annotations.boxes, 0, np.concatenate([size, size], axis=1))
    side = MIN_BOX_SIDE if annotations.units == "pixels" else np.finfo(np.float32).tiny
    wide = (boxes[:, 2] - boxes[:, 0] >= side) & (boxes[:, 3] - boxes[:, 1] >= side)
    labels = np.asarray([label_of.get(c, 0) for c in annotations.category.tolist()], np.int64)
    keep = valid & wide & (labels > 0) & np.isfinite(boxes).all(axis=1)
    per_image_boxes: list[np.ndarray] = []
    per_image_labels: list[np.ndarray] = []
    order = np.argsort(annotations.image[keep], kind="stable")
    kept_rows = np.flatnonzero(keep)[order]
    starts = np.searchsorted(annotations.image[kept_rows], np.arange(annotations.num_images + 1))
    for image in range(annotations.num_images):
        rows = kept_rows[starts[image] : starts[image + 1]]
        per_image_boxes.append(boxes[rows].astype(np.float32))
        per_image_labels.append(labels[rows])
    return Prepared(per_image_boxes, per_image_labels, int((valid & ~keep).sum()))


def build_transform(image_size: int, augment: bool) -> A.Compose:
    """Resize the longer side to ``image_size`` and pad to a square (top-left, so that boxes
    map back by a single scale); to augment, also flip, scale jitter and colour jitter.

    Boxes are clipped and filtered once, after the last transform.
    """
    steps: list = [A.LongestMaxSize(max_size=image_size)]
    if augment:
        steps += [
            A.HorizontalFlip(p=0.5),
            A.Affine(scale=(0.75, 1.25), keep_ratio=True, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
        ]
    steps.append(A.PadIfNeeded(image_size, image_size, position="top_left", border_mode=0, fill=0))
    return A.Compose(
        steps,
        bbox_params=A.BboxParams(
            format="pascal_voc",
            label_fields=["labels"],
            min_width=1.0,
            min_height=1.0,
            clip=True,
            filter_invalid_bboxes=True,
            check_each_transform=False,
        ),
    )


class DetectionDataset(torch.utils.data.Dataset):
    """``dataset[(position, epoch)]`` → ``(image, target)`` for torchvision detectors.

    The image is a ``(3, H, W)`` uint8 tensor (a quarter of float32's bytes to pass between
    processes and to the device; :meth:`Batch.to` makes it floats in [0, 1] there).

    The target holds ``boxes`` (xyxy pixels of the transformed image), ``labels`` (1..K),
    ``image`` (the row in ``annotations``) and ``scale`` (transformed / original size).
    Indexing with a plain ``position`` means epoch 0. Positions run over :attr:`rows`, the
    image rows in use: all of them unless some were left out (:meth:`leave_out`).
    """

    def __init__(
        self,
        annotations: Annotations,
        images_dir: Path,
        label_of: dict[int, int],
        image_size: int,
        augment: bool,
        seed: int = 0,
    ):
        self.annotations, self.images_dir = annotations, Path(images_dir)
        self.targets = prepare_targets(annotations, label_of)
        self.transform = build_transform(image_size, augment)
        self.augment, self.image_size, self.seed = augment, image_size, seed
        self._paths: dict[int, Path] = {}
        self.rows = np.arange(annotations.num_images)

    def leave_out(self, rows: list[int]) -> None:
        """Use every image but those of ``rows`` (unreadable files)."""
        self.rows = np.setdiff1d(self.rows, np.asarray(rows, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.rows)

    def image_path(self, index: int) -> Path:
        if index not in self._paths:  # found once: every epoch reads the same file
            self._paths[index] = find_image(self.images_dir, self.annotations.image_name[index])
        return self._paths[index]

    def __getitem__(self, item: int | tuple[int, int]):
        position, epoch = item if isinstance(item, tuple) else (item, 0)
        index = int(self.rows[position])
        pixels = read_rgb(self.image_path(index))  # writable: torch shares it as is
        boxes = self.targets.boxes[index]
        if self.annotations.units == "normalized":
            height, width = pixels.shape[:2]
            boxes = boxes * np.array([width, height, width, height], np.float32)
        labels = self.targets.labels[index]
        if not self.augment and pixels.shape[:2] == (self.image_size, self.image_size):
            out = {"image": pixels, "bboxes": boxes, "labels": labels}  # nothing to transform
        else:
            self.transform.set_random_seed(text_key(f"{self.seed}/{epoch}/{index}") % 2**31)
            out = self.transform(image=pixels, bboxes=boxes.reshape(-1, 4), labels=labels)
        image = torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1)
        target = {
            "boxes": torch.as_tensor(np.asarray(out["bboxes"], np.float32).reshape(-1, 4)),
            "labels": torch.as_tensor(np.asarray(out["labels"], np.int64)),
            "image": index,
            "scale": max(out["image"].shape[:2]) / max(pixels.shape[:2]),
        }
        return image, target


@dataclass
class Batch:
    """A collated batch, in few tensors (cheap to pass between processes and to copy).

    Attributes:
        images: the ``(3, H, W)`` uint8 images, one ``(B, 3, H, W)`` tensor when they share
            a size (as the pipeline makes them), a list otherwise.
        boxes, labels: every image's boxes ``(Σn, 4)`` (xyxy pixels of the transformed
            image) and labels ``(Σn,)``, image after image.
        counts: the boxes of each image.
        rows, scales: each image's row in the annotations and transformed / original size.
    """

    images: torch.Tensor | list[torch.Tensor]
    boxes: torch.Tensor
    labels: torch.Tensor
    counts: list[int]
    rows: list[int]
    scales: list[float]

    def __len__(self) -> int:
        return len(self.counts)

    def pin_memory(self) -> Batch:
        """The batch in page-locked memory (what the DataLoader's ``pin_memory`` calls)."""
        images = self.images
        images = images.pin_memory() if isinstance(images, torch.Tensor) else [
            image.pin_memory() for image in images
        ]  # fmt: skip
        return Batch(images, self.boxes.pin_memory(), self.labels.pin_memory(), self.counts,
                     self.rows, self.scales)  # fmt: skip

    def to(self, device: torch.device) -> tuple[torch.Tensor | list[torch.Tensor], list[dict]]:
        """The images as floats in [0, 1] (``uint8 / 255``) and each image's ``boxes`` and
        ``labels`` on ``device``: three asynchronous copies (from pinned memory the host
        does not wait), split into views there."""
        images = self.images
        if isinstance(images, torch.Tensor):
            images = images.to(device, non_blocking=True).float() / 255
        else:
            images = [image.to(device, non_blocking=True).float() / 255 for image in images]
        boxes = self.boxes.to(device, non_blocking=True).split(self.counts)
        labels = self.labels.to(device, non_blocking=True).split(self.counts)
        targets = [{"boxes": b, "labels": c} for b, c in zip(boxes, labels, strict=True)]
        return images, targets


def collate(batch: list[tuple[torch.Tensor, dict]]) -> Batch:
    """``(image, target)`` pairs of :class:`DetectionDataset` as one :class:`Batch`."""
    images, targets = zip(*batch, strict=True)
    stacked = torch.stack(images) if len({image.shape for image in images}) == 1 else None
    return Batch(
        images=list(images) if stacked is None else stacked,
        boxes=torch.cat([target["boxes"] for target in targets]),
        labels=torch.cat([target["labels"] for target in targets]),
        counts=[len(target["boxes"]) for target in targets],
        rows=[target["image"] for target in targets],
        scales=[target["scale"] for target in targets],
    )


class EpochBatchSampler(torch.utils.data.Sampler):
    """Batches of ``(index, epoch)`` in a fresh seeded order each epoch, from ``start_step``.

    Batch ``s`` of the whole run is always the same, so a run resumed at step ``s`` goes on
    exactly as the uninterrupted run did. With ``rank``/``world`` each process takes every
    ``world``-th batch (distributed data parallel).
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        total_steps: int,
        start_step: int = 0,
        rank: int = 0,
        world: int = 1,
    ):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.total_steps, self.start_step = total_steps, start_step
        self.rank, self.world = rank, world
        self.per_epoch = max(1, size // (batch_size * world))

    def __len__(self) -> int:
        return self.total_steps - self.start_step

    def __iter__(self):
        for step in range(self.start_step, self.total_steps):
            epoch, position = divmod(step, self.per_epoch)
            generator = torch.Generator().manual_seed(
                text_key(f"{self.seed}/order/{epoch}") % 2**63
            )
            order = torch.randperm(self.size, generator=generator).tolist()
            first = (position * self.world + self.rank) * self.batch_size
            yield [(index, epoch) for index in order[first : first + self.batch_size]]
