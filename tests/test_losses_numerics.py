"""Finite losses and gradients in every corner case, every dtype and every device here."""

import pytest
import torch

from noisybox.losses import KINDS, alpha_iou_loss

from .boxes import CORNER_CASES as CASES
from .boxes import UNIT

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
POWERS = [(0.3, None), (0.5, 0.5), (1.0, None), (3.0, None), (3.0, 0.5)]


def case_tensors(dtype=torch.float32, device="cpu"):
    pred = torch.tensor([p for p, _ in CASES.values()], dtype=dtype, device=device)
    target = torch.tensor([t for _, t in CASES.values()], dtype=dtype, device=device)
    return pred, target


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("alpha", "alpha_penalty"), POWERS)
def test_loss_and_gradient_are_finite(device, dtype, kind, alpha, alpha_penalty):
    pred, target = case_tensors(dtype, device)
    compute_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    pred_computed = pred.to(compute_dtype).requires_grad_(True)
    pred.requires_grad_(True)
    kwargs = {"kind": kind, "alpha": alpha, "alpha_penalty": alpha_penalty, "image_size": (8, 6)}
    loss = alpha_iou_loss(pred, target, **kwargs)
    loss.sum().backward()
    alpha_iou_loss(pred_computed, target, **kwargs).sum().backward()
    names = list(CASES)
    bad = [names[i] for i in range(len(names)) if not torch.isfinite(loss[i])]
    assert not bad, f"non-finite loss for {bad}"
    grad = pred_computed.grad
    bad = [names[i] for i in range(len(names)) if not torch.isfinite(grad[i]).all()]
    assert not bad, f"non-finite gradient for {bad}"
    # A 16-bit input gets the float32 gradient cast to its dtype: finite wherever it fits.
    assert pred.grad.dtype == dtype
    torch.testing.assert_close(pred.grad, grad.to(dtype), rtol=0, atol=0)
    fits = grad.abs() <= torch.finfo(dtype).max
    assert torch.isfinite(pred.grad[fits]).all()


@pytest.mark.parametrize("kind", KINDS)
def test_known_values_at_the_extremes(kind):
    pred, target = case_tensors(torch.float64)
    values = alpha_iou_loss(pred, target, kind=kind, alpha=3.0, image_size=(8, 6)).tolist()
    loss = dict(zip(CASES, values, strict=True))
    assert loss["identical"] == pytest.approx(0.0, abs=1e-6)
    if kind in ("iou", "giou"):  # nested: no empty part of the enclosing box
        assert loss["nested"] == pytest.approx(1 - 0.125**3, abs=1e-6)
    assert loss["disjoint"] >= 1.0  # IoU = 0 and a non-negative penalty
    assert loss["huge disjoint"] >= 1.0
    if kind != "iou":
        assert loss["disjoint"] > 1.0  # the penalty still pulls disjoint boxes together


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32])
def test_low_precision_inputs_compute_and_return_float32(dtype):
    pred, target = case_tensors(torch.float64)
    pred, target = (pred * 100).to(dtype), (target * 100).to(dtype)
    loss = alpha_iou_loss(pred, target, kind="ciou")
    assert loss.dtype == torch.float32
    expected = alpha_iou_loss(pred.float(), target.float(), kind="ciou")
    torch.testing.assert_close(loss, expected, equal_nan=True)  # 1e6 overflows float16


def test_float64_stays_float64():
    pred, target = case_tensors(torch.float64)
    assert alpha_iou_loss(pred, target, kind="giou").dtype == torch.float64


def test_alpha_below_one_at_iou_zero_has_zero_iou_gradient():
    # d(IoU^alpha)/dIoU is infinite at 0 for alpha < 1; the loss must not turn it into NaN.
    pred = torch.tensor([[5.0, 5.0, 6.0, 6.0]], requires_grad=True)
    loss = alpha_iou_loss(pred, torch.tensor([UNIT]), kind="iou", alpha=0.5)
    loss.backward()
    assert loss.item() == 1.0
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_autocast_inputs_are_computed_in_float32():
    pred, target = case_tensors()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = alpha_iou_loss(pred.bfloat16(), target.bfloat16(), kind="ciou")
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all()
