"""Loss curves: Figure 1 of the α-IoU paper (the α-IoU loss and its gradient magnitude
against IoU), and any registered losses along two canonical paths of a prediction."""

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


#: the canonical paths: name -> (x-axis label, what the prediction does)
PATHS = {
    "slide": ("offset / box width", "a copy of the target slides off it along x"),
    "grow": ("prediction size / target size", "a point at the target's centre grows past it"),
}
#: the target of the paths, xyxy pixels, in an image of PATH_IMAGE pixels (for MPDIoU)
PATH_TARGET, PATH_IMAGE = (0.0, 0.0, 16.0, 16.0), (64.0, 64.0)


@dataclass(frozen=True)
class PathCurves:
    """Registered losses and ``|dL/dt|`` along one canonical path ``t``.

    Attributes:
        names: the loss specs (``NAME`` or ``NAME:ALPHA``), shape ``(L,)``.
        path: a key of :data:`PATHS`.
        t: the path parameter, shape ``(K,)``.
        loss, gradient: per loss and ``t``, shape ``(L, K)``.
    """

    names: tuple[str, ...]
    path: str
    t: np.ndarray
    loss: np.ndarray
    gradient: np.ndarray


def _path_boxes(path: str, t):
    """The predicted boxes (xyxy pixels) at each ``t`` of ``path``, against PATH_TARGET."""
    import torch

    x1, y1, x2, y2 = PATH_TARGET
    width, height = x2 - x1, y2 - y1
    if path == "slide":
        shift = t * width
        return torch.stack((x1 + shift, y1 + 0 * t, x2 + shift, y2 + 0 * t), dim=-1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w, half_h = t * width / 2, t * height / 2
    return torch.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), dim=-1)


def path_curves(names: Sequence[str], path: str, num: int = 300) -> PathCurves:
    """Evaluate each loss named in ``names`` (built by :func:`~noisybox.losses.build_loss`)
    and its autograd gradient along ``path``, in float64: ``slide`` for t in [0, 2] (IoU
    falls from 1 to 0 at t = 1, then the boxes are apart), ``grow`` for t in (0, 2]."""
    import torch

    from .losses import build_loss

    if path not in PATHS:
        raise NoisyboxError(f"path must be one of {', '.join(PATHS)}; got {path!r}")
    if not names:
        raise NoisyboxError("name at least one loss")
    low = 0.0 if path == "slide" else 2.0 / num
    grid = torch.linspace(low, 2.0, num, dtype=torch.float64)
    target = torch.tensor(PATH_TARGET, dtype=torch.float64)
    losses, gradients = [], []
    for name in names:
        try:
            loss_fn = build_loss(name, reduction="none", image_size=PATH_IMAGE)
        except ValueError as error:
            raise NoisyboxError(str(error), parameter="loss") from None
        t = grid.clone().requires_grad_(True)
        loss = loss_fn(_path_boxes(path, t), target)
        (grad,) = torch.autograd.grad(loss.sum(), t)
        losses.append(loss.detach().numpy())
        gradients.append(grad.abs().numpy())
    return PathCurves(tuple(names), path, grid.numpy(), np.stack(losses), np.stack(gradients))


def plot_path_curves(curves: Sequence[PathCurves], path: str | os.PathLike[str]) -> None:
    """Draw one row per path (loss left, ``|dL/dt|`` right) to ``path`` (.png/.svg/.pdf)."""
    from matplotlib.figure import Figure

    suffix = _figure_suffix(path)
    figure = Figure(figsize=(10, 3.6 * len(curves)), layout="constrained")
    rows = figure.subplots(len(curves), 2, squeeze=False)
    for (loss_axes, grad_axes), row in zip(rows, curves, strict=True):
        for name, loss, grad in zip(row.names, row.loss, row.gradient, strict=True):
            loss_axes.plot(row.t, loss, label=name)
            grad_axes.plot(row.t, grad, label=name)
        label, what = PATHS[row.path]
        loss_axes.set(xlabel=label, ylabel="loss", title=f"Loss: {what}")
        grad_axes.set(xlabel=label, ylabel="|dL/dt|", title="Gradient magnitude")
        for axes in (loss_axes, grad_axes):
            axes.grid(alpha=0.3)
            axes.legend(fontsize="small")
    with atomic_write(path) as handle:
        figure.savefig(handle, format=suffix, dpi=150)


def _figure_suffix(path: str | os.PathLike[str]) -> str:
    """The figure format of ``path``, checked."""
    suffix = os.fspath(path).rsplit(".", 1)[-1].lower()
    if suffix not in FIGURE_FORMATS:
        raise NoisyboxError(f"{os.fspath(path)}: figure must end in .{', .'.join(FIGURE_FORMATS)}")
    return suffix


def plot_loss_curves(curves: LossCurves, path: str | os.PathLike[str]) -> None:
    """Draw Figure 1 (loss left, ``|dL/dIoU|`` right) to ``path`` (.png, .svg or .pdf)."""
    from matplotlib.figure import Figure

    suffix = _figure_suffix(path)
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
