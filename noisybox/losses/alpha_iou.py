"""The α-IoU family of box-regression losses (He et al., NeurIPS 2021, equations (1)-(4))."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ._utils import (
    BOX_FORMATS,
    REDUCTIONS,
    _check_choice,
    _check_positive,
    _power,
    _prepare_pairs,
    _reduce,
)
from .penalties import PENALTIES, BoxPair, PenaltyOptions, inner_iou, intersection_over_union

KINDS = tuple(PENALTIES)

#: names of the per-pair weights a loss can multiply its value by (``none``: 1)
WEIGHTS = ("none", "focal", "wise")


@dataclass(frozen=True)
class LossRecipe:
    r"""What an IoU-based loss is made of, besides α: its penalty kind and options, the IoU it
    raises (``inner_ratio`` ≠ 1: Inner-IoU's), and its per-pair weight.

    Attributes:
        kind: a key of :data:`~noisybox.losses.penalties.PENALTIES`.
        options: the penalties' parameters.
        inner_ratio: scale of the inner boxes of Inner-IoU (1: the plain IoU).
        weight: ``"none"``; ``"focal"``, Focal-EIoU's :math:`IoU^\gamma` (detached);
            ``"wise"``, Wise-IoU v1's :math:`R = \exp(\rho^2 / (c_w^2 + c_h^2)^*)`, its
            denominator detached.
        gamma: the focal weight's γ.
    """

    kind: str = "iou"
    options: PenaltyOptions = field(default_factory=PenaltyOptions)
    inner_ratio: float = 1.0
    weight: str = "none"
    gamma: float = 0.5

    def check(self) -> None:
        """Raise ``ValueError`` for a setting no loss has."""
        _check_choice("kind", self.kind, KINDS)
        _check_choice("weight", self.weight, WEIGHTS)
        _check_choice("penalty_form", self.options.penalty_form, PENALTY_FORMS)
        _check_positive("inner_ratio", self.inner_ratio)
        _check_positive("theta", self.options.theta)
        if not self.gamma >= 0:
            raise ValueError(f"gamma must be >= 0; got {self.gamma!r}")
        if not math.isfinite(self.options.shape_scale):
            raise ValueError(f"shape_scale must be finite; got {self.options.shape_scale!r}")
        size = self.options.image_size
        if size is not None and not (len(size) == 2 and all(v > 0 for v in size)):
            raise ValueError(f"image_size must be (width, height) > 0; got {size!r}")
        if self.options.penalty_form == "official" and self.kind not in ("diou", "ciou", "eiou"):
            raise ValueError(
                f"penalty_form official changes DIoU's distance term: diou, ciou and eiou "
                f"have it, {self.kind} has not"
            )
        if self.kind == "mpdiou" and size is None:
            raise ValueError("mpdiou needs image_size=(width, height) of the input images")


PENALTY_FORMS = ("paper", "official")


def _weight(pair: BoxPair, recipe: LossRecipe) -> Tensor | None:
    """The recipe's per-pair weight, not differentiated through (``None`` for 1)."""
    if recipe.weight == "focal":  # Focal-EIoU, eq. (13): IoU^γ · L
        return _power(pair.iou.detach(), recipe.gamma, pair.eps) if recipe.gamma else None
    if recipe.weight == "wise":  # Wise-IoU v1, eq. (4): exp(ρ² / (W_g² + H_g²)*)
        return torch.exp(pair.centre_distance_ratio(detach_diagonal=True))
    return None


def _alpha_iou_columns(
    cols1: Tensor, cols2: Tensor, recipe: LossRecipe, alpha: float, alpha_penalty: float, eps: float
) -> Tensor:
    """Per-pair loss of boxes given as ``(4, N)`` xyxy coordinate columns:
    ``weight · (1 - IoU^α + Σ penalty^α_penalty)``.

    Written on columns so that ``torch.compile`` vectorizes it over contiguous rows; the
    eager path feeds it strided views of ``(..., 4)`` boxes instead.
    """
    pair = BoxPair(cols1.unbind(0), cols2.unbind(0), eps)
    iou = pair.iou if recipe.inner_ratio == 1.0 else inner_iou(pair, recipe.inner_ratio)
    loss = 1 - _power(iou, alpha, eps)
    for term in PENALTIES[recipe.kind](pair, alpha_penalty, recipe.options):
        loss = loss + term
    weight = _weight(pair, recipe)
    return loss if weight is None else weight * loss


def _check_alpha_iou_args(
    recipe: LossRecipe, alpha: float, alpha_penalty: float | None, box_format: str, reduction: str
) -> float:
    """Validate the arguments shared by the functional and module forms; return α_penalty."""
    recipe.check()
    _check_choice("box_format", box_format, BOX_FORMATS)
    _check_choice("reduction", reduction, REDUCTIONS)
    _check_positive("alpha", alpha)
    alpha_penalty = alpha if alpha_penalty is None else alpha_penalty
    _check_positive("alpha_penalty", alpha_penalty)
    return float(alpha_penalty)


def recipe_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    recipe: LossRecipe,
    *,
    alpha: float,
    alpha_penalty: float | None = None,
    box_format: str = "xyxy",
    reduction: str = "none",
    eps: float = 1e-7,
) -> Tensor:
    """The IoU-based loss ``recipe`` describes, with α; what every named function calls.

    Args and returns as :func:`alpha_iou_loss`.
    """
    alpha_penalty = _check_alpha_iou_args(recipe, alpha, alpha_penalty, box_format, reduction)
    xyxy1, xyxy2 = _prepare_pairs(boxes1, boxes2, box_format)
    cols1, cols2 = xyxy1.movedim(-1, 0), xyxy2.movedim(-1, 0)
    loss = _alpha_iou_columns(cols1, cols2, recipe, float(alpha), alpha_penalty, eps)
    return _reduce(loss, reduction)


def alpha_iou_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    *,
    kind: str = "iou",
    alpha: float = 3.0,
    alpha_penalty: float | None = None,
    penalty_form: str = "paper",
    inner_ratio: float = 1.0,
    theta: float = 4.0,
    shape_scale: float = 0.0,
    image_size: tuple[float, float] | None = None,
    box_format: str = "xyxy",
    reduction: str = "none",
    eps: float = 1e-7,
) -> Tensor:
    r"""α-IoU loss between pairs of boxes, equations (3)-(4) of the α-IoU paper.

    With :math:`\alpha_1` = ``alpha`` and :math:`\alpha_2` = ``alpha_penalty``, the loss is
    :math:`1 - IoU^{\alpha_1} + \sum_i P_i^{\alpha_2}`, the penalty terms :math:`P_i` of
    ``kind``:

    - ``iou``: none.
    - ``giou``: :math:`|C \setminus (B \cup G)| / |C|` (Rezatofighi et al. 2019).
    - ``diou``: :math:`\rho^2(b, g) / c^2` (Zheng et al. 2020).
    - ``ciou``: :math:`\rho^2(b, g) / c^2` and :math:`\beta v` (Zheng et al. 2020).
    - ``eiou``: :math:`\rho^2(b, g) / c^2`, :math:`(w - w_g)^2 / c_w^2` and
      :math:`(h - h_g)^2 / c_h^2`, the EIoU loss of Zhang et al. ("Focal and Efficient IOU
      Loss", Neurocomputing 2022, eq. (9)); :math:`c_w, c_h` are the enclosing box's width
      and height. mmdetection's ``EIoULoss`` is another loss under the same name (a
      smooth-L1-like term on the corner offsets), not this one.
    - ``siou``: :math:`(\Delta + \Omega) / 2`, SIoU's distance and shape costs (Gevorgyan
      2022; :func:`~noisybox.losses.siou_loss`).
    - ``shape-iou``: Shape-IoU's weighted distance and half its shape cost (Zhang & Zhang
      2023; :func:`~noisybox.losses.shape_iou_loss`).
    - ``mpdiou``: :math:`d_1^2 / (W^2 + H^2)` and :math:`d_2^2 / (W^2 + H^2)`, the corner
      distances over the image's size (Ma & Xu 2023; :func:`~noisybox.losses.mpdiou_loss`).

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
        kind: a key of :data:`KINDS`.
        alpha: power of the IoU term, > 0 (the paper uses 3).
        alpha_penalty: power of each penalty term, > 0; defaults to ``alpha``.
        penalty_form: ``"paper"`` or ``"official"``, how ``diou``, ``ciou`` and ``eiou``
            raise the distance term: the paper's :math:`(\rho^2/c^2)^{\alpha_2}`, or the α-IoU
            authors' code's :math:`(\rho_x^{2\alpha_2} + \rho_y^{2\alpha_2}) /
            (c_w^{2\alpha_2} + c_h^{2\alpha_2})`, to reproduce that repository's numbers.
        inner_ratio: ≠ 1 replaces IoU by Inner-IoU's, of boxes scaled by this ratio about
            their centres (:func:`~noisybox.losses.inner_iou_loss`).
        theta, shape_scale, image_size: parameters of ``siou``, ``shape-iou`` and ``mpdiou``.
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
    options = PenaltyOptions(penalty_form, theta, shape_scale, _size_or_none(image_size))
    recipe = LossRecipe(kind, options, inner_ratio)
    return recipe_loss(
        boxes1,
        boxes2,
        recipe,
        alpha=alpha,
        alpha_penalty=alpha_penalty,
        box_format=box_format,
        reduction=reduction,
        eps=eps,
    )


def _size_or_none(image_size: tuple[float, float] | None) -> tuple[float, float] | None:
    """``(width, height)`` as a tuple of floats (hashable, for the compiled loss)."""
    return None if image_size is None else tuple(float(v) for v in image_size)  # type: ignore[return-value]


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
    _check_choice("box_format", box_format, BOX_FORMATS)
    _check_choice("reduction", reduction, REDUCTIONS)
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0; got {alpha!r}")
    xyxy1, xyxy2 = _prepare_pairs(boxes1, boxes2, box_format)
    iou, _ = intersection_over_union(xyxy1.unbind(-1), xyxy2.unbind(-1), eps)
    log_iou = torch.log(iou.clamp(min=eps))
    loss = -log_iou if alpha == 0 else -torch.expm1(alpha * log_iou) / alpha
    return _reduce(loss, reduction)
