"""The α-IoU family of box-regression losses (He et al., NeurIPS 2021, equations (1)-(4))."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._utils import (
    BOX_FORMATS,
    REDUCTIONS,
    _aspect_angle,
    _check_choice,
    _check_positive,
    _power,
    _prepare_pairs,
    _reduce,
)

KINDS = ("iou", "giou", "diou", "ciou", "eiou")


def _pairwise_iou(corners1: Tensor, corners2: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """IoU and union area of box pairs given as corner columns.

    ``corners1`` and ``corners2`` are sequences ``(x1, y1, x2, y2)`` of equally shaped tensors.
    ``IoU = |B ∩ G| / (|B ∪ G| + eps)``, the convention of ``torchvision.ops``.
    """
    x1, y1, x2, y2 = corners1
    gx1, gy1, gx2, gy2 = corners2
    inter_w = (torch.minimum(x2, gx2) - torch.maximum(x1, gx1)).clamp(min=0)
    inter_h = (torch.minimum(y2, gy2) - torch.maximum(y1, gy1)).clamp(min=0)
    inter = inter_w * inter_h
    union = (x2 - x1) * (y2 - y1) + (gx2 - gx1) * (gy2 - gy1) - inter
    return inter / (union + eps), union


def _alpha_iou_columns(
    cols1: Tensor, cols2: Tensor, kind: str, alpha: float, alpha_penalty: float, eps: float
) -> Tensor:
    """Per-pair α-IoU loss of boxes given as ``(4, N)`` xyxy coordinate columns.

    Written on columns so that ``torch.compile`` vectorizes it over contiguous rows; the
    eager path feeds it strided views of ``(..., 4)`` boxes instead.
    """
    x1, y1, x2, y2 = cols1.unbind(0)
    gx1, gy1, gx2, gy2 = cols2.unbind(0)
    iou, union = _pairwise_iou((x1, y1, x2, y2), (gx1, gy1, gx2, gy2), eps)
    loss = 1 - _power(iou, alpha, eps)
    if kind == "iou":
        return loss
    enclosing_w = torch.maximum(x2, gx2) - torch.minimum(x1, gx1)
    enclosing_h = torch.maximum(y2, gy2) - torch.minimum(y1, gy1)
    if kind == "giou":
        enclosing_area = enclosing_w * enclosing_h
        empty_fraction = (enclosing_area - union) / (enclosing_area + eps)
        return loss + _power(empty_fraction, alpha_penalty, eps)
    diagonal_sq = enclosing_w**2 + enclosing_h**2 + eps
    center_dist_sq = ((x1 + x2 - gx1 - gx2) ** 2 + (y1 + y2 - gy1 - gy2) ** 2) / 4
    loss = loss + _power(center_dist_sq / diagonal_sq, alpha_penalty, eps)
    if kind == "diou":
        return loss
    if kind == "eiou":  # each side's gap over the enclosing box's side, squared
        width_gap = ((x2 - x1) - (gx2 - gx1)) ** 2 / (enclosing_w**2 + eps)
        height_gap = ((y2 - y1) - (gy2 - gy1)) ** 2 / (enclosing_h**2 + eps)
        return loss + _power(width_gap, alpha_penalty, eps) + _power(height_gap, alpha_penalty, eps)
    angle_gap = _aspect_angle(gx2 - gx1, gy2 - gy1) - _aspect_angle(x2 - x1, y2 - y1)
    v = (4 / math.pi**2) * angle_gap**2
    beta = (v / (1 - iou + v + eps)).detach()
    return loss + _power(beta * v, alpha_penalty, eps)


def _check_alpha_iou_args(
    kind: str, alpha: float, alpha_penalty: float | None, box_format: str, reduction: str
) -> float:
    """Validate the arguments shared by the functional and module forms; return α_penalty."""
    _check_choice("kind", kind, KINDS)
    _check_choice("box_format", box_format, BOX_FORMATS)
    _check_choice("reduction", reduction, REDUCTIONS)
    _check_positive("alpha", alpha)
    alpha_penalty = alpha if alpha_penalty is None else alpha_penalty
    _check_positive("alpha_penalty", alpha_penalty)
    return float(alpha_penalty)


def alpha_iou_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    *,
    kind: str = "iou",
    alpha: float = 3.0,
    alpha_penalty: float | None = None,
    box_format: str = "xyxy",
    reduction: str = "none",
    eps: float = 1e-7,
) -> Tensor:
    r"""α-IoU loss between pairs of boxes, equations (3)-(4) of the α-IoU paper.

    With :math:`\alpha_1` = ``alpha`` and :math:`\alpha_2` = ``alpha_penalty``:

    - ``iou``:  :math:`1 - IoU^{\alpha_1}`
    - ``giou``: :math:`1 - IoU^{\alpha_1} + (|C \setminus (B \cup G)| / |C|)^{\alpha_2}`
    - ``diou``: :math:`1 - IoU^{\alpha_1} + (\rho^2(b, g) / c^2)^{\alpha_2}`
    - ``ciou``: :math:`1 - IoU^{\alpha_1} + (\rho^2(b, g) / c^2)^{\alpha_2} + (\beta v)^{\alpha_2}`
    - ``eiou``: :math:`1 - IoU^{\alpha_1} + (\rho^2(b, g) / c^2)^{\alpha_2} +
      ((w - w_g)^2 / c_w^2)^{\alpha_2} + ((h - h_g)^2 / c_h^2)^{\alpha_2}`, the EIoU loss of
      Zhang et al. ("Focal and Efficient IOU Loss", Neurocomputing 2022, eq. (9)) with the
      α-IoU rule (each additive penalty to ``alpha_penalty``); :math:`c_w, c_h` are the
      enclosing box's width and height. mmdetection's ``EIoULoss`` is another loss under
      the same name (a smooth-L1-like term on the corner offsets), not this one.

    where C is the smallest box enclosing B and G, :math:`\rho` the distance between their
    centres, c the diagonal of C, :math:`v = \frac{4}{\pi^2}(\arctan\frac{w_g}{h_g} -
    \arctan\frac{w}{h})^2` and :math:`\beta = v / (1 - IoU + v)`. As in the original CIoU,
    β is a weight, not differentiated through. ``alpha = 1`` gives the plain IoU, GIoU,
    DIoU and CIoU losses, equal to ``torchvision.ops`` (same ``eps`` conventions).

    Numerically safe: the loss and its gradient are finite for zero-area, identical,
    disjoint, tiny and huge boxes and for ``alpha < 1`` at IoU = 0 (powers of values
    ``<= eps`` are taken as 0 with zero gradient; a box of zero width and height has
    aspect angle 0).

    Args:
        boxes1: predicted boxes, shape ``(..., 4)``, in ``box_format``, any units (pixels or
            normalized) as long as both inputs share them.
        boxes2: target boxes, broadcastable against ``boxes1``.
        kind: ``"iou"``, ``"giou"``, ``"diou"``, ``"ciou"`` or ``"eiou"``.
        alpha: power of the IoU term, > 0 (the paper uses 3).
        alpha_penalty: power of the penalty term, > 0; defaults to ``alpha``.
        box_format: ``"xyxy"`` (corners), ``"xywh"`` (top-left corner and size) or
            ``"cxcywh"`` (centre and size).
        reduction: ``"none"`` (one loss per pair), ``"mean"`` (0 for no pairs) or ``"sum"``.
        eps: small number added to denominators, as in ``torchvision.ops``.

    Returns:
        The loss, shape ``boxes.shape[:-1]`` for ``reduction="none"``, else a scalar. float64
        inputs compute and return float64; everything else (float32, float16, bfloat16,
        integers) computes and returns float32. Gradients reach a 16-bit input cast to its
        dtype: exact float32 gradients, which can exceed float16's range (65504) for boxes
        smaller than about 1e-4 pixels, as any float16 computation would.
    """
    alpha_penalty = _check_alpha_iou_args(kind, alpha, alpha_penalty, box_format, reduction)
    xyxy1, xyxy2 = _prepare_pairs(boxes1, boxes2, box_format)
    cols1, cols2 = xyxy1.movedim(-1, 0), xyxy2.movedim(-1, 0)
    loss = _alpha_iou_columns(cols1, cols2, kind, float(alpha), alpha_penalty, eps)
    return _reduce(loss, reduction)


def _check_box_cox_args(alpha: float, box_format: str, reduction: str) -> None:
    _check_choice("box_format", box_format, BOX_FORMATS)
    _check_choice("reduction", reduction, REDUCTIONS)
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0; got {alpha!r}")


def box_cox_iou_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    *,
    alpha: float = 1.0,
    box_format: str = "xyxy",
    reduction: str = "none",
    eps: float = 1e-7,
) -> Tensor:
    r"""Box-Cox α-IoU loss :math:`(1 - IoU^\alpha) / \alpha`, equation (1) of the α-IoU paper.

    Continuous in α down to ``alpha = 0``, where it is the log-IoU loss
    :math:`-\log IoU` (equation (2)): it is evaluated as
    :math:`-\mathrm{expm1}(\alpha \log IoU) / \alpha`, accurate for small α. IoU is floored at
    ``eps`` so that the loss stays finite for disjoint boxes (there it is
    :math:`(1 - eps^\alpha) / \alpha`, or :math:`-\log eps` at α = 0, with zero gradient).

    Args:
        boxes1, boxes2: ``(..., 4)`` boxes in ``box_format``, broadcastable.
        alpha: the Box-Cox power, ``>= 0``.
        box_format, reduction, eps: as in :func:`alpha_iou_loss`.

    Returns:
        As :func:`alpha_iou_loss`.
    """
    _check_box_cox_args(alpha, box_format, reduction)
    xyxy1, xyxy2 = _prepare_pairs(boxes1, boxes2, box_format)
    iou, _ = _pairwise_iou(xyxy1.unbind(-1), xyxy2.unbind(-1), eps)
    log_iou = torch.log(iou.clamp(min=eps))
    loss = -log_iou if alpha == 0 else -torch.expm1(alpha * log_iou) / alpha
    return _reduce(loss, reduction)
