"""What each IoU-based box loss adds to ``1 - IoU``: its penalty terms, by kind.

The α-IoU paper's rule (He et al. 2021, equation (3)) raises every additive penalty term to
``alpha_penalty``; each function of :data:`PENALTIES` returns its terms already raised. All
work on :class:`BoxPair`, xyxy coordinate columns in any units shared by both boxes (pixels
or normalized), so that one definition serves the eager and the compiled loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ._utils import _aspect_angle_gap, _power


@dataclass(frozen=True)
class PenaltyOptions:
    """Parameters of the penalties that have some (each default is its authors').

    Attributes:
        penalty_form: ``"paper"`` raises the DIoU term as a whole, :math:`(\\rho^2/c^2)^\\alpha`;
            ``"official"`` as the α-IoU authors' code does,
            :math:`(\\rho_x^{2\\alpha} + \\rho_y^{2\\alpha}) / (c_w^{2\\alpha} + c_h^{2\\alpha})`
            (``diou``, ``ciou`` and ``eiou``, the kinds with that term; the two agree at α = 1).
        theta: SIoU's shape-cost exponent θ (4).
        shape_scale: Shape-IoU's ``scale`` (0: its weights are 1).
        image_size: MPDIoU's input image ``(width, height)``, in the boxes' units.
    """

    penalty_form: str = "paper"
    theta: float = 4.0
    shape_scale: float = 0.0
    image_size: tuple[float, float] | None = None


class BoxPair:
    """Predicted and target boxes as xyxy coordinate columns, with what every loss uses.

    Attributes: the corners ``x1, y1, x2, y2`` (prediction) and ``gx1, gy1, gx2, gy2``
    (target); sizes ``w, h, gw, gh``; the corner offsets ``ex1 = x1 - gx1``, ``ex2``, ``ey1``,
    ``ey2``; ``union`` and ``iou = inter / (union + eps)``, the convention of
    ``torchvision.ops``.

    Intersection and enclosing box come from one identity per axis (:func:`_overlap_and_span`)
    instead of four ``minimum``/``maximum`` each, whose backward passes cost more than the
    rest of a loss; gradients at ties are split in half, as ``minimum`` and ``maximum`` do.
    """

    __slots__ = ("eps", "ex1", "ex2", "ey1", "ey2", "gh", "gw", "gx1", "gx2", "gy1", "gy2")
    __slots__ += ("h", "iou", "span_h", "span_w", "union", "w", "x1", "x2", "y1", "y2")

    def __init__(self, corners1: Sequence[Tensor], corners2: Sequence[Tensor], eps: float):
        self.x1, self.y1, self.x2, self.y2 = corners1
        self.gx1, self.gy1, self.gx2, self.gy2 = corners2
        self.w, self.h = self.x2 - self.x1, self.y2 - self.y1
        self.gw, self.gh = self.gx2 - self.gx1, self.gy2 - self.gy1
        self.ex1, self.ex2 = self.x1 - self.gx1, self.x2 - self.gx2
        self.ey1, self.ey2 = self.y1 - self.gy1, self.y2 - self.gy2
        inter_w, self.span_w = _overlap_and_span(self.w, self.gw, self.ex1, self.ex2)
        inter_h, self.span_h = _overlap_and_span(self.h, self.gh, self.ey1, self.ey2)
        inter = inter_w * inter_h
        self.union = self.w * self.h + self.gw * self.gh - inter
        self.iou = inter / (self.union + eps)
        self.eps = eps

    def enclosing_size(self) -> tuple[Tensor, Tensor]:
        """Width and height of the smallest box enclosing both."""
        return self.span_w, self.span_h

    def centre_offset(self) -> tuple[Tensor, Tensor]:
        """Target centre minus predicted centre, along x and along y."""
        return -0.5 * (self.ex1 + self.ex2), -0.5 * (self.ey1 + self.ey2)

    def centre_distance_ratio(self, detach_diagonal: bool = False) -> Tensor:
        """DIoU's :math:`\\rho^2 / c^2`: squared centre distance over the enclosing box's
        squared diagonal (+ eps); ``detach_diagonal``: the diagonal not differentiated
        through (Wise-IoU's :math:`(W_g^2 + H_g^2)^*`)."""
        sum_x, sum_y = self.ex1 + self.ex2, self.ey1 + self.ey2
        diagonal_sq = self.span_w * self.span_w + self.span_h * self.span_h + self.eps
        if detach_diagonal:
            diagonal_sq = diagonal_sq.detach()
        return 0.25 * (sum_x * sum_x + sum_y * sum_y) / diagonal_sq


def _overlap_and_span(
    size1: Tensor, size2: Tensor, offset_low: Tensor, offset_high: Tensor
) -> tuple[Tensor, Tensor]:
    """Along one axis, the overlap (clamped at 0) and the span of two intervals of sizes
    ``size1`` and ``size2`` whose low and high ends differ by ``offset_low`` and
    ``offset_high``: ``min(a2, b2) - max(a1, b1) = (size1 + size2 - spread) / 2`` and
    ``max(a2, b2) - min(a1, b1) = (size1 + size2 + spread) / 2``, with
    ``spread = |a1 - b1| + |a2 - b2|``."""
    total = size1 + size2
    spread = offset_low.abs() + offset_high.abs()
    return (0.5 * (total - spread)).clamp(min=0), 0.5 * (total + spread)


def intersection_over_union(
    corners1: Sequence[Tensor], corners2: Sequence[Tensor], eps: float
) -> tuple[Tensor, Tensor]:
    """IoU and union area of box pairs given as xyxy corner columns ``(x1, y1, x2, y2)``.

    ``IoU = |B ∩ G| / (|B ∪ G| + eps)``, the convention of ``torchvision.ops``.
    """
    pair = BoxPair(corners1, corners2, eps)
    return pair.iou, pair.union


def inner_iou(pair: BoxPair, ratio: float) -> Tensor:
    """Inner-IoU (Zhang, Xu & Zhang 2023, arXiv:2311.02877, eq. (7)-(13)): the IoU of both
    boxes scaled by ``ratio`` about their centres."""
    corners = []
    for x1, y1, x2, y2 in ((pair.x1, pair.y1, pair.x2, pair.y2),
                           (pair.gx1, pair.gy1, pair.gx2, pair.gy2)):  # fmt: skip
        half_w, half_h = 0.5 * ratio * (x2 - x1), 0.5 * ratio * (y2 - y1)
        cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
        corners.append((cx - half_w, cy - half_h, cx + half_w, cy + half_h))
    return intersection_over_union(corners[0], corners[1], pair.eps)[0]


Terms = tuple[Tensor, ...]


def _no_penalty(pair: BoxPair, alpha_penalty: float, options: PenaltyOptions) -> Terms:
    return ()


def _giou_penalty(pair: BoxPair, alpha_penalty: float, options: PenaltyOptions) -> Terms:
    """GIoU (Rezatofighi et al. 2019): :math:`|C \\setminus (B \\cup G)| / |C|`."""
    enclosing_w, enclosing_h = pair.enclosing_size()
    enclosing_area = enclosing_w * enclosing_h
    empty_fraction = (enclosing_area - pair.union) / (enclosing_area + pair.eps)
    return (_power(empty_fraction, alpha_penalty, pair.eps),)


def _distance_term(pair: BoxPair, alpha_penalty: float, options: PenaltyOptions) -> Tensor:
    """DIoU's :math:`\\rho^2/c^2` raised to ``alpha_penalty`` in ``options.penalty_form``."""
    if options.penalty_form == "paper" or alpha_penalty == 1.0:
        return _power(pair.centre_distance_ratio(), alpha_penalty, pair.eps)
    # The α-IoU authors' code (utils/general.py, bbox_alpha_iou): each axis to 2α.
    enclosing_w, enclosing_h = pair.enclosing_size()
    dx, dy = pair.centre_offset()
    twice = 2 * alpha_penalty
    eps = pair.eps
    return (_power(dx.abs(), twice, eps) + _power(dy.abs(), twice, eps)) / (
        _power(enclosing_w, twice, eps) + _power(enclosing_h, twice, eps) + eps
    )


def _diou_penalty(pair: BoxPair, alpha_penalty: float, options: PenaltyOptions) -> Terms:
    """DIoU (Zheng et al. 2020): :math:`\\rho^2(b, g) / c^2`."""
    return (_distance_term(pair, alpha_penalty, options),)


def _ciou_penalty(pair: BoxPair, alpha_penalty: float, options: PenaltyOptions) -> Terms:
    """CIoU (Zheng et al. 2020): DIoU's term and :math:`\\beta v`, with
    :math:`v = \\frac{4}{\\pi^2}(\\arctan\\frac{w_g}{h_g} - \\arctan\\frac{w}{h})^2` and the
    weight :math:`\\beta = v / (1 - IoU + v)` not differentiated through."""
    angle_gap = _aspect_angle_gap(pair.w, pair.h, pair.gw, pair.gh)
    v = (4 / torch.pi**2) * angle_gap**2
    with torch.no_grad():
        beta = v / (1 - pair.iou + v + pair.eps)
    return (_distance_term(pair, alpha_penalty, options), _power(beta * v, alpha_penalty, pair.eps))


def _eiou_penalty(pair: BoxPair, alpha_penalty: float, options: PenaltyOptions) -> Terms:
    """EIoU (Zhang et al., Neurocomputing 2022, eq. (9)): DIoU's term and each side's gap
    over the enclosing box's side, :math:`(w - w_g)^2 / c_w^2` and :math:`(h - h_g)^2 / c_h^2`."""
    enclosing_w, enclosing_h = pair.enclosing_size()
    eps = pair.eps
    width_gap = (pair.w - pair.gw) ** 2 / (enclosing_w**2 + eps)
    height_gap = (pair.h - pair.gh) ** 2 / (enclosing_h**2 + eps)
    return (
        _distance_term(pair, alpha_penalty, options),
        _power(width_gap, alpha_penalty, eps),
        _power(height_gap, alpha_penalty, eps),
    )


def _shape_cost(pair: BoxPair, theta: float, weight_w: Tensor | float = 1.0,
                weight_h: Tensor | float = 1.0) -> Tensor:  # fmt: skip
    """SIoU's and Shape-IoU's :math:`\\sum_{t=w,h} (1 - e^{-\\omega_t})^\\theta` with
    :math:`\\omega_w = |w - w_g| / \\max(w, w_g)` (+ eps, finite for two zero widths)."""
    eps = pair.eps
    omega_w = weight_w * (pair.w - pair.gw).abs() / (torch.maximum(pair.w, pair.gw) + eps)
    omega_h = weight_h * (pair.h - pair.gh).abs() / (torch.maximum(pair.h, pair.gh) + eps)
    return _power(-torch.expm1(-omega_w), theta, eps) + _power(-torch.expm1(-omega_h), theta, eps)


def _siou_penalty(pair: BoxPair, alpha_penalty: float, options: PenaltyOptions) -> Terms:
    """SIoU (Gevorgyan 2022, arXiv:2205.12740), as in YOLOv6: :math:`(\\Delta + \\Omega)/2`.

    Angle cost :math:`\\Lambda = \\sin 2\\phi`, φ the angle of the centre offset to the
    nearer axis (computed as :math:`2|s_x s_y| / (s_x^2 + s_y^2)`, equal to YOLOv6's
    :math:`\\cos(2\\arcsin(\\sin\\phi) - \\pi/2)`); distance cost
    :math:`\\Delta = \\sum_{t=x,y} (1 - e^{-(2 - \\Lambda)\\rho_t})` with
    :math:`\\rho_x = (s_x / c_w)^2` on the enclosing box; shape cost Ω of ``theta``.
    As in YOLOv6, eps is added to each centre offset, so coinciding centres are finite.
    """
    eps = pair.eps
    enclosing_w, enclosing_h = pair.enclosing_size()
    dx, dy = pair.centre_offset()
    dx, dy = dx + eps, dy + eps
    angle_cost = 2 * (dx * dy).abs() / (dx**2 + dy**2)
    gamma = 2 - angle_cost
    distance_cost = -torch.expm1(-gamma * (dx / (enclosing_w + eps)) ** 2) - torch.expm1(
        -gamma * (dy / (enclosing_h + eps)) ** 2
    )
    shape_cost = _shape_cost(pair, options.theta)
    return (_power(0.5 * (distance_cost + shape_cost), alpha_penalty, eps),)


def _shape_iou_penalty(pair: BoxPair, alpha_penalty: float, options: PenaltyOptions) -> Terms:
    """Shape-IoU (Zhang & Zhang 2023, arXiv:2312.17663, eq. (7)-(12)): the target-shape-
    weighted distance :math:`(hh\\,\\rho_x^2 + ww\\,\\rho_y^2)/c^2` and half the weighted
    shape cost, :math:`ww = 2 w_g^s / (w_g^s + h_g^s)`, :math:`hh = 2 h_g^s / (w_g^s + h_g^s)`,
    s = ``shape_scale``."""
    eps, scale = pair.eps, options.shape_scale
    if scale == 0:
        ww = hh = 1.0
    else:
        gw_s, gh_s = pair.gw.clamp(min=eps) ** scale, pair.gh.clamp(min=eps) ** scale
        ww, hh = 2 * gw_s / (gw_s + gh_s), 2 * gh_s / (gw_s + gh_s)
    enclosing_w, enclosing_h = pair.enclosing_size()
    dx, dy = pair.centre_offset()
    distance = (hh * dx**2 + ww * dy**2) / (enclosing_w**2 + enclosing_h**2 + eps)
    shape_cost = 0.5 * _shape_cost(pair, 4.0, hh, ww)
    return (_power(distance, alpha_penalty, eps), _power(shape_cost, alpha_penalty, eps))


def _mpdiou_penalty(pair: BoxPair, alpha_penalty: float, options: PenaltyOptions) -> Terms:
    """MPDIoU (Ma & Xu 2023, arXiv:2307.07662, eq. (1)): the squared distances of the top-left
    and of the bottom-right corners, each over the input image's :math:`W^2 + H^2`."""
    if options.image_size is None:
        raise ValueError("mpdiou needs image_size=(width, height) of the input images")
    width, height = options.image_size
    diagonal_sq = float(width) ** 2 + float(height) ** 2
    top_left = ((pair.x1 - pair.gx1) ** 2 + (pair.y1 - pair.gy1) ** 2) / diagonal_sq
    bottom_right = ((pair.x2 - pair.gx2) ** 2 + (pair.y2 - pair.gy2) ** 2) / diagonal_sq
    eps = pair.eps
    return (_power(top_left, alpha_penalty, eps), _power(bottom_right, alpha_penalty, eps))


Penalty = Callable[[BoxPair, float, PenaltyOptions], Terms]

#: kind -> its additive penalty terms, each raised to α_penalty.
PENALTIES: dict[str, Penalty] = {
    "iou": _no_penalty,
    "giou": _giou_penalty,
    "diou": _diou_penalty,
    "ciou": _ciou_penalty,
    "eiou": _eiou_penalty,
    "siou": _siou_penalty,
    "shape-iou": _shape_iou_penalty,
    "mpdiou": _mpdiou_penalty,
}
