"""The paper's Properties 1-5 (section 3.3, appendix A), the Box-Cox limit and gradcheck.

The gradient properties are checked against autograd. Target [0, 0, 1, 1] and prediction
[0, 0, t, 1] have IoU exactly t (eps = 0), so dL/dt from autograd is dL/dIoU.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from noisybox.losses import alpha_iou_loss, box_cox_iou_loss

from .boxes import box_pairs, random_boxes

alphas = st.floats(min_value=0.2, max_value=6.0).filter(lambda a: abs(a - 1) > 1e-3)
ious = st.floats(min_value=1e-3, max_value=1 - 1e-3)
UNIT = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)


def loss_and_gradient(iou: float, alpha: float) -> tuple[float, float]:
    """alpha-IoU loss at the given IoU and dL/dIoU, both from the library and autograd."""
    t = torch.tensor(iou, dtype=torch.float64, requires_grad=True)
    pred = torch.stack([torch.zeros_like(t), torch.zeros_like(t), t, torch.ones_like(t)])
    loss = alpha_iou_loss(pred, UNIT, kind="iou", alpha=alpha, eps=0.0)
    (gradient,) = torch.autograd.grad(loss, t)
    return loss.item(), gradient.item()


def turning_point(alpha: float) -> float:
    return alpha ** (1 / (1 - alpha))


@given(alpha=alphas, pairs=box_pairs(min_size=2))
def test_property1_order_preservingness(alpha, pairs):
    pred, target = pairs
    target = target[:1].expand_as(pred)  # several predictions of one ground truth
    iou = 1 - alpha_iou_loss(pred, target, kind="iou", alpha=1.0)
    loss = alpha_iou_loss(pred, target, kind="iou", alpha=alpha)
    i, j = np.triu_indices(len(pred), k=1)
    lower = iou[i] < iou[j]
    # Weakly everywhere; strictly wherever IoU^alpha differs by more than float64 can
    # resolve next to 1 (1 - 5e-17 rounds to 1: tiny IoUs to a high power tie at loss 1).
    assert (loss[i] >= loss[j])[lower].all() and (loss[i] <= loss[j])[iou[i] > iou[j]].all()
    resolvable = (iou[i] ** alpha - iou[j] ** alpha).abs() > 1e-12
    assert torch.equal((iou[i] < iou[j])[resolvable], (loss[i] > loss[j])[resolvable])


@given(alpha=alphas, iou=ious)
def test_property2_relative_loss_reweighting(alpha, iou):
    loss_alpha, _ = loss_and_gradient(iou, alpha)
    loss_one, _ = loss_and_gradient(iou, 1.0)
    assert loss_alpha / loss_one == pytest.approx(1 + (iou - iou**alpha) / (1 - iou), rel=1e-9)


@pytest.mark.parametrize("alpha", [0.5, 2.0, 3.0])
def test_property2_limits(alpha):
    # w(IoU = 0) = 1 and w -> alpha as IoU -> 1
    assert loss_and_gradient(1e-12, alpha)[0] / loss_and_gradient(1e-12, 1.0)[0] == (
        pytest.approx(1.0, abs=1e-5)
    )
    near_one = 1 - 1e-7
    ratio = loss_and_gradient(near_one, alpha)[0] / loss_and_gradient(near_one, 1.0)[0]
    assert ratio == pytest.approx(alpha, rel=1e-5)


@given(alpha=alphas, iou=ious)
def test_property3_relative_gradient_reweighting(alpha, iou):
    _, grad_alpha = loss_and_gradient(iou, alpha)
    _, grad_one = loss_and_gradient(iou, 1.0)
    assert grad_one == pytest.approx(-1.0, rel=1e-12)  # the IoU loss has a constant gradient
    assert abs(grad_alpha) / abs(grad_one) == pytest.approx(alpha * iou ** (alpha - 1), rel=1e-9)


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.8, 1.5, 2.0, 3.0, 5.0])
def test_property3_turning_point(alpha):
    point = turning_point(alpha)
    assert (0 < point < 1 / math.e) if alpha < 1 else (1 / math.e < point < 1)
    _, at = loss_and_gradient(point, alpha)
    assert abs(at) == pytest.approx(1.0, rel=1e-9)  # w = 1: the weights cross there
    _, above = loss_and_gradient(min(point * 1.05, 0.999), alpha)
    assert (abs(above) > 1) == (alpha > 1)  # alpha > 1 up-weights high-IoU objects


@given(alpha=alphas, iou=ious)
def test_property4_absolute_loss_reweighting(alpha, iou):
    loss_alpha, _ = loss_and_gradient(iou, alpha)
    loss_one, _ = loss_and_gradient(iou, 1.0)
    difference = loss_alpha - loss_one
    assert difference == pytest.approx(iou - iou**alpha, abs=1e-12)
    assert (difference > 0) == (alpha > 1)


@pytest.mark.parametrize(("alpha", "where", "extremum"), [(0.5, 0.25, -0.25), (2.0, 0.5, 0.25)])
def test_property4_paper_examples(alpha, where, extremum):
    grid = np.linspace(0.001, 0.999, 999)
    weights = [loss_and_gradient(x, alpha)[0] - loss_and_gradient(x, 1.0)[0] for x in grid]
    best = int(np.argmin(weights) if extremum < 0 else np.argmax(weights))
    assert grid[best] == pytest.approx(where, abs=1e-3)
    assert weights[best] == pytest.approx(extremum, abs=1e-5)
    assert where == pytest.approx(turning_point(alpha))


@given(alpha=alphas, iou=ious)
def test_property5_absolute_gradient_reweighting(alpha, iou):
    _, grad_alpha = loss_and_gradient(iou, alpha)
    _, grad_one = loss_and_gradient(iou, 1.0)
    expected = alpha * iou ** (alpha - 1) - 1
    assert abs(grad_alpha) - abs(grad_one) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assume(abs(expected) > 1e-12)  # at the turning point (α = 0.5, IoU = 0.25): neither side
    above_turning_point = iou > turning_point(alpha)
    assert (expected > 0) == (above_turning_point == (alpha > 1))


@given(alpha=alphas, pairs=box_pairs())
def test_gradient_wrt_boxes_is_reweighted_by_alpha_iou_power(alpha, pairs):
    """Chain rule on real geometry: grad L_alpha = alpha IoU^(alpha-1) grad L_IoU per box."""
    pred, target = pairs
    iou = 1 - alpha_iou_loss(pred, target, kind="iou", alpha=1.0)
    keep = iou > 1e-3  # away from the eps floor of the power
    assume(bool(keep.any()))
    pred, target, iou = pred[keep], target[keep], iou[keep]
    grads = []
    for a in (alpha, 1.0):
        boxes = pred.clone().requires_grad_(True)
        alpha_iou_loss(boxes, target, kind="iou", alpha=a).sum().backward()
        grads.append(boxes.grad)
    weight = (alpha * iou ** (alpha - 1)).unsqueeze(-1)
    torch.testing.assert_close(grads[0], weight * grads[1], rtol=1e-9, atol=1e-12)


@given(iou=ious)
def test_box_cox_is_continuous_at_zero_and_recovers_known_losses(iou):
    pred = torch.tensor([0.0, 0.0, iou, 1.0], dtype=torch.float64)
    loss = {a: box_cox_iou_loss(pred, UNIT, alpha=a, eps=1e-300).item() for a in (0, 1e-8, 1, 2)}
    assert loss[0] == pytest.approx(-math.log(iou), rel=1e-12)  # equation (2)
    assert loss[1e-8] == pytest.approx(loss[0], rel=1e-6)  # the limit alpha -> 0
    assert loss[1] == pytest.approx(1 - iou, rel=1e-12)  # the IoU loss
    assert loss[2] == pytest.approx((1 - iou**2) / 2, rel=1e-12)  # half the IoU^2 loss
    alpha = 3.0
    boxes = pred.unsqueeze(0)
    scaled = box_cox_iou_loss(boxes, UNIT, alpha=alpha, eps=0.0) * alpha
    torch.testing.assert_close(scaled, alpha_iou_loss(boxes, UNIT, alpha=alpha, eps=0.0))


def test_box_cox_is_finite_for_disjoint_boxes():
    pred = torch.tensor([[5.0, 5.0, 6.0, 6.0]], requires_grad=True)
    for alpha in (0.0, 0.5, 3.0):
        loss = box_cox_iou_loss(pred, torch.tensor([[0.0, 0.0, 1.0, 1.0]]), alpha=alpha)
        (grad,) = torch.autograd.grad(loss.sum(), pred)
        assert torch.isfinite(loss).all() and torch.isfinite(grad).all()


@pytest.mark.parametrize("kind", ["iou", "giou", "diou"])
@pytest.mark.parametrize(("alpha", "alpha_penalty"), [(1.0, None), (3.0, None), (0.5, 2.0)])
def test_gradcheck(kind, alpha, alpha_penalty):
    # CIoU is left out on purpose: its beta is a constant weight (not differentiated, as in
    # the original CIoU), which finite differences cannot see; test_losses_reference checks
    # its gradient against torchvision's and the compile test against eager.
    generator = torch.Generator().manual_seed(5)
    pred = random_boxes(6, generator).requires_grad_(True)
    target = random_boxes(6, generator)

    def loss(boxes):
        return alpha_iou_loss(boxes, target, kind=kind, alpha=alpha, alpha_penalty=alpha_penalty)

    assert torch.autograd.gradcheck(loss, (pred,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(loss, (pred,), eps=1e-6, atol=1e-5)
