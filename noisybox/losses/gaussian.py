"""Box losses that compare boxes as 2-D Gaussians: NWD, GWD and KLD.

A box with centre :math:`(c_x, c_y)`, width w and height h is the Gaussian
:math:`\\mathcal{N}((c_x, c_y), \\Sigma)`, :math:`\\Sigma = \\mathrm{diag}(w^2/4, h^2/4)` (the
convention of NWD and of mmrotate's ``xy_wh_r_2_xy_sigma`` at angle 0). These losses stay
informative where IoU is 0 or jumps: tiny and disjoint boxes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _utils
from .modules import FunctionalLoss

#: the Gaussian divergences of :func:`gaussian_distance_loss`
DIVERGENCES = ("gwd", "kld")

# mmrotate clamps widths and heights to this range before building Σ.
_SIZE_MIN, _SIZE_MAX = 1e-7, 1e7
# and the distances (and GWD's determinant products) from below by this.
_FLOOR = 1e-7


def _centres_and_sizes(boxes1: Tensor, boxes2: Tensor, box_format: str) -> tuple[Tensor, ...]:
    """``dx, dy, w1, h1, w2, h2``: centre offset (target minus prediction) and sizes."""
    xyxy1, xyxy2 = _utils._prepare_pairs(boxes1, boxes2, box_format)
    x1, y1, x2, y2 = xyxy1.unbind(-1)
    gx1, gy1, gx2, gy2 = xyxy2.unbind(-1)
    dx = 0.5 * (gx1 + gx2 - x1 - x2)
    dy = 0.5 * (gy1 + gy2 - y1 - y2)
    return dx, dy, x2 - x1, y2 - y1, gx2 - gx1, gy2 - gy1


def _check_common(box_format: str, reduction: str) -> None:
    _utils._check_choice("box_format", box_format, _utils.BOX_FORMATS)
    _utils._check_choice("reduction", reduction, _utils.REDUCTIONS)


def nwd_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    *,
    alpha: float = 1.0,
    constant: float = 12.8,
    box_format: str = "xyxy",
    reduction: str = "none",
    eps: float = 1e-7,
) -> Tensor:
    r"""Normalized Gaussian Wasserstein Distance loss, :math:`1 - NWD^\alpha`.

    :math:`NWD = \exp(-\sqrt{W_2^2} / C)` with
    :math:`W_2^2 = \|c - c_g\|^2 + ((w - w_g)^2 + (h - h_g)^2) / 4`, the squared 2-Wasserstein
    distance of the boxes' Gaussians (Wang et al., "A Normalized Gaussian Wasserstein
    Distance for Tiny Object Detection", arXiv:2110.13389, eq. (5)-(6)); ``C = 12.8`` as in
    the authors' code (jwwangchn/NWD, ``wasserstein_loss``) for AI-TOD. C is in pixels: set it
    near the average object size of your data. As in that code, ``eps`` is added to the
    squared centre distance (so the gradient is finite at identical boxes) and to each width
    and height. ``alpha`` ≠ 1 is the α-IoU rule applied to NWD as the similarity.

    Args:
        boxes1, boxes2: ``(..., 4)`` boxes in ``box_format``, pixels, broadcastable.
        alpha: power of NWD, > 0.
        constant: C, in pixels, > 0.
        box_format, reduction, eps: as in :func:`~noisybox.losses.alpha_iou_loss`.
    """
    _check_common(box_format, reduction)
    _utils._check_positive("alpha", alpha)
    _utils._check_positive("constant", constant)
    dx, dy, w1, h1, w2, h2 = _centres_and_sizes(boxes1, boxes2, box_format)
    centre_sq = dx**2 + dy**2 + eps
    size_sq = (((w1 + eps) - (w2 + eps)) ** 2 + ((h1 + eps) - (h2 + eps)) ** 2) / 4
    similarity = torch.exp(-torch.sqrt(centre_sq + size_sq) / constant)
    return _utils._reduce(1 - _utils._power(similarity, alpha, eps), reduction)


def _squash(distance: Tensor, tau: float) -> Tensor:
    """mmrotate's ``postprocess`` with ``fun="log1p"``: :math:`1 - 1 / (\\tau + \\log(1 + d))`
    for τ >= 1, :math:`\\log(1 + d)` itself for τ < 1."""
    return 1 - 1 / (tau + torch.log1p(distance)) if tau >= 1 else torch.log1p(distance)


def gaussian_distance_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    *,
    divergence: str = "gwd",
    tau: float = 1.0,
    box_format: str = "xyxy",
    reduction: str = "none",
) -> Tensor:
    r"""GWD or KLD loss of axis-aligned boxes, as mmrotate's ``GDLoss`` (``fun="log1p"``).

    - ``gwd`` (Yang et al., "Rethinking Rotated Object Detection with Gaussian Wasserstein
      Distance Loss", ICML 2021): :math:`d = \sqrt{\|c - c_g\|^2 + ((w - w_g)^2 + (h -
      h_g)^2)/4} \,/\, (w h w_g h_g)^{1/4}`, the Wasserstein distance normalized as
      mmrotate's ``gwd_loss(normalize=True)``.
    - ``kld`` (Yang et al., "Learning High-Precision Bounding Box for Rotated Object
      Detection via Kullback-Leibler Divergence", NeurIPS 2021): :math:`d = \sqrt{D_{KL}}`,
      :math:`D_{KL}(\mathcal{N}_g \| \mathcal{N}_p) = \frac{2 d_x^2}{w^2} + \frac{2 d_y^2}{h^2}
      + \frac{w_g^2}{2 w^2} + \frac{h_g^2}{2 h^2} + \log\frac{w h}{w_g h_g} - 1`, mmrotate's
      ``kld_loss(sqrt=True)`` computes it (the prediction's covariance inverted).

    Both: loss :math:`1 - 1 / (\tau + \log(1 + d))`, in [0, 1), for τ >= 1 (τ = 1 here; the
    ``GDLoss`` module's own default, τ = 0, gives :math:`\log(1 + d)` unsquashed). As in
    mmrotate, widths and heights are clamped to [1e-7, 1e7] and the distance's square to
    >= 1e-7, so identical boxes give up to 3e-4, not 0 (GWD also floors its determinant
    products at 1e-7). These are the rotated-box losses at angle 0; the angle itself is out
    of scope here.

    Args:
        boxes1, boxes2: ``(..., 4)`` boxes in ``box_format``, pixels, broadcastable.
        divergence: ``"gwd"`` or ``"kld"``.
        tau: τ of the squashing, >= 0 (below 1: none).
        box_format, reduction: as in :func:`~noisybox.losses.alpha_iou_loss`.
    """
    _check_common(box_format, reduction)
    _utils._check_choice("divergence", divergence, DIVERGENCES)
    if not tau >= 0:
        raise ValueError(f"tau must be >= 0; got {tau!r}")
    dx, dy, w1, h1, w2, h2 = _centres_and_sizes(boxes1, boxes2, box_format)
    w1, h1, w2, h2 = (v.clamp(_SIZE_MIN, _SIZE_MAX) for v in (w1, h1, w2, h2))
    if divergence == "gwd":
        # tr Σp + tr Σg - 2 sqrt(tr(Σp Σg) + 2 sqrt(det Σp det Σg)), as mmrotate computes it
        # sqrt(det Σp det Σg) floored as mmrotate's sqrt(clamp(det Σp det Σg, 1e-7)), taken
        # without squaring first so that 1e4-px boxes do not overflow float32
        det_sqrt = (w1 * h1 * w2 * h2 / 16).clamp(min=_FLOOR**0.5)
        trace_product = (w1**2 * w2**2 + h1**2 * h2**2) / 16
        shape_term = (w1**2 + h1**2 + w2**2 + h2**2) / 4 - 2 * (
            (trace_product + 2 * det_sqrt).clamp(min=_FLOOR).sqrt()
        )
        distance = (dx**2 + dy**2 + shape_term).clamp(min=_FLOOR).sqrt()
        scale = 2 * det_sqrt.clamp(min=_FLOOR).sqrt().clamp(min=_FLOOR).sqrt().clamp(min=_FLOOR)
        distance = distance / scale
    else:
        centre_term = 2 * dx**2 / w1**2 + 2 * dy**2 / h1**2
        shape_term = 0.5 * (w2**2 / w1**2 + h2**2 / h1**2) + torch.log(w1 * h1 / (w2 * h2)) - 1
        distance = (centre_term + shape_term).clamp(min=_FLOOR).sqrt()
    return _utils._reduce(_squash(distance, tau), reduction)


def gwd_loss(boxes1: Tensor, boxes2: Tensor, **kwargs: object) -> Tensor:
    """The GWD loss: :func:`gaussian_distance_loss` with ``divergence="gwd"``."""
    return gaussian_distance_loss(boxes1, boxes2, divergence="gwd", **kwargs)  # type: ignore[arg-type]


def kld_loss(boxes1: Tensor, boxes2: Tensor, **kwargs: object) -> Tensor:
    """The KLD loss: :func:`gaussian_distance_loss` with ``divergence="kld"``."""
    return gaussian_distance_loss(boxes1, boxes2, divergence="kld", **kwargs)  # type: ignore[arg-type]


class NWDLoss(FunctionalLoss):
    """Module form of :func:`nwd_loss`; ``forward(pred, target)``, ``reduction="mean"``."""

    function = staticmethod(nwd_loss)

    def __init__(self, alpha: float = 1.0, **options: object) -> None:
        super().__init__(alpha=float(alpha), **options)

    @property
    def alpha(self) -> float:
        """α of NWD."""
        return self.options["alpha"]  # type: ignore[return-value]


class GaussianDistanceLoss(FunctionalLoss):
    """Module form of :func:`gaussian_distance_loss` (GWD or KLD); ``forward(pred, target)``."""

    function = staticmethod(gaussian_distance_loss)

    def __init__(self, divergence: str = "gwd", **options: object) -> None:
        super().__init__(divergence=divergence, **options)
