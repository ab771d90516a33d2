"""Box-regression losses: the α-IoU family and the classic coordinate baselines.

>>> from noisybox.losses import alpha_iou_loss
>>> import torch
>>> pred = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
>>> target = torch.tensor([[1.0, 0.0, 3.0, 2.0]])        # IoU = 1/3
>>> round(alpha_iou_loss(pred, target, alpha=3.0).item(), 4)  # 1 - (1/3)**3
0.963
"""

from .alpha_iou import KINDS, alpha_iou_loss, box_cox_iou_loss
from .modules import AlphaIoULoss, BoxCoxIoULoss, CoordinateLoss
from .registry import LOSSES, build_loss, parse_loss_spec

__all__ = [
    "KINDS",
    "LOSSES",
    "AlphaIoULoss",
    "BoxCoxIoULoss",
    "CoordinateLoss",
    "alpha_iou_loss",
    "box_cox_iou_loss",
    "build_loss",
    "parse_loss_spec",
]
