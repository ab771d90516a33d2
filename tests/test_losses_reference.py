"""α = 1 equals torchvision.ops; formats, reductions and shapes behave like torchvision's."""

import pytest
import torch
import torchvision.ops as tv
from hypothesis import given

from noisybox.losses import alpha_iou_loss

from .boxes import box_pairs, random_boxes

TORCHVISION = {
    "giou": tv.generalized_box_iou_loss,
    "diou": tv.distance_box_iou_loss,
    "ciou": tv.complete_box_iou_loss,
}


def torchvision_iou_loss(pred, target):
    """torchvision has no plain IoU loss: 1 - box_iou on matching pairs (no eps there)."""
    return 1 - tv.box_iou(pred, target).diagonal()


def reference(kind):
    return TORCHVISION.get(kind, torchvision_iou_loss)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
@given(pairs=box_pairs())
def test_alpha_one_equals_torchvision_loss(kind, pairs):
    pred, target = pairs
    ours = alpha_iou_loss(pred, target, kind=kind, alpha=1.0)
    torch.testing.assert_close(ours, reference(kind)(pred, target), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
@given(pairs=box_pairs())
def test_alpha_one_equals_torchvision_gradient(kind, pairs):
    pred, target = pairs
    ours_in = pred.clone().requires_grad_(True)
    theirs_in = pred.clone().requires_grad_(True)
    alpha_iou_loss(ours_in, target, kind=kind, alpha=1.0).sum().backward()
    reference(kind)(theirs_in, target).sum().backward()
    torch.testing.assert_close(ours_in.grad, theirs_in.grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_reductions_match_torchvision(kind, reduction):
    generator = torch.Generator().manual_seed(1)
    pred, target = random_boxes(64, generator), random_boxes(64, generator)
    ours = alpha_iou_loss(pred, target, kind=kind, alpha=1.0, reduction=reduction)
    if kind == "iou":
        expected = {"none": lambda x: x, "mean": torch.mean, "sum": torch.sum}[reduction](
            torchvision_iou_loss(pred, target)
        )
    else:
        expected = TORCHVISION[kind](pred, target, reduction=reduction)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("box_format", ["xywh", "cxcywh"])
def test_box_formats_give_the_xyxy_loss(box_format):
    generator = torch.Generator().manual_seed(2)
    pred, target = random_boxes(32, generator), random_boxes(32, generator)
    expected = alpha_iou_loss(pred, target, kind="ciou", alpha=3.0)
    converted = [tv.box_convert(b, "xyxy", box_format) for b in (pred, target)]
    ours = alpha_iou_loss(*converted, kind="ciou", alpha=3.0, box_format=box_format)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)


def test_batch_dimensions_and_broadcasting():
    generator = torch.Generator().manual_seed(3)
    pred = random_boxes(24, generator).reshape(2, 3, 4, 4)
    target = random_boxes(4, generator)  # broadcasts over the leading dimensions
    loss = alpha_iou_loss(pred, target, kind="diou")
    assert loss.shape == (2, 3, 4)
    flat = alpha_iou_loss(pred.reshape(-1, 4), target.repeat(6, 1), kind="diou")
    torch.testing.assert_close(loss.reshape(-1), flat)


def test_empty_input_follows_torchvision():
    empty = torch.zeros(0, 4, requires_grad=True)
    assert alpha_iou_loss(empty, empty.detach()).shape == (0,)
    mean = alpha_iou_loss(empty, empty.detach(), reduction="mean")
    assert mean.item() == 0.0 == tv.complete_box_iou_loss(empty, empty, reduction="mean").item()
    mean.backward()  # still part of the graph
    assert empty.grad.shape == (0, 4)


def test_alpha_penalty_only_changes_the_penalty_term():
    generator = torch.Generator().manual_seed(4)
    pred, target = random_boxes(50, generator), random_boxes(50, generator)
    iou_term = alpha_iou_loss(pred, target, kind="iou", alpha=3.0)
    for alpha_penalty in (0.5, 1.0, 3.0):
        diou = alpha_iou_loss(pred, target, kind="diou", alpha=3.0, alpha_penalty=alpha_penalty)
        base = alpha_iou_loss(pred, target, kind="diou", alpha=1.0) - (
            alpha_iou_loss(pred, target, kind="iou", alpha=1.0)
        )  # the DIoU penalty rho^2/c^2
        torch.testing.assert_close(diou, iou_term + base**alpha_penalty)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "eiou"}, "kind must be one of"),
        ({"alpha": 0.0}, "alpha must be > 0"),
        ({"alpha": float("nan")}, "alpha must be > 0"),
        ({"alpha_penalty": -1.0}, "alpha_penalty must be > 0"),
        ({"box_format": "yxyx"}, "box_format must be one of"),
        ({"reduction": "max"}, "reduction must be one of"),
    ],
)
def test_bad_arguments_raise_clear_errors(arguments, message):
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match=message):
        alpha_iou_loss(boxes, boxes, **arguments)


def test_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        alpha_iou_loss(torch.zeros(3, 5), torch.zeros(3, 5))
