"""``nn.Module`` forms of the box losses, for use inside detectors."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._utils import REDUCTIONS, _check_choice, _prepare_pairs, _reduce, _upcast
from .alpha_iou import (
    LossRecipe,
    _alpha_iou_columns,
    _check_alpha_iou_args,
    _size_or_none,
    box_cox_iou_loss,
    recipe_loss,
)
from .penalties import PenaltyOptions

# Below this many pairs the compiled kernel gains nothing, and sizes 0 and 1 would each
# trigger a fresh compilation (torch.compile specializes them even with dynamic shapes).
_MIN_PAIRS_TO_COMPILE = 2


def _loss_and_gradient(
    cols1: Tensor,
    cols2: Tensor,
    recipe: LossRecipe,
    alpha: float,
    alpha_penalty: float,
    eps: float,
) -> tuple[Tensor, Tensor]:
    """Per-pair loss of ``(4, N)`` xyxy columns and its gradient w.r.t. ``cols1``, together.

    Compiled, forward and gradient become one loop over the pairs that reads the boxes
    once and keeps no intermediate for a backward pass.
    """
    loss, vjp = torch.func.vjp(
        lambda cols: _alpha_iou_columns(cols, cols2, recipe, alpha, alpha_penalty, eps), cols1
    )
    (gradient,) = vjp(torch.ones_like(loss))
    return loss, gradient


class _FusedLoss(torch.autograd.Function):
    """Autograd node for :func:`_loss_and_gradient`: backward only scales the saved gradient.

    Each loss depends on its own pair alone, so the gradient of ``sum(grad_loss * loss)``
    is ``grad_loss * gradient`` column by column. Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, cols1, cols2, loss_and_gradient, arguments):  # type: ignore[override]
        loss, gradient = loss_and_gradient(cols1, cols2, *arguments)
        ctx.save_for_backward(gradient)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):  # type: ignore[override]
        (gradient,) = ctx.saved_tensors
        return gradient * grad_loss, None, None, None


class AlphaIoULoss(nn.Module):
    """Module form of :func:`~noisybox.losses.alpha_iou_loss`, and of every IoU-based loss
    built on it (the named modules below set ``kind`` and their own defaults);
    ``forward(pred, target)``.

    Args:
        kind, alpha, alpha_penalty, penalty_form, inner_ratio, theta, shape_scale,
            image_size, box_format, reduction, eps: as in ``alpha_iou_loss`` (``reduction``
            defaults to ``"mean"`` here, as in ``torch.nn`` losses).
        weight, gamma: a per-pair weight, as in :class:`~noisybox.losses.LossRecipe`
            (``"focal"`` for Focal-EIoU, ``"wise"`` for Wise-IoU).
        compile: fuse the loss and its gradient into one ``torch.compile``d loop over the
            pairs (see ``benchmarks/bench_losses.py`` for the speed-up). It applies where
            ``pred`` needs a gradient and ``target`` does not (training); elsewhere the
            module computes eagerly, as it does for fewer than 2 pairs. The first call
            compiles (seconds to tens of seconds on a small CPU; cached on disk afterwards).
            Where compilation fails (no C++ compiler, unsupported platform) the module warns
            once and computes eagerly, with identical results. The compiled loss is not
            twice differentiable.
    """

    def __init__(
        self,
        kind: str = "iou",
        alpha: float = 3.0,
        alpha_penalty: float | None = None,
        *,
        penalty_form: str = "paper",
        inner_ratio: float = 1.0,
        theta: float = 4.0,
        shape_scale: float = 0.0,
        image_size: tuple[float, float] | None = None,
        weight: str = "none",
        gamma: float = 0.5,
        box_format: str = "xyxy",
        reduction: str = "mean",
        eps: float = 1e-7,
        compile: bool = False,
    ) -> None:
        super().__init__()
        options = PenaltyOptions(penalty_form, theta, shape_scale, _size_or_none(image_size))
        self.recipe = LossRecipe(kind, options, inner_ratio, weight, gamma)
        self.alpha_penalty = _check_alpha_iou_args(
            self.recipe, alpha, alpha_penalty, box_format, reduction
        )
        self.alpha, self.eps = float(alpha), eps
        self.box_format, self.reduction = box_format, reduction
        self._compiled: Callable[..., tuple[Tensor, Tensor]] | None = (
            torch.compile(_loss_and_gradient, dynamic=True) if compile else None
        )

    @property
    def kind(self) -> str:
        """The penalty kind (``"iou"``, ``"giou"``, ...)."""
        return self.recipe.kind

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Loss of predicted boxes ``pred`` against ``target``, both ``(..., 4)``."""
        return _reduce(self.per_pair(pred, target), self.reduction)

    def per_pair(self, pred: Tensor, target: Tensor) -> Tensor:
        """The loss of each pair (shape ``pred.shape[:-1]`` broadcast with ``target``'s)."""
        pairs = max(pred.shape[:-1].numel(), target.shape[:-1].numel())
        fused = (
            self._compiled is not None
            and pairs >= _MIN_PAIRS_TO_COMPILE
            and torch.is_grad_enabled()
            and pred.requires_grad
            and not target.requires_grad
        )
        if not fused:
            return recipe_loss(
                pred,
                target,
                self.recipe,
                alpha=self.alpha,
                alpha_penalty=self.alpha_penalty,
                box_format=self.box_format,
                eps=self.eps,
            )
        xyxy1, xyxy2 = _prepare_pairs(pred, target, self.box_format)
        batch_shape = xyxy1.shape[:-1]
        # (4, N) columns, the layout the compiled loop vectorizes over (stack of unbind is
        # several times faster than a transposed copy).
        cols1 = torch.stack(xyxy1.reshape(-1, 4).unbind(-1))
        cols2 = torch.stack(xyxy2.reshape(-1, 4).unbind(-1))
        arguments = (self.recipe, self.alpha, self.alpha_penalty, self.eps)
        try:
            loss = _FusedLoss.apply(cols1, cols2, self._compiled, arguments)
        except Exception as error:  # the compiler's own errors have no common base class
            warnings.warn(
                f"torch.compile failed ({type(error).__name__}); computing the loss eagerly",
                RuntimeWarning,
                stacklevel=3,
            )
            self._compiled = None
            return self.per_pair(pred, target)
        return loss.reshape(batch_shape)

    def extra_repr(self) -> str:
        return (
            f"recipe={self.recipe}, alpha={self.alpha}, alpha_penalty={self.alpha_penalty}, "
            f"box_format={self.box_format!r}, reduction={self.reduction!r}, "
            f"compile={self._compiled is not None}"
        )


class FunctionalLoss(nn.Module):
    """The module form of a per-pair loss function (the class attribute ``function``):
    ``forward(pred, target)`` calls it with the keyword options given here (``reduction``
    defaults to ``"mean"``, as in ``torch.nn`` losses). The options are checked when the
    module is built, by calling the function on no pairs."""

    function: Callable[..., Tensor]

    def __init__(self, **options: object) -> None:
        super().__init__()
        self.options = {"reduction": "mean", **options}
        type(self).function(torch.zeros(0, 4), torch.zeros(0, 4), **self.options)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return type(self).function(pred, target, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={value!r}" for name, value in self.options.items())


class BoxCoxIoULoss(FunctionalLoss):
    """Module form of :func:`~noisybox.losses.box_cox_iou_loss`; ``forward(pred, target)``."""

    function = staticmethod(box_cox_iou_loss)

    def __init__(self, alpha: float = 1.0, **options: object) -> None:
        super().__init__(alpha=alpha, **options)


class CoordinateLoss(nn.Module):
    """L1 or smooth-L1 on box coordinates or their encodings, summed over the 4 per box.

    The classic baselines: Faster R-CNN regresses encoded deltas with smooth-L1
    (``beta = 1/9`` in torchvision), RetinaNet with L1. Whatever encoding the detector
    gives, ``forward(pred, target)`` returns one loss per box (shape ``pred.shape[:-1]``)
    before ``reduction``.

    Args:
        beta: 0 for L1; otherwise the smooth-L1 threshold (quadratic below it).
        reduction: ``"none"``, ``"mean"`` (over boxes) or ``"sum"``.
    """

    def __init__(self, beta: float = 0.0, *, reduction: str = "mean") -> None:
        super().__init__()
        _check_choice("reduction", reduction, REDUCTIONS)
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0; got {beta!r}")
        self.beta, self.reduction = beta, reduction

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        pred, target = _upcast(pred), _upcast(target)  # 16-bit computes in float32
        if self.beta == 0:
            per_coordinate = F.l1_loss(pred, target, reduction="none")
        else:
            per_coordinate = F.smooth_l1_loss(pred, target, reduction="none", beta=self.beta)
        return _reduce(per_coordinate.sum(-1), self.reduction)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, reduction={self.reduction!r}"
