"""Box-regression losses: the α-IoU family, the IoU-loss variants of 2021-2023 (each with
α), the Gaussian losses and the classic coordinate baselines.

>>> from noisybox.losses import alpha_iou_loss
>>> import torch
>>> pred = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
>>> target = torch.tensor([[1.0, 0.0, 3.0, 2.0]])        # IoU = 1/3
>>> round(alpha_iou_loss(pred, target, alpha=3.0).item(), 4)  # 1 - (1/3)**3
0.963

Every registered name (:data:`LOSSES`) builds with :func:`build_loss`.
"""

from .alpha_iou import KINDS, LossRecipe, alpha_iou_loss, box_cox_iou_loss
from .gaussian import (
    GaussianDistanceLoss,
    NWDLoss,
    gaussian_distance_loss,
    gwd_loss,
    kld_loss,
    nwd_loss,
)
from .modules import AlphaIoULoss, BoxCoxIoULoss, CoordinateLoss
from .penalties import PENALTIES, PenaltyOptions
from .registry import FAMILIES, LOSSES, build_loss, parse_loss_spec
from .variants import (
    EIoULoss,
    FocalEIoULoss,
    InnerIoULoss,
    MPDIoULoss,
    ShapeIoULoss,
    SIoULoss,
    WiseIoULoss,
    eiou_loss,
    focal_eiou_loss,
    inner_iou_loss,
    mpdiou_loss,
    shape_iou_loss,
    siou_loss,
    wise_iou_focus,
    wise_iou_loss,
    wise_iou_momentum,
)

__all__ = [
    "FAMILIES",
    "KINDS",
    "LOSSES",
    "PENALTIES",
    "AlphaIoULoss",
    "BoxCoxIoULoss",
    "CoordinateLoss",
    "EIoULoss",
    "FocalEIoULoss",
    "GaussianDistanceLoss",
    "InnerIoULoss",
    "LossRecipe",
    "MPDIoULoss",
    "NWDLoss",
    "PenaltyOptions",
    "SIoULoss",
    "ShapeIoULoss",
    "WiseIoULoss",
    "alpha_iou_loss",
    "box_cox_iou_loss",
    "build_loss",
    "eiou_loss",
    "focal_eiou_loss",
    "gaussian_distance_loss",
    "gwd_loss",
    "inner_iou_loss",
    "kld_loss",
    "mpdiou_loss",
    "nwd_loss",
    "parse_loss_spec",
    "shape_iou_loss",
    "siou_loss",
    "wise_iou_focus",
    "wise_iou_loss",
    "wise_iou_momentum",
]
