"""torchvision detectors with a chosen box-regression loss.

FCOS and RetinaNet regress boxes against anchors. Their heads here decode the regression into
xyxy boxes and apply an IoU-based loss from :mod:`noisybox.losses` (decoded in float32, so
autocast never feeds the loss half-precision boxes), or apply ``l1`` / ``smooth-l1`` to the
encoded targets, the stock behaviour. Everything else is torchvision's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection._utils import BoxLinearCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone, resnet_fpn_backbone
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.retinanet import RetinaNetHead, RetinaNetRegressionHead
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import MultiScaleRoIAlign, sigmoid_focal_loss
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelP6P7

from ..errors import NoisyboxError
from ..losses import CoordinateLoss
from .batching import PaddedTargets, SquareBatchTransform, check_boxes, fcos_matches, pad_targets
from .diagnostics import PositiveIoU
from .saved import load_state

#: GroupNorm groups in RetinaNet's heads (torchvision's v2 head)
RETINANET_GROUPS = 32
BACKBONES = ("tiny", "resnet18", "resnet34", "resnet50", "mobilenet_v3")
#: torchvision's Faster R-CNN RoI-head settings, with scores kept down to 0.05 for AP.
ROI_HEAD_SETTINGS = {
    "fg_iou_thresh": 0.5,
    "bg_iou_thresh": 0.5,
    "batch_size_per_image": 512,
    "positive_fraction": 0.25,
    "bbox_reg_weights": None,
    "score_thresh": 0.05,
    "nms_thresh": 0.5,
    "detections_per_img": 100,
}


def _encode(coder, gt_boxes: Tensor, anchors: Tensor) -> Tensor:
    """Regression targets of ``gt_boxes`` against ``anchors`` (torchvision's two coders
    take their arguments in opposite orders)."""
    if isinstance(coder, BoxLinearCoder):
        return coder.encode(anchors, gt_boxes)
    return coder.encode_single(gt_boxes, anchors)


def _decode(coder, regression: Tensor, anchors: Tensor) -> Tensor:
    """xyxy boxes from ``regression`` against ``anchors``, in float32."""
    regression, anchors = regression.float(), anchors.float()
    if isinstance(coder, BoxLinearCoder):
        return coder.decode(regression, anchors)
    return coder.decode_single(regression, anchors)


def regression_loss(
    box_loss: nn.Module,
    coder,
    regression: Tensor,
    anchors: Tensor,
    gt_boxes: Tensor,
    recorder: PositiveIoU,
) -> Tensor:
    """Summed box loss of foreground ``regression`` (``(N, 4)``) against ``gt_boxes``.

    IoU-based losses see decoded boxes; coordinate losses the encoded targets. ``recorder``
    sees the decoded boxes either way.
    """
    if isinstance(box_loss, CoordinateLoss):
        if recorder.armed:
            recorder.add(_decode(coder, regression.detach(), anchors), gt_boxes)
        return box_loss(regression.float(), _encode(coder, gt_boxes, anchors).float())
    predicted = _decode(coder, regression, anchors)
    recorder.add(predicted.detach(), gt_boxes)
    return box_loss(predicted, gt_boxes.float())


class FCOSHeadWithLoss(FCOSHead):
    """torchvision's FCOS head with ``box_loss`` (``reduction="sum"``) in place of GIoU;
    ``positive_iou`` records the foreground locations' boxes."""

    def __init__(
        self,
        in_channels: int,
        num_anchors: int,
        num_classes: int,
        box_loss: nn.Module,
        positive_iou: PositiveIoU,
    ):
        super().__init__(in_channels, num_anchors, num_classes)
        self.box_loss, self.positive_iou = box_loss, positive_iou

    def compute_loss(
        self,
        targets: PaddedTargets,
        head_outputs: dict[str, Tensor],
        anchors: Tensor,
        matched: Tensor,
    ) -> dict[str, Tensor]:
        """FCOS's three losses, each summed and divided by the number of foreground
        locations: sigmoid focal loss on the classes, ``box_loss`` on the foreground
        locations' boxes, BCE on their centre-ness.

        ``targets`` padded to ``(B, M)``; ``anchors`` ``(B, N, 4)`` xyxy pixels; ``matched``
        ``(B, N)`` indices into ``targets`` (-1: background), as :func:`fcos_matches` gives.
        Adapted from torchvision 0.29's ``FCOSHead.compute_loss`` (only the box loss differs)
        for the whole batch at once: the foreground is found with one host synchronisation.
        """
        cls_logits = head_outputs["cls_logits"]
        index = matched.clip(min=0)
        gt_boxes = torch.gather(targets.boxes, 1, index[..., None].expand(-1, -1, 4))
        gt_classes = torch.gather(targets.labels, 1, index).masked_fill(matched < 0, -1)
        foreground = torch.nonzero(gt_classes >= 0, as_tuple=True)
        num_foreground = max(1, len(foreground[0]))

        cls_targets = torch.zeros_like(cls_logits)
        cls_targets[(*foreground, gt_classes[foreground])] = 1.0
        loss_cls = sigmoid_focal_loss(cls_logits, cls_targets, reduction="sum")

        anchors, gt_boxes = anchors[foreground], gt_boxes[foreground]
        loss_box = regression_loss(
            self.box_loss,
            self.box_coder,
            head_outputs["bbox_regression"][foreground],
            anchors,
            gt_boxes,
            self.positive_iou,
        )

        reg_targets = self.box_coder.encode(anchors, gt_boxes)
        left_right, top_bottom = reg_targets[:, [0, 2]], reg_targets[:, [1, 3]]
        ctrness_targets = torch.sqrt(
            (left_right.min(dim=-1)[0] / left_right.max(dim=-1)[0])
            * (top_bottom.min(dim=-1)[0] / top_bottom.max(dim=-1)[0])
        )
        loss_ctrness = nn.functional.binary_cross_entropy_with_logits(
            head_outputs["bbox_ctrness"].squeeze(dim=2)[foreground], ctrness_targets,
            reduction="sum",
        )  # fmt: skip
        return {
            "classification": loss_cls / num_foreground,
            "bbox_regression": loss_box / num_foreground,
            "bbox_ctrness": loss_ctrness / num_foreground,
        }


class BatchedFCOS(FCOS):
    """torchvision's FCOS, training on the whole batch at once: one degenerate-box check a
    batch (:func:`check_boxes`), the targets padded into tensors and matched for all images
    together (:func:`fcos_matches`), the head's loss over the batch. Same losses and
    gradients as torchvision's FCOS (tested); inference is torchvision's."""

    def forward(self, images, targets=None):
        if not self.training:
            return super().forward(images, targets)
        torch._assert(targets is not None, "targets should not be none when in training mode")
        for target in targets:
            boxes = target["boxes"]
            torch._assert(
                boxes.dim() == 2 and boxes.shape[-1] == 4,
                f"Expected target boxes to be a tensor of shape [N, 4], got {boxes.shape}.",
            )
        images, targets = self.transform(images, targets)
        check_boxes(targets)
        features = list(self.backbone(images.tensors).values())
        head_outputs = self.head(features)
        anchors = self.anchor_generator(images, features)
        num_anchors_per_level = [x.size(2) * x.size(3) for x in features]
        return self.compute_loss(targets, head_outputs, anchors, num_anchors_per_level)

    def compute_loss(self, targets, head_outputs, anchors, num_anchors_per_level):
        padded = pad_targets(targets)
        anchors = torch.stack(anchors)
        matched = fcos_matches(anchors, num_anchors_per_level, padded, self.center_sampling_radius)
        return self.head.compute_loss(padded, head_outputs, anchors, matched)


class RetinaNetRegressionHeadWithLoss(RetinaNetRegressionHead):
    """torchvision's RetinaNet regression head with ``box_loss`` (``reduction="sum"``);
    ``positive_iou`` records the foreground anchors' boxes."""

    def __init__(
        self,
        in_channels: int,
        num_anchors: int,
        box_loss: nn.Module,
        positive_iou: PositiveIoU,
        norm_layer: Callable[..., nn.Module] | None = None,
    ):
        super().__init__(in_channels, num_anchors, norm_layer=norm_layer)
        self.box_loss, self.positive_iou = box_loss, positive_iou

    def compute_loss(self, targets, head_outputs, anchors, matched_idxs) -> Tensor:
        # Adapted from torchvision 0.29's RetinaNetRegressionHead.compute_loss.
        losses = []
        for targets_per_image, regression, anchors_per_image, matched in zip(
            targets, head_outputs["bbox_regression"], anchors, matched_idxs, strict=True
        ):
            foreground = torch.where(matched >= 0)[0]
            gt_boxes = targets_per_image["boxes"][matched[foreground]]
            loss = regression_loss(
                self.box_loss,
                self.box_coder,
                regression[foreground],
                anchors_per_image[foreground],
                gt_boxes,
                self.positive_iou,
            )
            losses.append(loss / max(1, foreground.numel()))
        return sum(losses) / max(1, len(targets))


class RoIHeadsWithLoss(RoIHeads):
    """torchvision's Faster R-CNN box head with ``box_loss`` on the sampled RoIs.

    IoU-based losses compare the boxes decoded from the regression of each positive RoI (for
    its ground-truth class) with the boxes decoded from its targets; ``smooth-l1`` on the
    encoded deltas is torchvision's own loss. Both are summed and divided by the number of
    sampled RoIs, as torchvision does. Inference is torchvision's. ``positive_iou`` records
    the positive RoIs' decoded boxes against their targets.
    """

    def __init__(self, box_loss: nn.Module, positive_iou: PositiveIoU, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.box_loss, self.positive_iou = box_loss, positive_iou

    def forward(self, features, proposals, image_shapes, targets=None):
        if not self.training:
            return super().forward(features, proposals, image_shapes, targets)
        proposals, _, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        labels, regression_targets = torch.cat(labels), torch.cat(regression_targets)
        positive = torch.where(labels > 0)[0]
        per_class = box_regression.reshape(len(labels), -1, 4)[positive, labels[positive]]
        anchors = torch.cat(proposals)[positive]
        coordinates = isinstance(self.box_loss, CoordinateLoss)
        if coordinates and not self.positive_iou.armed:
            loss_box = self.box_loss(per_class, regression_targets[positive])
        else:
            gt_boxes = _decode(self.box_coder, regression_targets[positive], anchors)
            predicted = _decode(self.box_coder, per_class, anchors)
            self.positive_iou.add(predicted.detach(), gt_boxes)
            loss_box = (
                self.box_loss(per_class, regression_targets[positive])
                if coordinates
                else self.box_loss(predicted, gt_boxes)
            )
        losses = {
            "loss_classifier": nn.functional.cross_entropy(class_logits, labels),
            "loss_box_reg": loss_box / labels.numel(),
        }
        return [], losses


class Float32P6P7(LastLevelP6P7):
    """torchvision's P6/P7 levels, always computed in float32.

    Their maps are a pixel or two wide on small inputs, where the CPU's bfloat16 convolution
    backward gives non-finite weight gradients (seen with torch 2.14); at that size float32
    costs nothing.
    """

    def forward(self, p, c, names):
        with torch.autocast(p[-1].device.type, enabled=False):
            return super().forward([t.float() for t in p], [t.float() for t in c], names)


class TinyBackbone(nn.Module):
    """A small CNN with an FPN, about 1M parameters, for CPU runs.

    Five stride-2 stages (16 to 160 channels); C3-C5 feed an FPN of ``out_channels`` with P6
    and P7 on top, the layout FCOS and RetinaNet expect (strides 8 to 128).
    """

    def __init__(self, out_channels: int = 64):
        super().__init__()
        widths = (16, 32, 64, 128, 160)
        layers, previous = [], 3
        for width in widths:
            layers.append(
                nn.Sequential(
                    nn.Conv2d(previous, width, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(width, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                )
            )
            previous = width
        self.stages = nn.ModuleList(layers)
        self.fpn = FeaturePyramidNetwork(
            list(widths[2:]), out_channels, extra_blocks=Float32P6P7(out_channels, out_channels)
        )
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        features = OrderedDict()
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index >= 2:
                features[str(index - 2)] = x
        return self.fpn(features)


def build_backbone(name: str) -> nn.Module:
    """A backbone with FPN (P3-P7), untrained (no download), with trainable BatchNorm.

    torchvision's builders freeze BatchNorm by default, which is useless on an untrained net.
    """
    if name == "tiny":
        return TinyBackbone()
    extra = Float32P6P7(256, 256)
    if name.startswith("resnet"):
        return resnet_fpn_backbone(
            backbone_name=name,
            weights=None,
            norm_layer=nn.BatchNorm2d,
            trainable_layers=5,
            returned_layers=[2, 3, 4],
            extra_blocks=extra,
        )
    if name == "mobilenet_v3":
        return mobilenet_backbone(
            backbone_name="mobilenet_v3_large",
            weights=None,
            fpn=True,
            norm_layer=nn.BatchNorm2d,
            trainable_layers=6,
            returned_layers=[2, 3, 4],
            extra_blocks=Float32P6P7(256, 256),
        )
    raise NoisyboxError(f"backbone must be one of {', '.join(BACKBONES)}; got {name!r}", "backbone")


def load_cached_imagenet_weights(backbone: nn.Module, name: str) -> Path:
    """Load torchvision's ImageNet weights for backbone ``name`` from torchvision's local cache.

    The cache is ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch`` by default), where any
    earlier torchvision download put them. Nothing is downloaded: a file not in the cache is
    a clear error that names where it should be.
    """
    import torchvision.models as tvm

    enums = {
        "resnet18": tvm.ResNet18_Weights,
        "resnet34": tvm.ResNet34_Weights,
        "resnet50": tvm.ResNet50_Weights,
        "mobilenet_v3": tvm.MobileNet_V3_Large_Weights,
    }
    if name not in enums:
        raise NoisyboxError(
            f"weights imagenet: torchvision has no ImageNet weights for {name!r}", "weights"
        )
    url = enums[name].IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if not path.is_file():
        raise NoisyboxError(
            f"weights imagenet: {path} is not in torchvision's cache and noisybox never "
            f"downloads; put the file from {url} there, or pass `weights=PATH`",
            "weights",
        )
    state = load_state(path)
    if name == "mobilenet_v3":
        state = {
            k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")
        }
    missing, _ = backbone.body.load_state_dict(state, strict=False)
    if missing:
        raise NoisyboxError(
            f"{path}: does not fit the {name} backbone ({len(missing)} missing tensors)"
        )
    return path


def _fcos(
    body: nn.Module, classes: int, image_size: int, box_loss: nn.Module, recorder: PositiveIoU
) -> nn.Module:
    """FCOS with anchors of one size a level (strides 8 to 128), its head's loss ours."""
    anchors = AnchorGenerator(tuple((s,) for s in (8, 16, 32, 64, 128)), ((1.0,),) * 5)
    detector = BatchedFCOS(
        body, classes, anchor_generator=anchors, score_thresh=0.05, **_sizes(image_size)
    )
    detector.head = FCOSHeadWithLoss(body.out_channels, 1, classes, box_loss, recorder)
    return detector


def _retinanet(
    body: nn.Module, classes: int, image_size: int, box_loss: nn.Module, recorder: PositiveIoU
) -> nn.Module:
    """RetinaNet with 9 anchors a location scaled to the input and GroupNorm heads."""
    scale = image_size / 800  # torchvision's anchors are sized for 800-pixel images
    bases = [max(8, round(size * scale * 4)) for size in (32, 64, 128, 256, 512)]
    sizes = tuple(tuple(round(b * 2 ** (i / 3)) for i in range(3)) for b in bases)
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5)
    # GroupNorm in the heads, as torchvision's RetinaNet v2: without it the heads of a
    # network trained from scratch barely learn (mAP 0.05 after 2400 steps on the quick
    # preset, 5.8 with it after 800; FCOS's heads have it too)
    norm = partial(nn.GroupNorm, RETINANET_GROUPS)
    channels = body.out_channels
    head = RetinaNetHead(channels, 9, classes, norm_layer=norm)
    head.regression_head = RetinaNetRegressionHeadWithLoss(
        channels, 9, box_loss, recorder, norm_layer=norm
    )
    return RetinaNet(
        body, classes, anchor_generator=anchors, head=head, score_thresh=0.05,
        **_sizes(image_size),
    )  # fmt: skip


def _faster_rcnn(
    body: nn.Module, classes: int, image_size: int, box_loss: nn.Module, recorder: PositiveIoU
) -> nn.Module:
    """Faster R-CNN on the FPN maps of strides 8 to 32, the RoI heads' box loss ours."""
    levels = ["0", "1", "2"]  # the FPN maps of strides 8, 16 and 32
    scale = image_size / 800  # torchvision's anchors are sized for 800-pixel images
    rpn_sizes = tuple((max(8, round(size * scale * 2)),) for size in (32, 64, 128, 256, 512))
    detector = FasterRCNN(
        body,
        classes,
        box_score_thresh=0.05,
        min_size=image_size,
        max_size=image_size,
        box_detections_per_img=100,
        rpn_anchor_generator=AnchorGenerator(rpn_sizes, ((0.5, 1.0, 2.0),) * 5),
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2),
    )
    heads = detector.roi_heads
    detector.roi_heads = RoIHeadsWithLoss(
        box_loss,
        recorder,
        heads.box_roi_pool,
        heads.box_head,
        heads.box_predictor,
        **ROI_HEAD_SETTINGS,
    )
    return detector


def _sizes(image_size: int) -> dict[str, int]:
    """FCOS's and RetinaNet's size settings: inputs not rescaled, 100 detections an image."""
    return {"min_size": image_size, "max_size": image_size, "detections_per_img": 100}


#: the detectors by name: ``(backbone, classes with background, image size, box loss,
#: positives' recorder) -> model``
DETECTORS: dict[str, Callable[..., nn.Module]] = {
    "fcos": _fcos,
    "retinanet": _retinanet,
    "faster-rcnn": _faster_rcnn,
}
MODELS = tuple(DETECTORS)


def build_detector(
    model: str, backbone: str, num_classes: int, image_size: int, box_loss: nn.Module
) -> nn.Module:
    """A torchvision detector for ``image_size`` square inputs with ``box_loss`` in its head.

    ``num_classes`` counts the classes without background. Images are not rescaled by the
    model (``min_size = max_size = image_size``; the data pipeline makes them that size),
    anchors are scaled to the input, and post-processing keeps scores down to 0.05 so that
    AP is measured over the whole precision-recall curve. The detector's ``positive_iou``
    (a :class:`~noisybox.training.diagnostics.PositiveIoU`) records its training positives.
    """
    if model not in DETECTORS:
        raise NoisyboxError(f"model must be one of {', '.join(MODELS)}; got {model!r}", "model")
    recorder = PositiveIoU()
    detector = DETECTORS[model](
        build_backbone(backbone), num_classes + 1, image_size, box_loss, recorder
    )
    detector.transform = SquareBatchTransform.like(detector.transform)
    detector.positive_iou = recorder
    return detector


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
