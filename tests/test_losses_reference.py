"""α = 1 equals torchvision.ops; formats, reductions and shapes behave like torchvision's."""

import numpy as np
import pytest
import torch
import torchvision.ops as tv
from hypothesis import given

from noisybox.losses import alpha_iou_loss
from noisybox.losses.penalties import PENALTIES

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


def test_the_giou_penalty_is_raised_to_alpha_penalty_on_known_boxes():
    """A 4x2 box against a 4x4 one (IoU 4/20 = 0.2, enclosing 6x4 = 24, empty 4/24 = 1/6):
    GIoU at α = 3, α_penalty = 2 is 1 - 0.2³ + (1/6)², not 1 - 0.2³ + (1/6)³."""
    pred = torch.tensor([[0.0, 0.0, 4.0, 2.0]], dtype=torch.float64)
    target = torch.tensor([[2.0, 0.0, 6.0, 4.0]], dtype=torch.float64)
    loss = alpha_iou_loss(pred, target, kind="giou", alpha=3.0, alpha_penalty=2.0)
    assert loss.item() == pytest.approx(1 - 0.2**3 + (1 / 6) ** 2, rel=1e-9)
    assert alpha_iou_loss(pred, target, kind="giou", alpha=3.0).item() == pytest.approx(
        1 - 0.2**3 + (1 / 6) ** 3, rel=1e-9
    )  # α_penalty defaults to α


@pytest.mark.parametrize("kind", sorted(set(PENALTIES) - {"iou"}))
def test_every_penalty_depends_on_alpha_penalty_only(kind):
    """``loss(kind) - loss(iou)`` at the same α is the penalty sum, raised to α_penalty: it
    must not change with α (one kind raised to α instead would, at α = 0.5 and 3)."""
    generator = torch.Generator().manual_seed(6)
    pred = random_boxes(40, generator)
    target = random_boxes(40, generator)
    options = {"image_size": (80, 60)} if kind == "mpdiou" else {}

    def penalty(alpha):
        loss = alpha_iou_loss(pred, target, kind=kind, alpha=alpha, alpha_penalty=2.0, **options)
        return loss - alpha_iou_loss(pred, target, kind="iou", alpha=alpha)

    assert penalty(1.0).abs().max() > 1e-3  # the penalty is there to be raised
    for alpha in (0.5, 3.0):
        torch.testing.assert_close(penalty(alpha), penalty(1.0), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "siou-someday"}, "kind must be one of"),
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


def _eiou_reference(b, g, alpha=1.0, alpha_penalty=None):
    """EIoU (Zhang et al. 2022, eq. (9)), one pair, float64, written out from the paper:
    1 - IoU + rho^2/c^2 + (w - w_g)^2/c_w^2 + (h - h_g)^2/c_h^2; with the alpha-IoU rule the
    IoU term is IoU^alpha and each penalty is raised to alpha_penalty."""
    alpha_penalty = alpha if alpha_penalty is None else alpha_penalty
    eps = 1e-7
    (x1, y1, x2, y2), (u1, v1, u2, v2) = b, g
    iw = max(0.0, min(x2, u2) - max(x1, u1))
    ih = max(0.0, min(y2, v2) - max(y1, v1))
    inter = iw * ih
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    iou = inter / (union + eps)
    cw, ch = max(x2, u2) - min(x1, u1), max(y2, v2) - min(y1, v1)
    rho = ((x1 + x2) / 2 - (u1 + u2) / 2) ** 2 + ((y1 + y2) / 2 - (v1 + v2) / 2) ** 2
    terms = [
        rho / (cw**2 + ch**2 + eps),
        ((x2 - x1) - (u2 - u1)) ** 2 / (cw**2 + eps),
        ((y2 - y1) - (v2 - v1)) ** 2 / (ch**2 + eps),
    ]

    def power(x, a):  # the library's convention: exact at a = 1, 0 at or below eps otherwise
        return x if a == 1 else (0.0 if x <= eps else x**a)

    return 1 - power(iou, alpha) + sum(power(t, alpha_penalty) for t in terms)


@pytest.mark.parametrize("alpha", [1.0, 3.0, 0.5])
def test_eiou_equals_the_papers_formula(alpha):
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 50, (200, 4))
    pred = np.stack([corners[:, 0], corners[:, 1], corners[:, 0] + rng.uniform(0.5, 40, 200),
                     corners[:, 1] + rng.uniform(0.5, 40, 200)], axis=1)  # fmt: skip
    target = pred + rng.normal(0, 8, (200, 4))
    target[:, 2:] = np.maximum(target[:, 2:], target[:, :2] + 0.5)
    special = [  # nested, disjoint, identical, coincident centres
        ([0, 0, 10, 10], [2, 2, 8, 8]),
        ([0, 0, 1, 1], [5, 5, 7, 9]),
        ([3, 4, 9, 12], [3, 4, 9, 12]),
        ([0, 0, 10, 4], [3, -3, 7, 7]),
    ]
    pred = np.concatenate([pred, [p for p, _ in special]])
    target = np.concatenate([target, [t for _, t in special]])
    name = "eiou" if alpha == 1.0 else f"alpha-eiou:{alpha:g}"
    from noisybox.losses import build_loss

    found = build_loss(name, reduction="none")(torch.tensor(pred), torch.tensor(target))
    expected = [_eiou_reference(p, t, alpha) for p, t in zip(pred, target, strict=True)]
    np.testing.assert_allclose(found.numpy(), expected, rtol=1e-9, atol=1e-12)
    assert found[-2].item() == pytest.approx(0.0, abs=1e-6)  # identical boxes
