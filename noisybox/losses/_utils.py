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

    For ``exponent == 1`` this is ``x`` itself. Otherwise values ``<= eps`` (including the
    tiny negatives that rounding can leave in a non-negative quantity) map to 0 with zero
    gradient, so that ``exponent < 1`` never meets the infinite slope of ``x ** exponent``
    at 0. The value differs from the exact power by at most ``eps ** exponent`` there.
    """
    if exponent == 1.0:
        return x
    above = x > eps
    safe = torch.where(above, x, 1.0)
    return torch.where(above, safe.pow(exponent), 0.0)


def _aspect_angle(width: Tensor, height: Tensor) -> Tensor:
    """``atan(width / height)`` for non-negative sizes, in radians.

    Computed as ``atan2`` so that a zero height gives pi/2 with a finite gradient; a box of
    zero width and height has no aspect ratio and gets angle 0 with zero gradient.
    """
    nonempty = (width != 0) | (height != 0)
    angle = torch.atan2(torch.where(nonempty, width, 1.0), torch.where(nonempty, height, 1.0))
    return torch.where(nonempty, angle, 0.0)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction``; the mean of no elements is 0 (kept in the autograd graph)."""
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss
