"""Figure 1 of the α-IoU paper: the α-IoU loss and its gradient magnitude against IoU."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .atomic import atomic_write
from .errors import NoisyboxError

FIGURE_FORMATS = ("png", "svg", "pdf")


@dataclass(frozen=True)
class LossCurves:
    """Curves of ``L = 1 - IoU^α`` sampled on an IoU grid.

    Attributes:
        alphas: the powers, shape ``(A,)``.
        iou: IoU values in (0, 1), shape ``(K,)``.
        loss: ``L`` for each α and IoU, shape ``(A, K)``.
        gradient: ``|dL/dIoU|`` for each α and IoU, shape ``(A, K)``.
    """

    alphas: np.ndarray
    iou: np.ndarray
    loss: np.ndarray
    gradient: np.ndarray


def loss_curves(alphas: Sequence[float], num: int = 400) -> LossCurves:
    """Evaluate :func:`~noisybox.losses.alpha_iou_loss` and its autograd gradient against IoU.

    The curves come from the library's own loss, not from the formula: the target is the
    unit box ``[0, 0, 1, 1]`` and the prediction ``[0, 0, t, 1]``, whose IoU is exactly ``t``
    (with ``eps = 0``), so ``dL/dt`` is ``dL/dIoU``.
    """
    import torch

    from .losses import alpha_iou_loss

    if not alphas or any(not a > 0 for a in alphas):
        raise NoisyboxError(f"alphas must be positive numbers; got {list(alphas)}")
    # The open interval: at IoU = 1 the two boxes coincide and min/max ties split gradients.
    iou = torch.linspace(0.0, 1.0, num + 2, dtype=torch.float64)[1:-1]
    losses, gradients = [], []
    for alpha in alphas:
        t = iou.clone().requires_grad_(True)
        zeros, ones = torch.zeros_like(t), torch.ones_like(t)
        pred = torch.stack((zeros, zeros, t, ones), dim=-1)
        target = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
        loss = alpha_iou_loss(pred, target, kind="iou", alpha=alpha, eps=0.0)
        (grad,) = torch.autograd.grad(loss.sum(), t)
        losses.append(loss.detach().numpy())
        gradients.append(grad.abs().numpy())
    return LossCurves(np.asarray(alphas, float), iou.numpy(), np.stack(losses), np.stack(gradients))


def plot_loss_curves(curves: LossCurves, path: str | os.PathLike[str]) -> None:
    """Draw Figure 1 (loss left, ``|dL/dIoU|`` right) to ``path`` (.png, .svg or .pdf)."""
    from matplotlib.figure import Figure

    suffix = os.fspath(path).rsplit(".", 1)[-1].lower()
    if suffix not in FIGURE_FORMATS:
        raise NoisyboxError(f"{os.fspath(path)}: figure must end in .{', .'.join(FIGURE_FORMATS)}")
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, grad_axes = figure.subplots(1, 2)
    for alpha, loss, grad in zip(curves.alphas, curves.loss, curves.gradient, strict=True):
        style = {"linestyle": "--", "color": "black"} if alpha == 1 else {}
        label = f"α = {alpha:g}" + (" (IoU loss)" if alpha == 1 else "")
        loss_axes.plot(curves.iou, loss, label=label, **style)
        grad_axes.plot(curves.iou, grad, label=label, **style)
    loss_axes.set(
        xlabel="IoU",
        ylabel=r"$\mathcal{L}_{\alpha\text{-IoU}} = 1 - IoU^\alpha$",
        xlim=(0, 1),
        ylim=(0, 1.05),
        title="Loss",
    )
    top = float(max(curves.alphas.max(), 1.0)) * 1.15
    grad_axes.set(
        xlabel="IoU",
        ylabel=r"$|\partial\mathcal{L}/\partial IoU|$",
        xlim=(0, 1),
        ylim=(0, top),
        title="Gradient magnitude",
    )
    for axes in (loss_axes, grad_axes):
        axes.grid(alpha=0.3)
        axes.legend()
    with atomic_write(path) as handle:
        figure.savefig(handle, format=suffix, dpi=150)
