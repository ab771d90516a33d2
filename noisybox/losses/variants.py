"""The IoU-loss variants of 2021-2023 by name: a function and an ``nn.Module`` for each.

Each is :func:`~noisybox.losses.alpha_iou_loss` with its penalty kind, its parameters and
α = 1 by default; any ``alpha`` ≠ 1 applies the α-IoU rule (IoU to α, each additive
penalty term to ``alpha_penalty``, default α). Boxes are ``(..., 4)`` in ``box_format``;
``box_format``, ``reduction`` and ``eps`` are as in ``alpha_iou_loss``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._utils import _check_positive, _prepare_pairs, _reduce
from .alpha_iou import LossRecipe, _size_or_none, recipe_loss
from .modules import AlphaIoULoss
from .penalties import PenaltyOptions, intersection_over_union

#: Inner-IoU's ratio of the inner boxes here. The authors' code defaults to 1.0, which is the
#: plain loss; their paper uses ratios in [0.5, 1.5], below 1 to speed up high-IoU pairs.
INNER_RATIO = 0.7

__all__ = [
    "EIoULoss",
    "FocalEIoULoss",
    "InnerIoULoss",
    "MPDIoULoss",
    "SIoULoss",
    "ShapeIoULoss",
    "WiseIoULoss",
    "eiou_loss",
    "focal_eiou_loss",
    "inner_iou_loss",
    "mpdiou_loss",
    "shape_iou_loss",
    "siou_loss",
    "wise_iou_focus",
    "wise_iou_loss",
    "wise_iou_momentum",
]


def eiou_loss(boxes1: Tensor, boxes2: Tensor, *, alpha: float = 1.0, **kwargs) -> Tensor:
    r"""EIoU loss (Zhang et al., "Focal and Efficient IOU Loss for Accurate Bounding Box
    Regression", Neurocomputing 2022, eq. (9)):
    :math:`1 - IoU + \rho^2/c^2 + (w - w_g)^2/c_w^2 + (h - h_g)^2/c_h^2`, :math:`c_w, c_h, c`
    the enclosing box's width, height and diagonal. Not mmdetection's ``EIoULoss``, which is
    another loss (a smooth-L1-like term on corner offsets) under the same name."""
    return recipe_loss(boxes1, boxes2, LossRecipe("eiou"), alpha=alpha, **kwargs)


def focal_eiou_loss(
    boxes1: Tensor, boxes2: Tensor, *, gamma: float = 0.5, alpha: float = 1.0, **kwargs
) -> Tensor:
    r"""Focal-EIoU loss (Zhang et al. 2022, eq. (13)): :math:`IoU^\gamma \cdot L_{EIoU}`,
    γ = 0.5, the weight :math:`IoU^\gamma` not differentiated through (it re-weights pairs,
    as the authors' YOLO code does by detaching it)."""
    recipe = LossRecipe("eiou", weight="focal", gamma=gamma)
    return recipe_loss(boxes1, boxes2, recipe, alpha=alpha, **kwargs)


def siou_loss(
    boxes1: Tensor, boxes2: Tensor, *, theta: float = 4.0, alpha: float = 1.0, **kwargs
) -> Tensor:
    r"""SIoU loss (Gevorgyan, "SIoU Loss: More Powerful Learning for Bounding Box
    Regression", arXiv:2205.12740, 2022) in its paper and YOLOv6 form:
    :math:`1 - IoU + (\Delta + \Omega) / 2`, the angle-aware distance cost Δ with
    :math:`\gamma = 2 - \Lambda` on the enclosing box and the shape cost Ω with exponent
    ``theta`` (4). See :data:`~noisybox.losses.penalties.PENALTIES` for the terms."""
    recipe = LossRecipe("siou", PenaltyOptions(theta=theta))
    return recipe_loss(boxes1, boxes2, recipe, alpha=alpha, **kwargs)


def mpdiou_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    *,
    image_size: tuple[float, float],
    alpha: float = 1.0,
    **kwargs,
) -> Tensor:
    r"""MPDIoU loss (Ma & Xu, "MPDIoU: A Loss for Efficient and Accurate Bounding Box
    Regression", arXiv:2307.07662, 2023, eq. (1)-(3)):
    :math:`1 - (IoU - d_1^2/(W^2 + H^2) - d_2^2/(W^2 + H^2))`, :math:`d_1, d_2` the distances
    of the top-left and bottom-right corners and W, H the **input image**'s width and height
    (``image_size``, in the boxes' units), not the enclosing box's as some copies have it."""
    recipe = LossRecipe("mpdiou", PenaltyOptions(image_size=_size_or_none(image_size)))
    return recipe_loss(boxes1, boxes2, recipe, alpha=alpha, **kwargs)


def inner_iou_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    *,
    kind: str = "iou",
    ratio: float = INNER_RATIO,
    alpha: float = 1.0,
    **kwargs,
) -> Tensor:
    r"""Inner-IoU losses (Zhang, Xu & Zhang, "Inner-IoU: More Effective Intersection over
    Union Loss with Auxiliary Bounding Box", arXiv:2311.02877, 2023, eq. (14)):
    :math:`L_{Inner\text{-}X} = L_X + IoU - IoU^{inner}`, :math:`IoU^{inner}` the IoU of both
    boxes scaled by ``ratio`` about their centres (< 1 for high-IoU pairs, > 1 for low), the
    penalty terms of ``kind`` (``"iou"``, ``"giou"``, ``"diou"``, ``"ciou"``, ``"eiou"``,
    ``"siou"``) on the original boxes."""
    recipe = LossRecipe(kind, inner_ratio=ratio)
    return recipe_loss(boxes1, boxes2, recipe, alpha=alpha, **kwargs)


def shape_iou_loss(
    boxes1: Tensor, boxes2: Tensor, *, scale: float = 0.0, alpha: float = 1.0, **kwargs
) -> Tensor:
    r"""Shape-IoU loss (Zhang & Zhang, "Shape-IoU: More Accurate Metric considering Bounding
    Box Shape and Scale", arXiv:2312.17663, 2023, eq. (7)-(12)):
    :math:`1 - IoU + distance^{shape} + \Omega^{shape} / 2`, the centre distance and shape
    cost weighted by the target's shape, :math:`ww = 2 w_g^s / (w_g^s + h_g^s)` and
    :math:`hh = 2 h_g^s / (w_g^s + h_g^s)`, s = ``scale`` (0, the authors' default, makes both
    weights 1)."""
    recipe = LossRecipe("shape-iou", PenaltyOptions(shape_scale=scale))
    return recipe_loss(boxes1, boxes2, recipe, alpha=alpha, **kwargs)


def wise_iou_focus(
    iou_loss: Tensor, iou_mean: float | Tensor, *, focus_alpha: float, focus_delta: float
) -> Tensor:
    r"""Wise-IoU v3's non-monotonic focusing coefficient (Tong et al., "Wise-IoU: Bounding
    Box Regression Loss with Dynamic Focusing Mechanism", arXiv:2301.10051, eq. (9)):
    :math:`r = \beta / (\delta \alpha^{\beta - \delta})`, outlier degree
    :math:`\beta = L_{IoU}^* / \overline{L_{IoU}}`, :math:`L_{IoU} = 1 - IoU` detached and
    :math:`\overline{L_{IoU}}` its running mean. ``focus_alpha`` and ``focus_delta`` are the
    paper's α and δ (named apart from the α-IoU power)."""
    beta = iou_loss.detach() / iou_mean
    return beta / (focus_delta * torch.pow(focus_alpha, beta - focus_delta))


def _detached_iou_loss(boxes1: Tensor, boxes2: Tensor, box_format: str, eps: float) -> Tensor:
    """:math:`1 - IoU` of each pair, outside the autograd graph (Wise-IoU v3's outlier
    degree is a weight, not differentiated through)."""
    xyxy1, xyxy2 = _prepare_pairs(boxes1.detach(), boxes2.detach(), box_format)
    return 1 - intersection_over_union(xyxy1.unbind(-1), xyxy2.unbind(-1), eps)[0]


#: Wise-IoU v3's focusing defaults, from the authors' code (Instinct323/wiou, v1 branch); the
#: momentum 0.01 is theirs for about 300 training steps (see :func:`wise_iou_momentum`)
WISE_FOCUS_ALPHA, WISE_FOCUS_DELTA, WISE_MOMENTUM = 1.9, 3.0, 1e-2


def wise_iou_momentum(steps: int) -> float:
    """The authors' running-mean momentum for ``steps`` training steps (batches per epoch
    times epochs): :math:`1 - 0.05^{1/steps}`, so the first mean keeps 5% of its weight
    at the end."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps!r}")
    return 1 - 0.05 ** (1 / steps)


def wise_iou_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    *,
    alpha: float = 1.0,
    iou_mean: float | Tensor | None = None,
    focus_alpha: float = WISE_FOCUS_ALPHA,
    focus_delta: float = WISE_FOCUS_DELTA,
    box_format: str = "xyxy",
    reduction: str = "none",
    eps: float = 1e-7,
) -> Tensor:
    r"""Wise-IoU loss (Tong et al. 2023, arXiv:2301.10051).

    v1 (``iou_mean=None``, eq. (4)): :math:`R_{WIoU} (1 - IoU^\alpha)`,
    :math:`R_{WIoU} = \exp(\rho^2 / (W_g^2 + H_g^2)^*)`, :math:`W_g, H_g` the enclosing box's
    size, its denominator detached (the ``*``); α = 1 is the paper's, α ≠ 1 the α-IoU rule.
    v3 (``iou_mean`` given, eq. (9)): v1 times :func:`wise_iou_focus`, the running mean
    ``iou_mean`` of :math:`1 - IoU` kept by the caller (:class:`WiseIoULoss` keeps it).
    """
    loss = recipe_loss(
        boxes1,
        boxes2,
        LossRecipe("iou", weight="wise"),
        alpha=alpha,
        box_format=box_format,
        eps=eps,
    )
    if iou_mean is not None:
        iou_loss = _detached_iou_loss(boxes1, boxes2, box_format, eps)
        loss = loss * wise_iou_focus(
            iou_loss, iou_mean, focus_alpha=focus_alpha, focus_delta=focus_delta
        )
    return _reduce(loss, reduction)


class EIoULoss(AlphaIoULoss):
    """Module form of :func:`eiou_loss`."""

    def __init__(self, alpha: float = 1.0, **kwargs) -> None:
        super().__init__("eiou", alpha, **kwargs)


class FocalEIoULoss(AlphaIoULoss):
    """Module form of :func:`focal_eiou_loss`."""

    def __init__(self, alpha: float = 1.0, *, gamma: float = 0.5, **kwargs) -> None:
        super().__init__("eiou", alpha, weight="focal", gamma=gamma, **kwargs)


class SIoULoss(AlphaIoULoss):
    """Module form of :func:`siou_loss`."""

    def __init__(self, alpha: float = 1.0, **kwargs) -> None:
        super().__init__("siou", alpha, **kwargs)


class MPDIoULoss(AlphaIoULoss):
    """Module form of :func:`mpdiou_loss`; ``image_size`` is the input images' ``(W, H)``
    (the trainer sets it to its square input size)."""

    def __init__(self, alpha: float = 1.0, **kwargs) -> None:
        super().__init__("mpdiou", alpha, **kwargs)


class InnerIoULoss(AlphaIoULoss):
    """Module form of :func:`inner_iou_loss`."""

    def __init__(
        self, kind: str = "iou", alpha: float = 1.0, *, ratio: float = INNER_RATIO, **kwargs
    ) -> None:
        super().__init__(kind, alpha, inner_ratio=ratio, **kwargs)


class ShapeIoULoss(AlphaIoULoss):
    """Module form of :func:`shape_iou_loss`."""

    def __init__(self, alpha: float = 1.0, *, scale: float = 0.0, **kwargs) -> None:
        super().__init__("shape-iou", alpha, shape_scale=scale, **kwargs)


class WiseIoULoss(AlphaIoULoss):
    """Module form of :func:`wise_iou_loss`: v1, or v3 with ``focusing=True``.

    v3 keeps the running mean of :math:`1 - IoU` as the buffer ``iou_mean`` (saved in a
    state dict, hence in checkpoints, and restored on resume). In training mode every call
    first updates it, ``iou_mean ← (1 - m) iou_mean + m · mean(1 - IoU)``, then scales each
    pair by :func:`wise_iou_focus`, as the authors' code does; in eval mode it is read only.

    Args:
        alpha: α of the IoU term (1: the paper's Wise-IoU).
        focusing: v3's dynamic focusing.
        momentum: m of the running mean; the authors' code sets it from the length of
            training (:func:`wise_iou_momentum`), as the trainer does.
        focus_alpha, focus_delta: the paper's α and δ.
        **kwargs: as :class:`AlphaIoULoss` (``box_format``, ``reduction``, ``compile``...).
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        focusing: bool = False,
        momentum: float = WISE_MOMENTUM,
        focus_alpha: float = WISE_FOCUS_ALPHA,
        focus_delta: float = WISE_FOCUS_DELTA,
        **kwargs,
    ) -> None:
        super().__init__("iou", alpha, weight="wise", **kwargs)
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum must be in (0, 1]; got {momentum!r}")
        _check_positive("focus_alpha", focus_alpha)
        _check_positive("focus_delta", focus_delta)
        self.focusing, self.momentum = focusing, momentum
        self.focus_alpha, self.focus_delta = focus_alpha, focus_delta
        self.register_buffer("iou_mean", torch.tensor(1.0), persistent=focusing)

    def per_pair(self, pred: Tensor, target: Tensor) -> Tensor:
        loss = super().per_pair(pred, target)
        if not self.focusing:
            return loss
        iou_loss = _detached_iou_loss(pred, target, self.box_format, self.eps)
        if self.training and iou_loss.numel() > 0:
            with torch.no_grad():
                self.iou_mean.lerp_(iou_loss.mean().to(self.iou_mean), self.momentum)
        focus = wise_iou_focus(
            iou_loss, self.iou_mean, focus_alpha=self.focus_alpha, focus_delta=self.focus_delta
        )
        return loss * focus.to(loss.dtype)

    def extra_repr(self) -> str:
        extra = f", focusing=True, momentum={self.momentum}" if self.focusing else ""
        return super().extra_repr() + extra
