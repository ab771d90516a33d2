"""Helpers shared by the box losses: argument checks, dtypes, formats, powers, reductions."""

from __future__ import annotations

import torch
from torch import Tensor

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
REDUCTIONS = ("none", "mean", "sum")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:  # also rejects NaN
        raise ValueError(f"{name} must be > 0; got {value!r}")


def _upcast(boxes: Tensor) -> Tensor:
    """float32 and float64 are kept; integers and 16-bit floats are computed in float32."""
    if boxes.dtype in (torch.float32, torch.float64):
        return boxes
    return boxes.float()


def _to_xyxy(boxes: Tensor, box_format: str) -> Tensor:
    """Convert ``(..., 4)`` boxes from ``box_format`` to corners ``(x1, y1, x2, y2)``.

    Differentiable; ``xyxy`` boxes are returned as they are.
    """
    if box_format == "xyxy":
        return boxes
    a, b, c, d = boxes.unbind(-1)
    if box_format == "xywh":
        return torch.stack((a, b, a + c, b + d), dim=-1)
    half_w, half_h = 0.5 * c, 0.5 * d
    return torch.stack((a - half_w, b - half_h, a + half_w, b + half_h), dim=-1)


def _prepare_pairs(boxes1: Tensor, boxes2: Tensor, box_format: str) -> tuple[Tensor, Tensor]:
    """Check two ``(..., 4)`` box tensors and return them as xyxy in the computation dtype.

    The two tensors are broadcast against each other; the result has the broadcast shape.
    ``box_format`` is assumed checked by the caller.
    """
    if boxes1.shape[-1:] != (4,) or boxes2.shape[-1:] != (4,):
        raise ValueError(
            f"boxes must have shape (..., 4); got {tuple(boxes1.shape)} and {tuple(boxes2.shape)}"
        )
    boxes1, boxes2 = torch.broadcast_tensors(_upcast(boxes1), _upcast(boxes2))
    dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    return _to_xyxy(boxes1.to(dtype), box_format), _to_xyxy(boxes2.to(dtype), box_format)


def _power(x: Tensor, exponent: float, eps: float) -> Tensor:
    """``x ** exponent`` for ``x >= 0`` with a finite gradient everywhere.

    For ``exponent == 1`` this is ``x`` itself; integer exponents up to 4 are products (several
    times faster than a general ``pow``, forward and backward). Exponents ``>= 1`` are taken of
    ``x`` clamped at 0, so the tiny negatives that rounding can leave in a non-negative
    quantity give 0. Below 1, values ``<= eps`` map to 0 with zero gradient, so that
    ``exponent < 1`` never meets the infinite slope of ``x ** exponent`` at 0; the value
    differs from the exact power by at most ``eps ** exponent`` there.
    """
    if exponent == 1.0:
        return x
    if exponent > 1.0:
        x = x.clamp(min=0)
        if exponent == 2.0:
            return x * x
        if exponent == 3.0:
            return x * x * x
        if exponent == 4.0:
            square = x * x
            return square * square
        return x.pow(exponent)
    above = x > eps
    safe = torch.where(above, x, 1.0)
    return torch.where(above, safe.pow(exponent), 0.0)


def _aspect_angle_gap(width1: Tensor, height1: Tensor, width2: Tensor, height2: Tensor) -> Tensor:
    """``atan(width2 / height2) - atan(width1 / height1)`` for non-negative sizes, in radians.

    One ``atan2`` of the difference formula, :math:`\\arctan a - \\arctan b =
    \\arctan\\frac{a - b}{1 + ab}`, times :math:`h_1 h_2`: both angles lie in [0, π/2], so
    the gap lies in [-π/2, π/2] and ``atan2(w2 h1 - w1 h2, h1 h2 + w1 w2)`` is exact, with
    a zero height giving its angle π/2 and a finite gradient. A box of zero width and height
    has no aspect ratio: a gap involving one is 0, with zero gradient.
    """
    numerator = width2 * height1 - width1 * height2
    denominator = height1 * height2 + width1 * width2
    defined = (numerator != 0) | (denominator != 0)
    gap = torch.atan2(torch.where(defined, numerator, 0.0), torch.where(defined, denominator, 1.0))
    return torch.where(defined, gap, 0.0)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction``; the mean of no elements is 0 (kept in the autograd graph)."""
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss
