"""Transcriptions of the published reference code for box-regression losses.

Every function takes ``pred, target`` as ``(N, 4)`` xyxy tensors (pixels) and returns the
per-pair LOSS with shape ``(N,)``.  The bodies follow the cited source line by line (same
operation order, same eps placement, same constants); only the input unpacking, the output
squeeze and the final ``1 - value`` (where the source returns a similarity) are adapted, and
each adaptation is listed in the comment block above the function.  Known bugs and
paper/code differences are kept and noted, never fixed.

All sources were read through the stored copy of public GitHub repositories (the search
index of this environment); commit ids are the ones the index reported for the version read.
Where the index held several versions of a file and the newest could not be identified, the
differences between the versions read are noted.

This module is not a test file (no ``test_`` prefix); tests import from it.
"""

import math

import torch


# ---------------------------------------------------------------------------------------------
# 1. SIoU (Gevorgyan 2022) as implemented in YOLOv6
# ---------------------------------------------------------------------------------------------
# Source: meituan/YOLOv6, yolov6/utils/figure_iou.py, class IOUloss, branch iou_type == 'siou'.
#   Versions read: commits 0334a96a6b6c49c5e1a7833f30fb6e32da6c202c and
#   be354e8a4b84df31d124036f3fb81ff160323935 (identical SIoU branch).
#   License: the LICENSE file is not in the index (upstream YOLOv6 states GPL-3.0; not verified
#   here).
# Call site: yolov6/models/losses/loss.py (commit 282c2425af93971b0018ce51b27804ad54988336),
#   BboxLoss builds ``IOUloss(box_format='xyxy', iou_type=iou_type, eps=1e-10)`` and calls
#   ``self.iou_loss(pred_bboxes_pos, target_bboxes_pos)``: box1 = prediction, box2 = target,
#   eps = 1e-10 in training (the IOUloss default is 1e-7).
# Adaptations:
#   * Input unpacking: the stored meituan versions do ``box2 = box2.T`` and read box1[0..3]
#     (box1 expected as 4xN); later YOLOv6 (seen only in derived copies, e.g. index id
#     57393106854, not in a meituan-stored version) use ``torch.split(box, 1, dim=-1)`` when
#     both inputs have the same length.  Here each coordinate is the column ``[:, k]``.
#   * ``center_eps``: the stored meituan versions compute s_cw/s_ch WITHOUT eps (so
#     sigma = 0 and the angle cost is 0/0 = NaN when the centre offset is EXACTLY 0 in floating
#     point, e.g. identical integer boxes; with random floats ``(a + b) - a - b`` often rounds to
#     a tiny non-zero value and the result is finite).  The later upstream text (derived copies)
#     adds ``+ self.eps`` to s_cw and s_ch.  Default False = the meituan-stored version;
#     True = the later text.
#   * reduction fixed to 'none'; returns ``1 - siou`` exactly as the source (loss = 1.0 - iou).
# Notes (kept as in the code):
#   * eps is added to the HEIGHTS only (h1, h2), not to the widths, and again to the union.
#   * theta = 4 (hard-coded ``torch.pow(..., 4)``).
#   * The distance cost uses the ENCLOSING box width/height cw, ch: rho_x = (s_cw / cw)^2,
#     gamma = angle_cost - 2, distance_cost = 2 - exp(gamma*rho_x) - exp(gamma*rho_y), i.e.
#     sum_t (1 - exp(-(2 - Lambda) rho_t)) as in the paper.
#   * angle_cost = cos(2*arcsin(sin_alpha) - pi/2) = sin(2*alpha); picking sin_alpha_2 when
#     sin_alpha_1 > sqrt(2)/2 does not change the value (sin 2a is symmetric about pi/4).
def siou_loss_yolov6(pred, target, eps=1e-7, center_eps=False):
    b1_x1, b1_y1, b1_x2, b1_y2 = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    b2_x1, b2_y1, b2_x2, b2_y2 = target[:, 0], target[:, 1], target[:, 2], target[:, 3]

    # Intersection area
    inter = (torch.min(b1_x2, b2_x2) - torch.max(b1_x1, b2_x1)).clamp(0) * (
        torch.min(b1_y2, b2_y2) - torch.max(b1_y1, b2_y1)
    ).clamp(0)

    # Union Area
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union

    cw = torch.max(b1_x2, b2_x2) - torch.min(b1_x1, b2_x1)  # convex width
    ch = torch.max(b1_y2, b2_y2) - torch.min(b1_y1, b2_y1)  # convex height
    # SIoU Loss https://arxiv.org/pdf/2205.12740.pdf
    s_cw = (b2_x1 + b2_x2 - b1_x1 - b1_x2) * 0.5
    s_ch = (b2_y1 + b2_y2 - b1_y1 - b1_y2) * 0.5
    if center_eps:  # later upstream text: ``* 0.5 + self.eps``
        s_cw = s_cw + eps
        s_ch = s_ch + eps
    sigma = torch.pow(s_cw**2 + s_ch**2, 0.5)
    sin_alpha_1 = torch.abs(s_cw) / sigma
    sin_alpha_2 = torch.abs(s_ch) / sigma
    threshold = pow(2, 0.5) / 2
    sin_alpha = torch.where(sin_alpha_1 > threshold, sin_alpha_2, sin_alpha_1)
    angle_cost = torch.cos(torch.arcsin(sin_alpha) * 2 - math.pi / 2)
    rho_x = (s_cw / cw) ** 2
    rho_y = (s_ch / ch) ** 2
    gamma = angle_cost - 2
    distance_cost = 2 - torch.exp(gamma * rho_x) - torch.exp(gamma * rho_y)
    omiga_w = torch.abs(w1 - w2) / torch.max(w1, w2)
    omiga_h = torch.abs(h1 - h2) / torch.max(h1, h2)
    shape_cost = torch.pow(1 - torch.exp(-1 * omiga_w), 4) + torch.pow(
        1 - torch.exp(-1 * omiga_h), 4
    )
    iou = iou - 0.5 * (distance_cost + shape_cost)
    loss = 1.0 - iou
    return loss


# ---------------------------------------------------------------------------------------------
# 2. Wise-IoU v1 / v2 / v3 (Tong, Chen, Xu, Yu 2023)
# ---------------------------------------------------------------------------------------------
# 2a. AUTHORS' code.
# Source: Instinct323/wiou, iou.py, class IouLoss (the "v1" branch = code of the paper's
#   experiments, per the repo README), commit d61ba24bc57cd5cd115102cff7a978b01bee2572
#   (also read 01f7f07f9092491efd288c339195e1bb9a850aa2: same maths, alpha/delta as class
#   attributes alpha = 1.9, delta = 3 instead of __init__ arguments).  License: no LICENSE file
#   in the index listing for this repo.
#   The README says branch "v2 (master)" is a refactor into an nn.Module.  Its file could not be
#   read from the index; a search excerpt of it shows ``momentum = 1e-2``, ``alpha = 1.7``,
#   ``delta = 2.7`` and ``register_buffer('iou_mean', torch.tensor(1.))``.  Pass
#   ``momentum=1e-2, alpha=1.7, delta=2.7`` to approximate it (forward body not verified).
# What the code computes (pred, target are xyxy; NO eps anywhere in this code):
#   L_IoU  = 1 - S_inter / S_union            (attribute named ``iou`` = 1 - IoU!)
#   R_WIoU = exp(|c_p - c_t|^2 / (Wg^2 + Hg^2).detach())   (Wg, Hg: enclosing box)
#   v1     = R_WIoU * L_IoU
#   running mean (only when ``monotonous`` is a bool, i.e. v2/v3, and in train mode):
#       iou_mean <- (1 - m) * iou_mean + m * mean(L_IoU.detach())   -- BEFORE the scale below
#       m = 1 - 0.05 ** (1 / (n * t)),  iou_mean starts at 1.0 (float32 tensor)
#   beta   = L_IoU.detach() / iou_mean      (uses the just-updated mean)
#   v2 (monotonous=True):  loss = v1 * sqrt(beta)
#   v3 (monotonous=False): loss = v1 * beta / (delta * alpha ** (beta - delta)),
#                          alpha = 1.9, delta = 3 (defaults of this branch)
#   monotonous=None: v1, and the running mean is never updated (_is_train is False).
# Adaptations: only ltype='WIoU' is transcribed; the lazy ``_fget`` dict is unrolled in the
#   same order; ``iou_mean`` is a plain float32 tensor instead of an nn.Parameter(
#   requires_grad=False) (same dtype and in-place update); optional ``momentum`` override
#   (the author's own __main__ overrides ``iouloss.momentum`` the same way).
class WiseIoUAuthor:
    def __init__(self, n, t, monotonous=False, alpha=1.9, delta=3, momentum=None):
        # The momentum of running mean
        time_to_real = n * t
        self.momentum = 1 - pow(0.05, 1 / time_to_real)
        if momentum is not None:
            self.momentum = momentum
        self.monotonous = monotonous
        self.alpha = alpha
        self.delta = delta
        self.iou_mean = torch.tensor(1.0)
        self._is_train = isinstance(self.monotonous, bool)

    def train(self):
        self._is_train = True

    def eval(self):
        self._is_train = False

    def __call__(self, pred, target):
        # x,y,w,h
        pred_xy = (pred[..., :2] + pred[..., 2:4]) / 2
        pred_wh = pred[..., 2:4] - pred[..., :2]
        target_xy = (target[..., :2] + target[..., 2:4]) / 2
        target_wh = target[..., 2:4] - target[..., :2]
        # x0,y0,x1,y1
        min_coord = torch.minimum(pred[..., :4], target[..., :4])
        max_coord = torch.maximum(pred[..., :4], target[..., :4])
        # The overlapping region
        wh_inter = torch.relu(min_coord[..., 2:4] - max_coord[..., :2])
        s_inter = torch.prod(wh_inter, dim=-1)
        # The area covered
        s_union = torch.prod(pred_wh, dim=-1) + torch.prod(target_wh, dim=-1) - s_inter
        # The smallest enclosing box
        wh_box = max_coord[..., 2:4] - min_coord[..., :2]
        l2_box = torch.square(wh_box).sum(dim=-1)
        # The central points' connection of the bounding boxes
        d_center = pred_xy - target_xy
        l2_center = torch.square(d_center).sum(dim=-1)
        # IoU  (sic: this is the IoU LOSS 1 - IoU)
        iou = 1 - s_inter / s_union

        if self._is_train:
            self.iou_mean.mul_(1 - self.momentum)
            self.iou_mean.add_(self.momentum * iou.detach().mean().item())

        # _WIoU
        dist = torch.exp(l2_center / l2_box.detach())
        loss = dist * iou
        # _scaled_loss
        if isinstance(self.monotonous, bool):
            beta = iou.detach() / self.iou_mean
            if self.monotonous:
                loss *= beta.sqrt()
            else:
                divisor = self.delta * torch.pow(self.alpha, beta - self.delta)
                loss *= beta / divisor
        return loss


# 2b. Widely copied ultralytics-style variant (``WIoU_Scale`` + ``bbox_iou(..., WIoU=True,
#   scale=True)``), spread through YOLOv5/v7/v8 "improvement" repositories and blogs (it is
#   often attributed to the WIoU author's CSDN guide; not verified).  Transcribed from the
#   stored file with index id 5237807439 (the index does not name its repository); identical
#   WIoU_Scale text found in several other copies (ids 24905334748, 41695814810, 1344999483).
# What it computes (xyxy branch of that file):
#   h = (y2 - y1).clamp(eps); union = w1*h1 + w2*h2 - inter + eps
#   WIoU_Scale(1 - inter/union) updates the mean FIRST (class state, Python float):
#       iou_mean <- (1 - m) * iou_mean + m * mean(1 - inter/union),  m = 1 - 0.5 ** (1/7000)
#   iou = (inter / (union + eps)) ** alpha_pow  (alpha_pow = 1: eps is counted TWICE here)
#   c2  = (cw^2 + ch^2) ** alpha_pow + eps,  rho2 = (|dc|^2) ** alpha_pow   (dc: centre offset)
#   scale: monotonous=None -> 1 (v1); True -> sqrt(beta) (v2);
#          False (default) -> beta / (delta * gamma ** (beta - delta)), gamma = 1.9, delta = 3
#          with beta = (1 - inter/union).detach() / iou_mean
#   loss (yolov8 BboxLoss snippet, 3-tuple branch) = scale * (1 - iou) * exp(rho2 / c2)
#   -> differences from 2a: c2 is NOT detached, eps terms exist, momentum is 1 - 0.5**(1/7000).
#   With scale=False the code returns (iou, exp(rho2/c2)) and the loss snippet computes
#   (1 - iou) * exp(rho2/c2).detach(), i.e. the WHOLE distance factor is detached (v1 here).
# Adaptations: the running mean is instance state (the original uses class attributes shared by
#   every call); input unpacking by columns with ``.chunk(4, -1)`` as the source, output squeezed
#   from (N, 1) to (N,); the loss assembly of the BboxLoss snippet (without the target-score
#   weight) is folded in.
class WIoUScaleCommunity:
    def __init__(self, monotonous=False, momentum=None, gamma=1.9, delta=3):
        self.iou_mean = 1.0
        self.monotonous = monotonous
        self._momentum = 1 - 0.5 ** (1 / 7000) if momentum is None else momentum
        self._is_train = True
        self.gamma = gamma
        self.delta = delta

    def _update(self, iou):
        if self._is_train:
            self.iou_mean = (
                1 - self._momentum
            ) * self.iou_mean + self._momentum * iou.detach().mean().item()

    def _scaled_loss(self, iou):
        if isinstance(self.monotonous, bool):
            if self.monotonous:
                return (iou.detach() / self.iou_mean).sqrt()
            else:
                beta = iou.detach() / self.iou_mean
                alpha = self.delta * torch.pow(self.gamma, beta - self.delta)
                return beta / alpha
        return 1

    def __call__(self, pred, target, scale=True, alpha=1, eps=1e-7):
        b1_x1, b1_y1, b1_x2, b1_y2 = pred.chunk(4, -1)
        b2_x1, b2_y1, b2_x2, b2_y2 = target.chunk(4, -1)
        w1, h1 = b1_x2 - b1_x1, (b1_y2 - b1_y1).clamp(eps)
        w2, h2 = b2_x2 - b2_x1, (b2_y2 - b2_y1).clamp(eps)

        # Intersection area
        inter = (b1_x2.minimum(b2_x2) - b1_x1.maximum(b2_x1)).clamp(0) * (
            b1_y2.minimum(b2_y2) - b1_y1.maximum(b2_y1)
        ).clamp(0)

        # Union Area
        union = w1 * h1 + w2 * h2 - inter + eps
        if scale:
            wise_iou = 1 - (inter / union)  # WIoU_Scale(1 - (inter / union))
            self._update(wise_iou)

        # IoU
        iou = torch.pow(inter / (union + eps), alpha)  # alpha iou
        cw = b1_x2.maximum(b2_x2) - b1_x1.minimum(b2_x1)  # convex (smallest enclosing box) width
        ch = b1_y2.maximum(b2_y2) - b1_y1.minimum(b2_y1)  # convex height
        c2 = (cw**2 + ch**2) ** alpha + eps  # convex diagonal squared
        rho2 = (
            ((b2_x1 + b2_x2 - b1_x1 - b1_x2) ** 2 + (b2_y1 + b2_y2 - b1_y1 - b1_y2) ** 2) / 4
        ) ** alpha  # center dist ** 2
        if scale:
            out = (self._scaled_loss(wise_iou), (1 - iou) * torch.exp(rho2 / c2), iou)
            loss = out[0] * out[1]  # loss_iou = (iou[0] * iou[1] * weight).sum() / ...
        else:
            out = (iou, torch.exp(rho2 / c2))  # WIoU v1
            loss = (1.0 - out[0]) * out[1].detach()  # ((1.0 - iou[0]) * iou[1].detach() * w)
        return loss.squeeze(-1)


# ---------------------------------------------------------------------------------------------
# 3. MPDIoU (Ma & Xu 2023)
# ---------------------------------------------------------------------------------------------
# AUTHORS' CODE NOT FOUND: no repository by the authors (Siliang Ma, Yong Xu) is in the index,
#   and searches of code, issues and pages found no official implementation.
# Transcribed instead: the canonical community patch of YOLOv5/YOLOv8 ``bbox_iou(...,
#   MDPIoU=True, feat_h=640, feat_w=640, eps=1e-7)`` (note the "MDPIoU" spelling), copied in
#   many repositories; read from the stored file with index id 24969741990 (repository not
#   named by the index); the identical branch appears in ids 46056708885, 41695814810, 2534881685,
#   38940342818.  It matches the paper's definition
#   MPDIoU = IoU - d1^2/(w^2 + h^2) - d2^2/(w^2 + h^2), with w, h the INPUT IMAGE width/height
#   (d1: top-left corners, d2: bottom-right corners), L = 1 - MPDIoU.
# What the code computes: xyxy branch, h += eps (heights only), union = w1 h1 + w2 h2 - inter +
#   eps, iou = inter / union; d1, d2 are squared corner distances (no eps);
#   MPDIoU = iou - d1 / (feat_h^2 + feat_w^2) - d2 / (feat_h^2 + feat_w^2); feat_h = feat_w = 640
#   by default (the normaliser is the image size, not the enclosing box).
# Adaptations: ``.chunk(4, -1)`` unpacking as the source, squeeze to (N,), returns 1 - MPDIoU
#   (the YOLO loss snippet does (1.0 - iou)).
def mpdiou_loss_community(pred, target, feat_h=640, feat_w=640, eps=1e-7):
    b1_x1, b1_y1, b1_x2, b1_y2 = pred.chunk(4, -1)
    b2_x1, b2_y1, b2_x2, b2_y2 = target.chunk(4, -1)
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps

    # Intersection area
    inter = (torch.min(b1_x2, b2_x2) - torch.max(b1_x1, b2_x1)).clamp(0) * (
        torch.min(b1_y2, b2_y2) - torch.max(b1_y1, b2_y1)
    ).clamp(0)

    # Union Area
    union = w1 * h1 + w2 * h2 - inter + eps

    # IoU
    iou = inter / union
    d1 = (b2_x1 - b1_x1) ** 2 + (b2_y1 - b1_y1) ** 2
    d2 = (b2_x2 - b1_x2) ** 2 + (b2_y2 - b1_y2) ** 2
    mpdiou_hw_pow = feat_h**2 + feat_w**2
    mpdiou = iou - d1 / mpdiou_hw_pow - d2 / mpdiou_hw_pow  # MPDIoU
    return (1.0 - mpdiou).squeeze(-1)


# ---------------------------------------------------------------------------------------------
# 4. Inner-IoU (Zhang, Xu, Zhang 2023)
# ---------------------------------------------------------------------------------------------
# Source: malagoutou/Inner-IoU.  The repository holds only two functions:
#   innerciou.py, def inner_ciou   (commits ee73f45ce489be44365461e09835e2cb9365e5c4 and
#       f684f1a6d206657455f0c6bd960af55cdb533999: same maths; a file ``innerciou`` without
#       extension, commit 3b8b77037b70bfe553489b98fe290e5611c6c87c, is an older copy with a BUG:
#       ``iou`` is never defined but is used in ``alpha``, so it raises NameError)
#   innersiou.py, def inner_siou   (commit 056a0cb369e2dd04667a8ddb1fb34461d11fdd39)
#   No inner-GIoU / inner-DIoU / inner-EIoU code is in the repository (the paper defines them as
#   L_Inner-X = L_X + IoU - IoU^inner); they are NOT transcribed here.
#   License: no LICENSE file in the index listing.
# Inner boxes: same centre, width and height multiplied by ``ratio`` (default ratio = 1.0 in
#   the code, i.e. plain CIoU/SIoU; the paper recommends ratio in [0.5, 1.5]).
#   inner_union = w1*r * h1*r + w2*r * h2*r - inner_inter + eps; inner_iou = inner_inter /
#   inner_union.  Only the IoU term is replaced; every penalty (and CIoU's alpha, which uses the
#   ORDINARY iou) is computed on the original boxes.
# Adaptations: the originals always treat box1/box2 as (cx, cy, w, h) (their ``xywh`` argument
#   is ignored), so xyxy inputs are converted to cxcywh first (this round-trip can move the
#   corners by float rounding); ``.chunk(4, -1)`` as the source; squeeze to (N,); returns
#   1 - value.  box1 = prediction, box2 = target (ultralytics call order).
def _xyxy_to_cxcywh(b):
    return torch.stack(
        ((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]),
        dim=-1,
    )


def _inner_common(box1, box2, ratio, eps):
    (x1, y1, w1, h1), (x2, y2, w2, h2) = box1.chunk(4, -1), box2.chunk(4, -1)
    w1_, h1_, w2_, h2_ = w1 / 2, h1 / 2, w2 / 2, h2 / 2
    b1_x1, b1_x2, b1_y1, b1_y2 = x1 - w1_, x1 + w1_, y1 - h1_, y1 + h1_
    b2_x1, b2_x2, b2_y1, b2_y2 = x2 - w2_, x2 + w2_, y2 - h2_, y2 + h2_
    # IoU
    inter = (torch.min(b1_x2, b2_x2) - torch.max(b1_x1, b2_x1)).clamp(0) * (
        torch.min(b1_y2, b2_y2) - torch.max(b1_y1, b2_y1)
    ).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    # Inner-IoU
    inner_b1_x1, inner_b1_x2, inner_b1_y1, inner_b1_y2 = (
        x1 - w1_ * ratio,
        x1 + w1_ * ratio,
        y1 - h1_ * ratio,
        y1 + h1_ * ratio,
    )
    inner_b2_x1, inner_b2_x2, inner_b2_y1, inner_b2_y2 = (
        x2 - w2_ * ratio,
        x2 + w2_ * ratio,
        y2 - h2_ * ratio,
        y2 + h2_ * ratio,
    )
    inner_inter = (torch.min(inner_b1_x2, inner_b2_x2) - torch.max(inner_b1_x1, inner_b2_x1)).clamp(
        0
    ) * (torch.min(inner_b1_y2, inner_b2_y2) - torch.max(inner_b1_y1, inner_b2_y1)).clamp(0)
    inner_union = w1 * ratio * h1 * ratio + w2 * ratio * h2 * ratio - inner_inter + eps
    inner_iou = inner_inter / inner_union
    boxes = (b1_x1, b1_x2, b1_y1, b1_y2, b2_x1, b2_x2, b2_y1, b2_y2)
    return boxes, (w1, h1, w2, h2), iou, inner_iou


# Plain inner-IoU loss: 1 - inner_iou, built from the block shared verbatim by inner_ciou and
#   inner_siou (the repository has no standalone inner-IoU function).
def inner_iou_loss(pred, target, ratio=1.0, eps=1e-7):
    _, _, _, inner_iou = _inner_common(_xyxy_to_cxcywh(pred), _xyxy_to_cxcywh(target), ratio, eps)
    return (1.0 - inner_iou).squeeze(-1)


# inner_ciou (innerciou.py): inner_iou - (rho2 / c2 + v * alpha), v without eps on h,
#   alpha = v / (v - iou + (1 + eps)) under no_grad with the ORDINARY iou; c2 = cw^2+ch^2+eps.
def inner_ciou_loss(pred, target, ratio=1.0, eps=1e-7):
    boxes, whs, iou, inner_iou = _inner_common(
        _xyxy_to_cxcywh(pred), _xyxy_to_cxcywh(target), ratio, eps
    )
    b1_x1, b1_x2, b1_y1, b1_y2, b2_x1, b2_x2, b2_y1, b2_y2 = boxes
    w1, h1, w2, h2 = whs
    cw = torch.max(b1_x2, b2_x2) - torch.min(b1_x1, b2_x1)  # convex  width
    ch = torch.max(b1_y2, b2_y2) - torch.min(b1_y1, b2_y1)  # convex height
    c2 = cw**2 + ch**2 + eps  # convex diagonal squared
    rho2 = (
        (b2_x1 + b2_x2 - b1_x1 - b1_x2) ** 2 + (b2_y1 + b2_y2 - b1_y1 - b1_y2) ** 2
    ) / 4  # center dist ** 2
    v = (4 / math.pi**2) * torch.pow(torch.atan(w2 / h2) - torch.atan(w1 / h1), 2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    inner_ciou = inner_iou - (rho2 / c2 + v * alpha)
    return (1.0 - inner_ciou).squeeze(-1)


# inner_siou (innersiou.py): SIoU as YOLOv6's later text, i.e. s_cw/s_ch WITH ``+ eps``, no eps
#   on the heights (xywh branch), theta = 4; returns inner_iou - 0.5 * (distance + shape).
def inner_siou_loss(pred, target, ratio=1.0, eps=1e-7):
    boxes, whs, _, inner_iou = _inner_common(
        _xyxy_to_cxcywh(pred), _xyxy_to_cxcywh(target), ratio, eps
    )
    b1_x1, b1_x2, b1_y1, b1_y2, b2_x1, b2_x2, b2_y1, b2_y2 = boxes
    w1, h1, w2, h2 = whs
    cw = torch.max(b1_x2, b2_x2) - torch.min(b1_x1, b2_x1)  # convex width
    ch = torch.max(b1_y2, b2_y2) - torch.min(b1_y1, b2_y1)  # convex height
    s_cw = (b2_x1 + b2_x2 - b1_x1 - b1_x2) * 0.5 + eps
    s_ch = (b2_y1 + b2_y2 - b1_y1 - b1_y2) * 0.5 + eps
    sigma = torch.pow(s_cw**2 + s_ch**2, 0.5)
    sin_alpha_1 = torch.abs(s_cw) / sigma
    sin_alpha_2 = torch.abs(s_ch) / sigma
    threshold = pow(2, 0.5) / 2
    sin_alpha = torch.where(sin_alpha_1 > threshold, sin_alpha_2, sin_alpha_1)
    angle_cost = torch.cos(torch.arcsin(sin_alpha) * 2 - math.pi / 2)
    rho_x = (s_cw / cw) ** 2
    rho_y = (s_ch / ch) ** 2
    gamma = angle_cost - 2
    distance_cost = 2 - torch.exp(gamma * rho_x) - torch.exp(gamma * rho_y)
    omiga_w = torch.abs(w1 - w2) / torch.max(w1, w2)
    omiga_h = torch.abs(h1 - h2) / torch.max(h1, h2)
    shape_cost = torch.pow(1 - torch.exp(-1 * omiga_w), 4) + torch.pow(
        1 - torch.exp(-1 * omiga_h), 4
    )
    inner_siou = inner_iou - 0.5 * (distance_cost + shape_cost)
    return (1.0 - inner_siou).squeeze(-1)


# ---------------------------------------------------------------------------------------------
# 5. Shape-IoU (Zhang & Zhang 2023)
# ---------------------------------------------------------------------------------------------
# Source: malagoutou/Shape-IoU, shapeiou.py, def shape_iou(box1, box2, xywh=True, scale=0,
#   eps=1e-7), commit 6cc086ef3960783e0d782e3bdd77ce5ecd14bb02.  (The other stored version,
#   commit 2af159efdccb00364be78efc8fd087df60766d75, has the same body but a SyntaxError in its
#   signature: ``scale=0  eps=1e-7``, missing comma.)  License: no LICENSE file in the index.
# What it computes (box1 = prediction, box2 = target; w2, h2 are the TARGET's):
#   iou = inter / (w1 h1 + w2 h2 - inter + eps)   (no eps on widths/heights)
#   ww = 2 w2^s / (w2^s + h2^s),  hh = 2 h2^s / (w2^s + h2^s),  s = scale (default 0 -> ww=hh=1)
#   distance = (hh * dx^2 + ww * dy^2) / (cw^2 + ch^2 + eps)   (dx, dy: centre offsets)
#   omega_w = hh |w1 - w2| / max(w1, w2), omega_h = ww |h1 - h2| / max(h1, h2)
#   shape = (1 - e^-omega_w)^4 + (1 - e^-omega_h)^4
#   shape_iou = iou - distance - 0.5 * shape ; loss = 1 - shape_iou.
#   With scale = 0 this is DIoU's penalty + half SIoU's shape cost (theta = 4).
# Adaptations: the function always treats inputs as (cx, cy, w, h) (``xywh`` is ignored), so
#   xyxy inputs are converted to cxcywh first; squeeze to (N,); returns 1 - value.
def shape_iou_loss(pred, target, scale=0, eps=1e-7):
    box1, box2 = _xyxy_to_cxcywh(pred), _xyxy_to_cxcywh(target)
    (x1, y1, w1, h1), (x2, y2, w2, h2) = box1.chunk(4, -1), box2.chunk(4, -1)
    w1_, h1_, w2_, h2_ = w1 / 2, h1 / 2, w2 / 2, h2 / 2
    b1_x1, b1_x2, b1_y1, b1_y2 = x1 - w1_, x1 + w1_, y1 - h1_, y1 + h1_
    b2_x1, b2_x2, b2_y1, b2_y2 = x2 - w2_, x2 + w2_, y2 - h2_, y2 + h2_

    # Intersection area
    inter = (torch.min(b1_x2, b2_x2) - torch.max(b1_x1, b2_x1)).clamp(0) * (
        torch.min(b1_y2, b2_y2) - torch.max(b1_y1, b2_y1)
    ).clamp(0)

    # Union Area
    union = w1 * h1 + w2 * h2 - inter + eps

    # IoU
    iou = inter / union

    # Shape-Distance
    ww = 2 * torch.pow(w2, scale) / (torch.pow(w2, scale) + torch.pow(h2, scale))
    hh = 2 * torch.pow(h2, scale) / (torch.pow(w2, scale) + torch.pow(h2, scale))
    cw = torch.max(b1_x2, b2_x2) - torch.min(b1_x1, b2_x1)  # convex width
    ch = torch.max(b1_y2, b2_y2) - torch.min(b1_y1, b2_y1)  # convex height
    c2 = cw**2 + ch**2 + eps  # convex diagonal squared
    center_distance_x = ((b2_x1 + b2_x2 - b1_x1 - b1_x2) ** 2) / 4
    center_distance_y = ((b2_y1 + b2_y2 - b1_y1 - b1_y2) ** 2) / 4
    center_distance = hh * center_distance_x + ww * center_distance_y
    distance = center_distance / c2

    # Shape-Shape
    omiga_w = hh * torch.abs(w1 - w2) / torch.max(w1, w2)
    omiga_h = ww * torch.abs(h1 - h2) / torch.max(h1, h2)
    shape_cost = torch.pow(1 - torch.exp(-1 * omiga_w), 4) + torch.pow(
        1 - torch.exp(-1 * omiga_h), 4
    )

    # Shape-IoU
    iou = iou - distance - 0.5 * (shape_cost)
    return (1.0 - iou).squeeze(-1)


# ---------------------------------------------------------------------------------------------
# 6. Focal-EIoU (Zhang, Ren, Zhang, Jia, Wang, Tan 2021)
# ---------------------------------------------------------------------------------------------
# AUTHORS' CODE NOT FOUND in the index (searches of code, issues, pages).
# Transcribed instead: the canonical YOLO community ``bbox_iou(..., EIoU=True, Focal=True,
#   alpha=1, gamma=0.5, eps=1e-7)`` and its loss snippet, from the same stored file as 2b
#   (index id 5237807439; the identical EIoU/Focal branch is in ids 19533835036, 1344999483,
#   18314025196, 35493945268).
# What it computes (xyxy branch; h = (y2 - y1).clamp(eps) in this copy; other copies use
#   ``+ eps`` on the heights instead):
#   union = w1 h1 + w2 h2 - inter + eps
#   iou   = (inter / (union + eps)) ** alpha          (alpha = 1; eps counted twice)
#   c2 = (cw^2 + ch^2) ** alpha + eps ; rho2 = (dx^2 + dy^2) ** alpha  (centre offsets)
#   rho_w2 = (w_t - w_p)^2, rho_h2 = (h_t - h_p)^2  (from raw coordinates, no eps)
#   cw2 = (cw^2 + eps) ** alpha, ch2 = (ch^2 + eps) ** alpha
#   EIoU = iou - (rho2/c2 + rho_w2/cw2 + rho_h2/ch2)
#   weight = (inter / (union + eps)) ** gamma, gamma = 0.5
#   loss = (1 - EIoU) * weight.detach()   (yolov8 snippet; yolov5 snippet is the same product)
# Paper: L_Focal-EIoU = IoU^gamma * L_EIoU with gamma = 0.5 and the same EIoU penalties
#   (enclosing-box width/height as normalisers).  The code detaches the IoU^gamma weight.
# Adaptations: ``.chunk(4, -1)`` unpacking; squeeze to (N,); the weighted product of the loss
#   snippet is folded in (without the target-score weight).
def focal_eiou_loss_community(pred, target, gamma=0.5, alpha=1, eps=1e-7):
    b1_x1, b1_y1, b1_x2, b1_y2 = pred.chunk(4, -1)
    b2_x1, b2_y1, b2_x2, b2_y2 = target.chunk(4, -1)
    w1, h1 = b1_x2 - b1_x1, (b1_y2 - b1_y1).clamp(eps)
    w2, h2 = b2_x2 - b2_x1, (b2_y2 - b2_y1).clamp(eps)

    # Intersection area
    inter = (b1_x2.minimum(b2_x2) - b1_x1.maximum(b2_x1)).clamp(0) * (
        b1_y2.minimum(b2_y2) - b1_y1.maximum(b2_y1)
    ).clamp(0)

    # Union Area
    union = w1 * h1 + w2 * h2 - inter + eps

    # IoU
    iou = torch.pow(inter / (union + eps), alpha)  # alpha iou
    cw = b1_x2.maximum(b2_x2) - b1_x1.minimum(b2_x1)  # convex (smallest enclosing box) width
    ch = b1_y2.maximum(b2_y2) - b1_y1.minimum(b2_y1)  # convex height
    c2 = (cw**2 + ch**2) ** alpha + eps  # convex diagonal squared
    rho2 = (
        ((b2_x1 + b2_x2 - b1_x1 - b1_x2) ** 2 + (b2_y1 + b2_y2 - b1_y1 - b1_y2) ** 2) / 4
    ) ** alpha  # center dist ** 2
    rho_w2 = ((b2_x2 - b2_x1) - (b1_x2 - b1_x1)) ** 2
    rho_h2 = ((b2_y2 - b2_y1) - (b1_y2 - b1_y1)) ** 2
    cw2 = torch.pow(cw**2 + eps, alpha)
    ch2 = torch.pow(ch**2 + eps, alpha)
    out = (
        iou - (rho2 / c2 + rho_w2 / cw2 + rho_h2 / ch2),
        torch.pow(inter / (union + eps), gamma),
    )  # Focal_EIou
    loss = (1.0 - out[0]) * out[1].detach()
    return loss.squeeze(-1)


# ---------------------------------------------------------------------------------------------
# 7. NWD (Wang, Xu, Yang, Yu 2021)
# ---------------------------------------------------------------------------------------------
# Source: jwwangchn/NWD, mmdet/models/losses/iou_loss.py, def wasserstein_loss (decorated with
#   @mmcv.jit and @weighted_loss), commit b8168016ec0ecc925cdc4346aff7869696508f83.
#   License: no LICENSE file in the index listing (the repo is an mmdetection fork).
# What it computes (pred, target xyxy; mode='exp' is the default):
#   center_distance = dx^2 + dy^2 + eps      (eps INSIDE the sqrt below)
#   w = x2 - x1 + eps, h = y2 - y1 + eps      (eps cancels in the differences)
#   W2^2 = center_distance + ((w1 - w2)^2 + (h1 - h2)^2) / 4
#   loss = 1 - exp(-sqrt(W2^2) / constant),  constant = 12.8 ("for AI-TOD")
# Defaults: the function has eps=1e-7, gamma=1 (unused in 'exp'); the registered
#   WassersteinLoss module passes ITS defaults eps=1e-6, gamma=2, constant=12.8, mode='exp', so
#   a config-built loss uses eps = 1e-6.
# Adaptations: decorators dropped (weight/reduction only); the other modes are kept.
def nwd_loss(pred, target, eps=1e-7, mode="exp", gamma=1, constant=12.8):
    center1 = (pred[:, :2] + pred[:, 2:]) / 2
    center2 = (target[:, :2] + target[:, 2:]) / 2

    whs = center1[:, :2] - center2[:, :2]

    center_distance = whs[:, 0] * whs[:, 0] + whs[:, 1] * whs[:, 1] + eps

    w1 = pred[:, 2] - pred[:, 0] + eps
    h1 = pred[:, 3] - pred[:, 1] + eps
    w2 = target[:, 2] - target[:, 0] + eps
    h2 = target[:, 3] - target[:, 1] + eps

    wh_distance = ((w1 - w2) ** 2 + (h1 - h2) ** 2) / 4

    wasserstein_2 = center_distance + wh_distance

    if mode == "exp":
        normalized_wasserstein = torch.exp(-torch.sqrt(wasserstein_2) / constant)
        wloss = 1 - normalized_wasserstein

    if mode == "sqrt":
        wloss = torch.sqrt(wasserstein_2)

    if mode == "log":
        wloss = torch.log(wasserstein_2 + 1)

    if mode == "norm_sqrt":
        wloss = 1 - 1 / (gamma + torch.sqrt(wasserstein_2))

    if mode == "w2":
        wloss = wasserstein_2

    return wloss


# ---------------------------------------------------------------------------------------------
# 8. GWD and KLD (Yang et al. 2021) as implemented in mmrotate
# ---------------------------------------------------------------------------------------------
# Source: open-mmlab/mmrotate, mmrotate/models/losses/gaussian_dist_loss.py: xy_wh_r_2_xy_sigma,
#   postprocess, gwd_loss, kld_loss ("Copyright (c) SJTU").  Two stored versions were read:
#     commit 374d175108c98b2ac5c6f28ee0ad947cc96a1f5b : clamps are ``clamp(1e-7)``   (default)
#     commit 05118566865314afad6b6d0b666b0f0e57bd22b5 : clamps are ``clamp(0)``, no inner clamps
#       in the GWD normaliser, and 'sqrt' postprocess without clamp
#   ``clamp_min`` selects between them (1e-7 / 0.0); with 0.0 the extra clamps become no-ops.
#   License: LICENSE not in the index (upstream mmrotate states Apache-2.0; not verified here).
# Adaptation to axis-aligned boxes: xyxy -> (cx, cy, w, h, r=0) and then the mmrotate
#   ``xy_wh_r_2_xy_sigma`` (w, h clamped to [1e-7, 1e7]); with r = 0, Sigma = diag(w^2/4, h^2/4).
#   ``@weighted_loss`` dropped.  Defaults as requested: fun='log1p', tau=1.0, alpha=1.0,
#   normalize=True (GWD), sqrt=True (KLD).  NB: the GDLoss module's own default is tau=0.0,
#   which makes postprocess return the transformed distance without the 1 - 1/(tau + d) map.
# GWD (what the code computes):
#   d^2 = |mu_p - mu_t|^2
#         + alpha^2 (tr S_p + tr S_t - 2 sqrt(tr(S_p S_t) + 2 sqrt(det S_p det S_t)))
#   d = sqrt(clamp(d^2));  normalize: d / (2 (det S_p det S_t)^(1/8)), i.e. for r = 0:
#   d / (w_p h_p w_t h_t)^(1/4);  loss = 1 - 1/(tau + log1p(d)).
#   Paper (GWD, ICML 2021) applies f (sqrt or log1p) to the SQUARED distance and has no such
#   normaliser; mmrotate takes the sqrt first and then log1p, and adds the normaliser.
# KLD (what the code computes): with S_p^-1 inside, i.e. KL(N_t || N_p):
#   D = 0.5 dmu^T S_p^-1 dmu / alpha^2 + 0.5 tr(S_p^-1 S_t) + 0.5 (ln|S_p| - ln|S_t|) - 1
#   loss = 1 - 1/(tau + log1p(sqrt(clamp(D))))   (sqrt AND log1p both applied).
#   The KLD paper writes D_kl(N_p || N_t); check which direction you implement.
def xy_wh_r_2_xy_sigma(xywhr):
    _shape = xywhr.shape
    assert _shape[-1] == 5
    xy = xywhr[..., :2]
    wh = xywhr[..., 2:4].clamp(min=1e-7, max=1e7).reshape(-1, 2)
    r = xywhr[..., 4]
    cos_r = torch.cos(r)
    sin_r = torch.sin(r)
    R = torch.stack((cos_r, -sin_r, sin_r, cos_r), dim=-1).reshape(-1, 2, 2)
    S = 0.5 * torch.diag_embed(wh)

    sigma = R.bmm(S.square()).bmm(R.permute(0, 2, 1)).reshape(_shape[:-1] + (2, 2))  # noqa: RUF005

    return xy, sigma


def postprocess(distance, fun="log1p", tau=1.0, clamp_min=1e-7):
    if fun == "log1p":
        distance = torch.log1p(distance)
    elif fun == "sqrt":
        distance = torch.sqrt(distance.clamp(clamp_min))
    elif fun == "none":
        pass
    else:
        raise ValueError(f"Invalid non-linear function {fun}")

    if tau >= 1.0:
        return 1 - 1 / (tau + distance)
    else:
        return distance


def _xyxy_to_xywhr0(b):
    cxcywh = _xyxy_to_cxcywh(b)
    return torch.cat((cxcywh, torch.zeros_like(cxcywh[:, :1])), dim=-1)


def gwd_loss_mmrotate(
    pred, target, fun="log1p", tau=1.0, alpha=1.0, normalize=True, clamp_min=1e-7
):
    xy_p, Sigma_p = xy_wh_r_2_xy_sigma(_xyxy_to_xywhr0(pred))
    xy_t, Sigma_t = xy_wh_r_2_xy_sigma(_xyxy_to_xywhr0(target))

    xy_distance = (xy_p - xy_t).square().sum(dim=-1)

    whr_distance = Sigma_p.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    whr_distance = whr_distance + Sigma_t.diagonal(dim1=-2, dim2=-1).sum(dim=-1)

    _t_tr = (Sigma_p.bmm(Sigma_t)).diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    _t_det_sqrt = (Sigma_p.det() * Sigma_t.det()).clamp(clamp_min).sqrt()
    whr_distance = whr_distance + (-2) * ((_t_tr + 2 * _t_det_sqrt).clamp(clamp_min).sqrt())

    distance = (xy_distance + alpha * alpha * whr_distance).clamp(clamp_min).sqrt()

    if normalize:
        scale = 2 * (_t_det_sqrt.clamp(clamp_min).sqrt().clamp(clamp_min).sqrt()).clamp(1e-7)
        distance = distance / scale

    return postprocess(distance, fun=fun, tau=tau, clamp_min=clamp_min)


def kld_loss_mmrotate(pred, target, fun="log1p", tau=1.0, alpha=1.0, sqrt=True, clamp_min=1e-7):
    xy_p, Sigma_p = xy_wh_r_2_xy_sigma(_xyxy_to_xywhr0(pred))
    xy_t, Sigma_t = xy_wh_r_2_xy_sigma(_xyxy_to_xywhr0(target))

    _shape = xy_p.shape

    xy_p = xy_p.reshape(-1, 2)
    xy_t = xy_t.reshape(-1, 2)
    Sigma_p = Sigma_p.reshape(-1, 2, 2)
    Sigma_t = Sigma_t.reshape(-1, 2, 2)

    Sigma_p_inv = torch.stack(
        (Sigma_p[..., 1, 1], -Sigma_p[..., 0, 1], -Sigma_p[..., 1, 0], Sigma_p[..., 0, 0]),
        dim=-1,
    ).reshape(-1, 2, 2)
    Sigma_p_inv = Sigma_p_inv / Sigma_p.det().unsqueeze(-1).unsqueeze(-1)

    dxy = (xy_p - xy_t).unsqueeze(-1)
    xy_distance = 0.5 * dxy.permute(0, 2, 1).bmm(Sigma_p_inv).bmm(dxy).view(-1)

    whr_distance = 0.5 * Sigma_p_inv.bmm(Sigma_t).diagonal(dim1=-2, dim2=-1).sum(dim=-1)

    Sigma_p_det_log = Sigma_p.det().log()
    Sigma_t_det_log = Sigma_t.det().log()
    whr_distance = whr_distance + 0.5 * (Sigma_p_det_log - Sigma_t_det_log)
    whr_distance = whr_distance - 1
    distance = xy_distance / (alpha * alpha) + whr_distance
    if sqrt:
        distance = distance.clamp(clamp_min).sqrt()

    distance = distance.reshape(_shape[:-1])

    return postprocess(distance, fun=fun, tau=tau, clamp_min=clamp_min)


# ---------------------------------------------------------------------------------------------
# 9. Official alpha-IoU (He, Erfani, Ma, Bailey, Chi, Hua, NeurIPS 2021)
# ---------------------------------------------------------------------------------------------
# Source: Jacobi93/Alpha-IoU (the brief's "Jacobhe/alpha-IoU" is this repository),
#   utils/general.py, def bbox_alpha_iou(box1, box2, x1y1x2y2=False, GIoU=False, DIoU=False,
#   CIoU=False, alpha=2, eps=1e-9).  License: MIT (LICENSE, commit 888060e3...).
#   Call site utils/loss.py (commit 2554b46f...): ``bbox_alpha_iou(pbox.T, tbox[i],
#   x1y1x2y2=False, alpha=3, CIoU=True)`` then ``lbox += (1.0 - iou).mean()``: box1 = pred,
#   alpha = 3 in training, loss = 1 - returned value.
#   TWO stored versions differ in the DIoU/CIoU penalty:
#   * commit 2554b46f5c60abccad0dbe294f705a688f857bc7 ("beta" form, ``beta = 2 * alpha``):
#       c2 = cw^(2a) + ch^(2a) + eps ; rho2 = (|2dx|^(2a) + |2dy|^(2a)) / 2^(2a)
#          = |dx|^(2a) + |dy|^(2a)           -> penalty (rho_x^2a + rho_y^2a)/(c_w^2a + c_h^2a)
#   * commit 39d439e786086091d050c4499b6488b6f8e43e8b ("pow" form; ``# beta = 2 * alpha`` is
#       commented out there, which suggests it is the LATER one):
#       c2 = (cw^2 + ch^2)^a + eps ; rho2 = ((|2dx|^2 + |2dy|^2) / 4)^a  -> (rho^2/c^2)^a,
#       the paper's form.
#   Both versions, everything else identical:
#     iou = (inter/union + eps)^a,  h += eps, union = w1 h1 + w2 h2 - inter + eps
#     CIoU: v as CIoU; alpha_ciou = v / ((1 + eps) - inter/union + v) under no_grad (plain IoU);
#           value = iou - (rho2/c2 + (v * alpha_ciou + eps)^a)
#     GIoU: c_area = max(cw*ch + eps, union); value = iou - ((c_area - union)/c_area + eps)^a
#     IoU : value = iou
# Adaptations: called with box1 = pred.T, box2 = target and x1y1x2y2=True (the function
#   transposes box2 itself), returning 1 - value; ``penalty_form`` picks the version
#   ("beta" = 2554b46, "pow" = 39d439e).
def alpha_iou_loss_official(
    pred, target, GIoU=False, DIoU=False, CIoU=False, alpha=2, eps=1e-9, penalty_form="beta"
):
    box1, box2 = pred.T, target
    # Returns tsqrt_he IoU of box1 to box2. box1 is 4, box2 is nx4
    box2 = box2.T

    # Get the coordinates of bounding boxes (x1y1x2y2=True branch)
    b1_x1, b1_y1, b1_x2, b1_y2 = box1[0], box1[1], box1[2], box1[3]
    b2_x1, b2_y1, b2_x2, b2_y2 = box2[0], box2[1], box2[2], box2[3]

    # Intersection area
    inter = (torch.min(b1_x2, b2_x2) - torch.max(b1_x1, b2_x1)).clamp(0) * (
        torch.min(b1_y2, b2_y2) - torch.max(b1_y1, b2_y1)
    ).clamp(0)

    # Union Area
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps
    union = w1 * h1 + w2 * h2 - inter + eps

    # change iou into pow(iou+eps)
    iou = torch.pow(inter / union + eps, alpha)
    beta = 2 * alpha
    if GIoU or DIoU or CIoU:
        # convex (smallest enclosing box) width
        cw = torch.max(b1_x2, b2_x2) - torch.min(b1_x1, b2_x1)
        ch = torch.max(b1_y2, b2_y2) - torch.min(b1_y1, b2_y1)  # convex height
        if CIoU or DIoU:  # Distance or Complete IoU https://arxiv.org/abs/1911.08287v1
            if penalty_form == "beta":
                c2 = cw**beta + ch**beta + eps  # convex diagonal
            else:
                c2 = (cw**2 + ch**2) ** alpha + eps  # convex diagonal
            rho_x = torch.abs(b2_x1 + b2_x2 - b1_x1 - b1_x2)
            rho_y = torch.abs(b2_y1 + b2_y2 - b1_y1 - b1_y2)
            if penalty_form == "beta":
                rho2 = (rho_x**beta + rho_y**beta) / (2**beta)  # center distance
            else:
                rho2 = ((rho_x**2 + rho_y**2) / 4) ** alpha  # center distance
            if DIoU:
                value = iou - rho2 / c2  # DIoU
            else:  # CIoU https://github.com/Zzh-tju/DIoU-SSD-pytorch/blob/master/utils/box/box_utils.py#L47
                v = (4 / math.pi**2) * torch.pow(torch.atan(w2 / h2) - torch.atan(w1 / h1), 2)
                with torch.no_grad():
                    alpha_ciou = v / ((1 + eps) - inter / union + v)
                value = iou - (rho2 / c2 + torch.pow(v * alpha_ciou + eps, alpha))  # CIoU
        else:  # GIoU https://arxiv.org/pdf/1902.09630.pdf
            c_area = torch.max(cw * ch + eps, union)  # convex area
            value = iou - torch.pow((c_area - union) / c_area + eps, alpha)  # GIoU
    else:
        value = iou  # torch.log(iou+eps) or iou
    return 1.0 - value
