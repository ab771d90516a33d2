"""The whole-batch detection steps (noisybox.training.batching) against torchvision's
per-image originals (torchvision 0.29, the range pinned in pyproject.toml)."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from noisybox.training import batching
from noisybox.training.batching import (
    SquareBatchTransform,
    check_boxes,
    fcos_matches,
    pad_targets,
)

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def _random_targets(generator: torch.Generator, size: int, counts: list[int]) -> list[dict]:
    """Boxes of all scales inside a ``size`` square (some duplicated, so that equal areas
    tie), labels 1..3; an image of count 0 has none."""
    targets = []
    for count in counts:
        corner = torch.rand(count, 2, generator=generator) * size * 0.8
        extent = torch.rand(count, 2, generator=generator) * size * 0.6 + 2
        boxes = torch.cat([corner, (corner + extent).clamp(max=size)], dim=1)
        if count > 2:
            boxes[-1] = boxes[0]
        labels = torch.randint(1, 4, (count,), generator=generator)
        targets.append({"boxes": boxes, "labels": labels})
    return targets


def _stock_matches(model: FCOS, targets, anchors, num_anchors_per_level) -> list[torch.Tensor]:
    """The matches torchvision's FCOS.compute_loss hands its head."""
    captured = []

    class Capture(torch.nn.Module):
        def compute_loss(self, targets, head_outputs, anchors, matched_idxs):
            captured.extend(matched_idxs)
            return {}

    original, model.head = model.head, Capture()
    try:
        FCOS.compute_loss(model, targets, {}, anchors, num_anchors_per_level)
    finally:
        model.head = original
    return captured


@pytest.mark.parametrize("chunk_elements", [batching.MATCH_ELEMENTS, 1])
def test_fcos_matches_equal_torchvision_s_image_by_image_matching(monkeypatch, chunk_elements):
    """Reference: torchvision 0.29's FCOS.compute_loss (centre sampling, inside-box, scale
    ranges, smallest box wins), on 6 images of 0 to 12 boxes at 5 levels; also matched one
    image at a time (``MATCH_ELEMENTS`` = 1)."""
    monkeypatch.setattr(batching, "MATCH_ELEMENTS", chunk_elements)
    size, strides = 256, (8, 16, 32, 64, 128)
    generator = torch.Generator().manual_seed(3)
    targets = _random_targets(generator, size, [3, 0, 12, 1, 7, 5])
    levels = [(size // s) ** 2 for s in strides]
    anchors_one = torch.cat(
        [
            torch.tensor(
                [
                    [x * s, y * s, x * s + s, y * s + s]
                    for y in range(size // s)
                    for x in range(size // s)
                ],
                dtype=torch.float32,
            )
            for s in strides
        ]
    )
    anchors = [anchors_one.clone() for _ in targets]
    backbone = torch.nn.Identity()
    backbone.out_channels = 32
    model = FCOS(backbone, 4, anchor_generator=AnchorGenerator(((8,),), ((1.0,),)))
    expected = torch.stack(_stock_matches(model, targets, anchors, levels))
    found = fcos_matches(torch.stack(anchors), levels, pad_targets(targets), 1.5)
    assert (expected >= 0).sum() > 20  # the test has foreground to compare
    assert torch.equal(found, expected)


def test_pad_targets_puts_each_image_s_boxes_first_and_marks_the_padding():
    targets = [
        {"boxes": torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8]]), "labels": torch.tensor([2, 3])},
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)},
        {"boxes": torch.tensor([[9.0, 9, 10, 11]]), "labels": torch.tensor([1])},
    ]
    padded = pad_targets(targets)
    assert padded.boxes.shape == (3, 2, 4) and padded.labels.shape == (3, 2)
    assert padded.valid.tolist() == [[True, True], [False, False], [True, False]]
    assert padded.boxes[0].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert padded.boxes[2, 0].tolist() == [9, 9, 10, 11] and padded.labels[2].tolist() == [1, 0]
    empty = pad_targets([targets[1], targets[1]])
    assert empty.boxes.shape == (2, 1, 4) and not empty.valid.any()


def _transforms(size: int):
    stock = GeneralizedRCNNTransform(size, size, MEAN, STD)
    return stock, SquareBatchTransform.like(stock)


@pytest.mark.parametrize("size", [64, 200])  # 200: padded to 224 as torchvision pads
@pytest.mark.parametrize("training", [True, False])
def test_square_batch_transform_equals_torchvision_s_transform(size, training):
    """Reference: torchvision's GeneralizedRCNNTransform, bit for bit (images, sizes,
    boxes), and the global random stream left where torchvision leaves it."""
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(3, size, size, generator=generator) for _ in range(3)]
    targets = _random_targets(generator, size, [2, 0, 4])
    results = []
    for transform in _transforms(size):
        transform.train(training)
        torch.manual_seed(5)
        image_list, out = transform(images, [dict(t) for t in targets])
        results.append((image_list, out, torch.rand(1)))
    (stock, stock_targets, stock_next), (ours, our_targets, our_next) = results
    assert torch.equal(ours.tensors, stock.tensors)
    assert ours.image_sizes == stock.image_sizes
    for mine, theirs in zip(our_targets, stock_targets, strict=True):
        assert torch.equal(mine["boxes"], theirs["boxes"])
        assert torch.equal(mine["labels"], theirs["labels"])
    assert torch.equal(our_next, stock_next)
    # the batch may also come as one tensor, and the caller's targets are not modified
    batched, _ = _transforms(size)[1](torch.stack(images), targets)
    assert torch.equal(batched.tensors, stock.tensors)


def test_square_batch_transform_falls_back_to_torchvision_for_other_sizes():
    """Images of different shapes, or not at the transform's size, are resized and padded
    image by image, as torchvision does."""
    stock, ours = _transforms(64)
    stock.eval(), ours.eval()
    generator = torch.Generator().manual_seed(1)
    for images in (
        [torch.rand(3, 64, 64, generator=generator), torch.rand(3, 48, 64, generator=generator)],
        [torch.rand(3, 100, 100, generator=generator)],
    ):
        expected, _ = stock(images)
        found, _ = ours(images)
        assert torch.equal(found.tensors, expected.tensors)
        assert found.image_sizes == expected.image_sizes


def test_check_boxes_names_the_first_degenerate_box_as_torchvision_does():
    good = {"boxes": torch.tensor([[0.0, 0, 2, 2]]), "labels": torch.tensor([1])}
    bad = {"boxes": torch.tensor([[0.0, 0, 2, 2], [5.0, 5, 5, 9]]), "labels": torch.tensor([1, 1])}
    check_boxes([good, good])
    check_boxes([])
    with pytest.raises(
        AssertionError, match=r"Found invalid box \[5.0, 5.0, 5.0, 9.0\] for target at index 1"
    ):
        check_boxes([good, bad])
