"""Whole-batch versions of torchvision's per-image detection steps.

torchvision's detectors normalise, resize and match each image of a batch in a Python loop:
dozens of small kernel launches per image and a host synchronisation per image (the
degenerate-box check). On a GPU at the sizes of a robustness study (batch 32 of 256-pixel
images) that loop, not the convolutions, sets the pace. The pieces here do the same work
once per batch and give the same numbers (tested against torchvision):

- :class:`SquareBatchTransform`: normalises a batch of equally sized images at once when
  torchvision's resize would leave them as they are (noisybox's data pipeline makes every
  image the run's square size); anything else goes through torchvision's loop;
- :func:`pad_targets`: a batch's boxes and labels as ``(B, M)`` tensors, padded;
- :func:`fcos_matches`: FCOS's location-to-box assignment (centre sampling, inside-box,
  scale range, smallest box wins) for all images at once;
- :func:`check_boxes`: torchvision's degenerate-box check, one synchronisation a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform

#: matching works on ``(images, locations, boxes)`` tensors of at most this many elements at
#: a time (more images are matched in chunks), bounding its memory at a few hundred MB
MATCH_ELEMENTS = 2**24


class SquareBatchTransform(GeneralizedRCNNTransform):
    """torchvision's ``GeneralizedRCNNTransform``, normalising a batch in one operation when
    every image already has the size the transform would resize it to.

    Images (``(3, H, W)`` floats in [0, 1], a list or one ``(B, 3, H, W)`` tensor) that all
    share one shape for which torchvision's resize scale is exactly 1 are stacked,
    normalised and padded to a multiple of ``size_divisible`` at once; their boxes are left
    as they are (torchvision multiplies them by 1). Otherwise torchvision's per-image loop
    runs. The global random stream advances as torchvision's would (one draw an image in
    training).
    """

    @classmethod
    def like(cls, transform: GeneralizedRCNNTransform) -> SquareBatchTransform:
        """The same transform (sizes, mean, std, padding) with the batched path."""
        names = ("size_divisible", "fixed_size", "_skip_resize")
        settings = {name: getattr(transform, name) for name in names}
        sizes = (transform.min_size, transform.max_size)
        return cls(*sizes, transform.image_mean, transform.image_std, **settings)

    def _unchanged_by_resize(self, height: int, width: int) -> bool:
        if self.fixed_size is not None or len(self.min_size) != 1:
            return False
        shortest, longest = float(min(height, width)), float(max(height, width))
        return min(self.min_size[-1] / shortest, self.max_size / longest) == 1.0

    def forward(
        self, images: list[Tensor] | Tensor, targets: list[dict[str, Tensor]] | None = None
    ) -> tuple[ImageList, list[dict[str, Tensor]] | None]:
        shapes = {tuple(image.shape) for image in images}
        if len(shapes) != 1:
            return super().forward(list(images), targets)
        (shape,) = shapes
        if len(shape) != 3 or not self._unchanged_by_resize(shape[1], shape[2]):
            return super().forward(list(images), targets)
        batch = images if isinstance(images, Tensor) else torch.stack(images)
        if not batch.is_floating_point():
            raise TypeError(f"images must be floats in [0, 1]; got {batch.dtype}")
        if self.training and not self._skip_resize:
            for _ in range(len(batch)):  # torchvision draws a size per image
                self.torch_choice(self.min_size)
        mean = torch.as_tensor(self.image_mean, dtype=batch.dtype, device=batch.device)
        std = torch.as_tensor(self.image_std, dtype=batch.dtype, device=batch.device)
        batch = (batch - mean[:, None, None]) / std[:, None, None]
        stride = self.size_divisible
        pad_h, pad_w = -shape[1] % stride, -shape[2] % stride
        if pad_h or pad_w:
            batch = torch.nn.functional.pad(batch, (0, pad_w, 0, pad_h))
        if targets is not None:
            targets = [dict(target) for target in targets]
        return ImageList(batch, [(shape[1], shape[2])] * len(batch)), targets


@dataclass
class PaddedTargets:
    """A batch's ground truth as tensors: ``boxes`` ``(B, M, 4)`` xyxy pixels, ``labels``
    ``(B, M)`` and ``valid`` ``(B, M)``, false on the padding (zeros) that fills each image
    up to the batch's most boxes ``M`` (at least 1)."""

    boxes: Tensor
    labels: Tensor
    valid: Tensor


def pad_targets(targets: list[dict[str, Tensor]]) -> PaddedTargets:
    """Pad each image's ``boxes`` and ``labels`` to the batch's most boxes (at least one),
    with a few operations for the whole batch."""
    counts = torch.tensor([len(target["boxes"]) for target in targets], dtype=torch.int64)
    device = targets[0]["boxes"].device
    most = max(1, int(counts.max())) if len(counts) else 1
    rows = torch.repeat_interleave(torch.arange(len(targets)), counts)
    columns = torch.arange(len(rows)) - (torch.cumsum(counts, 0) - counts)[rows]
    index = (rows.to(device, non_blocking=True), columns.to(device, non_blocking=True))
    boxes = targets[0]["boxes"].new_zeros((len(targets), most, 4))
    labels = targets[0]["labels"].new_zeros((len(targets), most))
    valid = torch.zeros((len(targets), most), dtype=torch.bool, device=device)
    boxes[index] = torch.cat([target["boxes"] for target in targets])
    labels[index] = torch.cat([target["labels"] for target in targets])
    valid[index] = True
    return PaddedTargets(boxes, labels, valid)


def fcos_matches(
    anchors: Tensor,
    num_anchors_per_level: list[int],
    targets: PaddedTargets,
    center_sampling_radius: float,
) -> Tensor:
    """The box each FCOS location regresses, ``(B, N)`` indices into ``targets`` (``-1``:
    background), as torchvision's ``FCOS.compute_loss`` assigns them image by image.

    ``anchors``: ``(B, N, 4)`` xyxy pixels, one square an FCOS location, levels in order with
    ``num_anchors_per_level`` locations each. A location matches a box when its centre lies
    inside the box, within ``center_sampling_radius`` anchor sizes of the box's centre, and
    its largest distance to the box's sides is within its level's range (4 to 8 anchor
    sizes; no lower bound on the first level, none above on the last); of several boxes the
    smallest wins (Tian et al., FCOS, ICCV 2019, section 3.2; torchvision 0.29).
    """
    per_chunk = max(1, MATCH_ELEMENTS // max(1, anchors.shape[1] * targets.boxes.shape[1]))
    sizes = anchors[..., 2] - anchors[..., 0]  # (B, N)
    lower_bound, upper_bound = sizes * 4, sizes * 8
    lower_bound[:, : num_anchors_per_level[0]] = 0
    upper_bound[:, -num_anchors_per_level[-1] :] = float("inf")
    chunks = []
    for start in range(0, len(anchors), per_chunk):
        part = slice(start, start + per_chunk)
        chunks.append(
            _match_chunk(
                anchors[part],
                sizes[part],
                lower_bound[part],
                upper_bound[part],
                targets.boxes[part],
                targets.valid[part],
                center_sampling_radius,
            )
        )
    return torch.cat(chunks)


def _match_chunk(
    anchors: Tensor,
    sizes: Tensor,
    lower_bound: Tensor,
    upper_bound: Tensor,
    gt_boxes: Tensor,
    valid: Tensor,
    radius: float,
) -> Tensor:
    """:func:`fcos_matches` for a few images (``(b, N, ·)`` anchors, ``(b, M, ·)`` boxes),
    torchvision's arithmetic element for element."""
    gt_centers = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2  # (b, M, 2)
    centers = (anchors[..., :2] + anchors[..., 2:]) / 2  # (b, N, 2)
    match = (centers[:, :, None, :] - gt_centers[:, None, :, :]).abs_().max(dim=3).values
    match = match < radius * sizes[:, :, None]  # (b, N, M)
    x, y = centers[:, :, None, 0], centers[:, :, None, 1]  # (b, N, 1)
    x0, y0, x1, y1 = gt_boxes[:, None, :, :].unbind(dim=3)  # (b, 1, M)
    distances = torch.stack([x - x0, y - y0, x1 - x, y1 - y], dim=3)  # (b, N, M, 4)
    match &= distances.min(dim=3).values > 0
    farthest = distances.max(dim=3).values
    match &= (farthest > lower_bound[:, :, None]) & (farthest < upper_bound[:, :, None])
    match &= valid[:, None, :]
    areas = (gt_boxes[..., 2] - gt_boxes[..., 0]) * (gt_boxes[..., 3] - gt_boxes[..., 1])
    score = match.to(torch.float32) * (1e8 - areas[:, None, :])
    best, matched = score.max(dim=2)
    matched[best < 1e-5] = -1
    return matched


def check_boxes(targets: list[dict[str, Tensor]]) -> None:
    """torchvision's check that every box has positive width and height, with one host
    synchronisation for the batch (torchvision's has one an image)."""
    if not targets:
        return
    boxes = torch.cat([target["boxes"].reshape(-1, 4) for target in targets])
    if bool((boxes[:, 2:] <= boxes[:, :2]).any()):
        for index, target in enumerate(targets):
            degenerate = (target["boxes"][:, 2:] <= target["boxes"][:, :2]).any(dim=1)
            if degenerate.any():
                box = target["boxes"][torch.where(degenerate)[0][0]].tolist()
                torch._assert(
                    False,
                    "All bounding boxes should have positive height and width. Found invalid "
                    f"box {box} for target at index {index}.",
                )
