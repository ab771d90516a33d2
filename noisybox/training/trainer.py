"""Train one detector with a chosen box loss, then evaluate it on the clean validation set.

A run folder holds everything about a run: ``config.json`` (all settings, enough to repeat
it; file paths relative to the run folder), ``metrics.jsonl`` (losses, learning rate,
throughput and the positives' IoU per logged step),
``checkpoints/last.pt`` (a plain state dict, loadable with ``torch.load(weights_only=True)``),
``detections.json`` (COCO results on the validation images), ``ground_truth.json`` (the
COCO ground truth they were scored on, every class of the run with the ids the detections
use) and ``eval.json`` (the metrics and ``matched_iou``, the mean IoU of the detections
matched at IoU 0.5). ``noisybox eval --run`` needs nothing else, from any folder.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..command_config import write_command_config
from ..config import RUNTIME_FIELDS, TrainConfig, relative_paths
from ..errors import NoisyboxError
from ..evaluate import evaluate_detections, mean_matched_iou
from ..formats import FORMATS, read_annotations
from ..images import check_images
from ..losses import AlphaIoULoss, WiseIoULoss, build_loss, wise_iou_momentum
from ..outputs import check_work_folder, mark_folder
from .classes import class_table
from .data import DetectionDataset, EpochBatchSampler, collate
from .ground_truth import ground_truth_document
from .hooks import (
    AlphaWarmup,
    Checkpointer,
    Hook,
    LearningRateSchedule,
    MetricsLog,
    StepContext,
    TensorBoard,
)
from .models import build_detector, count_parameters, load_cached_imagenet_weights
from .run_folder import RunFolder
from .saved import load_state

#: below this mAP (percent) a run is reported as having barely learned
NEAR_ZERO_MAP = 1.0


def data_from_folder(folder: Path) -> dict[str, str]:
    """Training and validation paths of a dataset folder, in one of four layouts.

    - ``noisybox make-dataset``: ``images/`` and ``annotations/{train,val}.json``;
    - a VOC devkit year (``VOCdevkit/VOC2007``): ``Annotations/``, ``JPEGImages/`` and
      ``ImageSets/Main/{train,val}.txt``;
    - a YOLO dataset: ``images/{train,val}/`` beside ``labels/{train,val}/``;
    - a folder of ``images/`` and a VOC ``annotations/`` folder, with the split lists
      ``splits/{train,val}.txt`` (image names without suffix, one a line), as NEU-DET
      and many downloads come.
    """
    if (folder / "annotations" / "train.json").is_file():
        paths = {
            "train_annotations": folder / "annotations" / "train.json",
            "val_annotations": folder / "annotations" / "val.json",
            "images": folder / "images",
        }
    elif (folder / "Annotations").is_dir():
        lists = folder / "ImageSets" / "Main"
        paths = {
            "train_annotations": folder / "Annotations",
            "val_annotations": folder / "Annotations",
            "images": folder / "JPEGImages",
            "train_split": lists / "train.txt",
            "val_split": lists / "val.txt",
        }
    elif (folder / "annotations").is_dir() and (folder / "splits" / "train.txt").is_file():
        lists = folder / "splits"
        paths = {
            "train_annotations": folder / "annotations",
            "val_annotations": folder / "annotations",
            "images": folder / "images",
            "train_split": lists / "train.txt",
            "val_split": lists / "val.txt",
        }
    elif (folder / "labels" / "train").is_dir():
        paths = {
            "train_annotations": folder / "labels" / "train",
            "val_annotations": folder / "labels" / "val",
            "images": folder / "images" / "train",
            "val_images": folder / "images" / "val",
        }
    else:
        raise NoisyboxError(
            f"{folder}: not a dataset folder noisybox knows (annotations/train.json from "
            "make-dataset, a VOC year with Annotations/, a YOLO dataset with labels/train/, "
            "or images/ + annotations/ + splits/train.txt)"
        )
    for path in paths.values():
        if not path.exists():
            raise NoisyboxError(f"{folder}: expected {path.relative_to(folder)}")
    return {name: str(path) for name, path in paths.items()}


def autocast_dtype(device: torch.device, amp: bool | None) -> torch.dtype | None:
    """The mixed-precision type of a run: bf16 where supported, fp16 on older GPUs, ``None``
    (float32) when off; ``amp=None`` means on for CUDA, off for the CPU."""
    if not (amp if amp is not None else device.type == "cuda"):
        return None
    bf16 = device.type == "cpu" or torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16 else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    """The mixed-precision context of a run: ``dtype`` (bf16/fp16) or off (``None``)."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def build_box_loss(config: TrainConfig) -> torch.nn.Module:
    """The box loss of a run, summed over the positives (the heads normalise it); losses that
    need the input size (MPDIoU) get the square every batch is resized and padded to."""
    try:
        return build_loss(
            config.loss,
            alpha=config.alpha,
            alpha_penalty=config.alpha_penalty,
            image_size=(config.image_size, config.image_size),
            reduction="sum",
            **({"penalty_form": config.penalty_form} if config.penalty_form != "paper" else {}),
            **({"compile": True} if config.compile_loss else {}),
        )
    except ValueError as error:  # a setting the loss cannot take, named by the loss
        raise NoisyboxError(f"loss {config.loss}: {error}") from None


@dataclass
class StepResult:
    """One optimizer step: the detector's losses, their sum, and whether the update was
    skipped (bf16 gradients that overflowed)."""

    losses: dict[str, torch.Tensor]
    total: torch.Tensor
    skipped: bool


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    images: list[torch.Tensor],
    targets: list[dict],
    device: torch.device,
    amp_dtype: torch.dtype | None,
    max_grad_norm: float = TrainConfig.max_grad_norm,
) -> StepResult:
    """Forward, loss, backward, gradient clipping to ``max_grad_norm`` (0: none) and the
    update (the model in train mode; fp16 through ``scaler``; a bf16 step with non-finite
    gradients is skipped, as fp16's scaler skips one)."""
    with autocast(device, amp_dtype):
        losses = model(images, targets)
    total = sum(losses.values())
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(total).backward()
    scaler.unscale_(optimizer)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm or math.inf)
    skipped = amp_dtype == torch.bfloat16 and not torch.isfinite(norm)
    if not skipped:
        scaler.step(optimizer)
    scaler.update()
    return StepResult(losses, total, bool(skipped))


def coco_detections(
    output: dict, scale: float, category_of: dict[int, int], min_score: float = 0.0
) -> list[dict]:
    """One image's detections, a torchvision detector's ``output`` on the image resized by
    ``scale``, as COCO results without ``image_id``: ``category_id`` from ``category_of``
    (model label → category id; label 0, the background slot FCOS and RetinaNet still score,
    is left out), ``bbox`` ``[x, y, w, h]`` in the original image's pixels, ``score`` (those
    below ``min_score`` left out)."""
    boxes = (output["boxes"].float().cpu().numpy() / scale).tolist()
    return [
        {"category_id": category_of[label], "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score}
        for (x1, y1, x2, y2), label, score in zip(
            boxes, output["labels"].tolist(), output["scores"].float().tolist(), strict=True
        )
        if label in category_of and score >= min_score
    ]


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW at ``config.lr`` and ``config.weight_decay``, updating all parameters in one
    multi-tensor (foreach) pass: torch's default on the CPU is a loop over the parameters,
    which gives the same numbers (tested) more slowly; on CUDA foreach is already the
    default."""
    return torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
    )


def time_training_steps(config: TrainConfig, num_classes: int, steps: int = 3) -> float:
    """Seconds per training step of ``config``'s model on its device, measured on random
    images with one box each after one warm-up step (for cost estimates; no data is read)."""
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    model = build_detector(
        config.model, config.backbone, num_classes, config.image_size, build_box_loss(config)
    ).to(device)
    optimizer = build_optimizer(model, config)
    dtype = autocast_dtype(device, config.amp)
    scaler = torch.amp.GradScaler(enabled=dtype == torch.float16)
    size = config.image_size
    images = [torch.rand(3, size, size, device=device) for _ in range(config.batch_size)]
    box = torch.tensor([[size / 4, size / 4, size * 3 / 4, size / 2]], device=device)
    targets = [
        {"boxes": box, "labels": torch.ones(1, dtype=torch.int64, device=device)} for _ in images
    ]
    model.train()
    for step in range(steps + 1):
        if step == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        train_step(model, optimizer, scaler, images, targets, device, dtype, config.max_grad_norm)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise NoisyboxError("device cuda: no CUDA device is available here", "device")
    if name not in ("cpu", "cuda"):
        raise NoisyboxError(f"device must be auto, cuda or cpu; got {name!r}", "device")
    return torch.device(name)


class Trainer:
    """Builds everything a run needs from a :class:`TrainConfig` and runs it."""

    def __init__(
        self,
        config: TrainConfig,
        resume: bool = False,
        log: Callable[[str], None] | None = None,
        on_step: Callable[[dict], None] | None = None,
        command_options: dict | None = None,
    ):
        """``log`` receives messages; ``on_step`` each logged step's record (with ``total``
        and ``eta_s``), for a progress display; by default both print lines to stderr.
        ``command_options``, the ``train`` command's resolved options, are kept as the run
        folder's ``config.toml``."""
        _check_settings(config)
        self.config, self.resume = config, resume
        self.command_options = command_options
        self.rank, self.world = init_distributed(config.device)
        quiet = self.rank != 0
        self.log = (
            (lambda line: None)
            if quiet
            else (log or (lambda line: print(line, file=sys.stderr, flush=True)))
        )
        self.on_step = (lambda record: None) if quiet else (on_step or self._log_step)
        self.run_dir = Path(config.out)
        self.files = RunFolder(self.run_dir)
        self._check_run_dir()
        if self.world > 1:
            torch.distributed.barrier()  # every rank checked the folder before rank 0 writes
        if config.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        self.device = select_device(config.device)
        if self.device.type == "cuda" and self.world > 1:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(self.device)
        if self.device.type == "cuda" and not config.deterministic:
            torch.backends.cudnn.benchmark = True
        train = read_annotations(
            config.train_annotations,
            config.format,
            on_invalid=config.on_invalid,
            split=config.train_split,
        )
        self.val = read_annotations(
            config.val_annotations,
            config.format,
            on_invalid=config.on_invalid,
            split=config.val_split,
        )
        for split, read in (("training", train), ("validation", self.val)):
            if read.issues:  # left out (on_invalid="skip"); "error" stopped above
                self.log(
                    f"note: {len(read.issues)} invalid {split} annotation records left "
                    f"out, the first: {read.issues[0]}"
                )
        self.classes = class_table(train, self.val)
        self.category_of = self.classes.category_of
        self.train_set = DetectionDataset(
            train,
            Path(config.images),
            self.classes.train_labels,
            config.image_size,
            config.augment,
            config.seed,
        )
        self.val_set = DetectionDataset(
            self.val,
            Path(config.val_images or config.images),
            self.classes.val_labels,
            config.image_size,
            False,
        )
        self._check_images()
        if self.train_set.targets.filtered:
            self.log(
                f"note: {self.train_set.targets.filtered} degenerate training boxes left out "
                "(every image is kept)"
            )
        box_loss = build_box_loss(config)
        self.alpha_targets = _alpha_warmup_targets(box_loss, config)
        self.box_loss = box_loss
        torch.manual_seed(config.seed)
        self.model = build_detector(
            config.model, config.backbone, len(self.classes.names), config.image_size, box_loss
        ).to(self.device)
        if config.weights:
            self._load_weights(Path(config.weights))
        self.train_model = self.model
        if self.world > 1:
            self.train_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.total_steps = config.total_steps(len(self.train_set), self.world)
        if isinstance(box_loss, WiseIoULoss) and box_loss.focusing:
            box_loss.momentum = wise_iou_momentum(self.total_steps)  # as Wise-IoU's authors
        self.optimizer = build_optimizer(self.model, config)
        self.amp_dtype = autocast_dtype(self.device, config.amp)
        self.scaler = torch.amp.GradScaler(enabled=self.amp_dtype == torch.float16)
        self.step = 0

    def _check_images(self) -> None:
        """Decode every image before the first step: unreadable ones stop the run with one
        line naming them all, or are left out with ``on_invalid="skip"``, saying how many."""
        found = {
            split: check_images(dataset.annotations, dataset.images_dir)
            for split, dataset in (("training", self.train_set), ("validation", self.val_set))
        }
        problems = [problem for part in found.values() for problem in part.values()]
        if not problems:
            return
        if self.config.on_invalid == "error":
            raise NoisyboxError(
                f'{len(problems)} unusable images (pass `on_invalid="skip"` to leave them out): '
                + "; ".join(problems)
            )
        self.train_set.leave_out(list(found["training"]))
        self.val_set.leave_out(list(found["validation"]))
        self.log(
            f"note: {len(found['training'])} training and {len(found['validation'])} "
            "validation images left out: unusable (--on-invalid skip)"
        )
        if len(self.train_set) == 0 or len(self.val_set) == 0:
            raise NoisyboxError("no usable images left in the training or validation set")

    def _check_run_dir(self) -> None:
        config = self.config
        inputs = [config.train_annotations, config.val_annotations, config.images]
        inputs += [config.val_images, config.train_split, config.val_split]
        inputs += [config.weights if config.weights != "imagenet" else None]
        check_work_folder(self.run_dir, [Path(p) for p in inputs if p], "run")
        config_file = self.files.config
        checkpoint = self.files.checkpoint
        if config_file.exists() and not checkpoint.is_file() and not self._finished():
            self.log(  # killed before its first checkpoint: nothing to keep
                f"note: {self.run_dir} holds a run cut short before its first checkpoint; "
                "starting it over"
            )
            self.resume = False
            if self.rank == 0:
                self.files.metrics.unlink(missing_ok=True)
                config_file.unlink()
            return
        if self.resume:
            if not checkpoint.is_file():
                raise NoisyboxError(f"{self.run_dir}: no checkpoints/last.pt to resume from")
            saved = json.loads(config_file.read_text())
            current = relative_paths(self.config.to_json(), self.run_dir)
            changed = [k for k in saved if k not in RUNTIME_FIELDS and saved[k] != current.get(k)]
            if changed:
                raise NoisyboxError(
                    f"{self.run_dir}: `resume` needs the same settings; changed: "
                    + ", ".join(changed)
                )
        elif config_file.exists():
            raise NoisyboxError(
                f"{self.run_dir}: holds a run already; pass `resume=True` to continue "
                "it, or choose another `out=FOLDER`"
            )

    def _finished(self) -> bool:
        return self.files.finished

    def _load_weights(self, path: Path) -> None:
        if str(path) == "imagenet":
            loaded = load_cached_imagenet_weights(self.model.backbone, self.config.backbone)
            self.log(f"loaded ImageNet weights for the {self.config.backbone} backbone: {loaded}")
            return
        if not path.is_file():
            raise NoisyboxError(f"{path}: no such weights file (noisybox never downloads weights)")
        state = load_state(path)
        state = state.get("model", state)
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        self.log(f"loaded {path}: {len(missing)} missing, {len(unexpected)} unexpected tensors")

    def save_checkpoint(self) -> None:
        """Save model, optimizer, scaler and step to the run's checkpoint (rank 0 only)."""
        if self.rank != 0:
            return
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
        }
        with atomic_write(self.files.checkpoint) as handle:
            torch.save(state, handle)

    def _restore(self) -> None:
        state = load_state(self.files.checkpoint, self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        metrics = self.files.metrics
        if metrics.exists() and self.rank == 0:  # forget steps logged after the checkpoint
            lines = [
                line
                for line in metrics.read_text().splitlines()
                if json.loads(line)["step"] <= self.step
            ]
            with atomic_write(metrics) as handle:
                handle.write("".join(line + "\n" for line in lines).encode())
        self.log(f"resumed {self.run_dir} at step {self.step}")

    def train(self) -> None:
        config = self.config
        if self.rank == 0:
            mark_folder(self.run_dir, "run")
        if self.resume:
            self._restore()
        elif self.rank == 0:
            with atomic_write(self.files.config) as handle:
                saved = relative_paths(config.to_json(), self.run_dir)
                handle.write(json.dumps(saved, indent=2).encode())
        if self.command_options is not None and self.rank == 0:
            write_command_config(self.run_dir, "train", self.command_options)
        self.log(
            f"{config.model} + {config.backbone} ({count_parameters(self.model):,} parameters), "
            f"loss {config.loss}, {len(self.train_set)} training images, {self.total_steps} steps "
            f"on {self.device}" + (f" x {self.world} processes" if self.world > 1 else "")
        )
        sampler = EpochBatchSampler(
            len(self.train_set),
            config.batch_size,
            config.seed,
            self.total_steps,
            self.step,
            rank=self.rank,
            world=self.world,
        )
        loader = torch.utils.data.DataLoader(
            self.train_set,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=config.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=config.workers > 0,
        )
        self.model.train()
        hooks = self.build_hooks()
        for hook in hooks:
            hook.before_train(self)
        try:
            for batch in loader:
                context = StepContext(step=self.step, images=len(batch))
                for hook in hooks:
                    hook.before_step(self, context)
                images, targets = batch.to(self.device)
                result = train_step(
                    self.train_model,
                    self.optimizer,
                    self.scaler,
                    images,
                    targets,
                    self.device,
                    self.amp_dtype,
                    self.config.max_grad_norm,
                )
                self.step += 1
                for hook in hooks:
                    hook.after_step(self, context, result)
        finally:
            for hook in hooks:
                hook.after_train(self)

    def build_hooks(self) -> list[Hook]:
        """What runs around each step, in order: the learning-rate schedule, the α warm-up,
        the metrics log, TensorBoard (``config.tensorboard``, rank 0) and checkpoints."""
        config = self.config
        hooks: list[Hook] = [LearningRateSchedule(config.lr, config.warmup_steps, self.total_steps)]
        if self.alpha_targets:
            hooks.append(AlphaWarmup(self.box_loss, self.alpha_targets, config.alpha_warmup))
        metrics = self.files.metrics if self.rank == 0 else Path(os.devnull)
        hooks.append(MetricsLog(metrics, config.log_every, self.total_steps, self.on_step))
        if config.tensorboard and self.rank == 0:
            hooks.append(TensorBoard(self.files.tensorboard))
        hooks.append(Checkpointer(config.checkpoint_every, self.total_steps))
        return hooks

    def _log_step(self, record: dict) -> None:
        self.log(
            f"step {record['step']}/{record['total']}  loss {record['loss']:.4f}  "
            f"lr {record['lr']:.2e}  {record['images_per_s']:.1f} img/s  "
            f"ETA {record['eta_s']:.0f} s"
        )

    def mean_over_ranks(self, losses: dict[str, torch.Tensor]) -> dict[str, float]:
        """Loss values averaged over the processes (every rank calls this at the same steps)."""
        stacked = torch.stack([value.detach().float().to(self.device) for value in losses.values()])
        if self.world > 1:
            torch.distributed.all_reduce(stacked)
            stacked /= self.world
        return dict(zip(losses, stacked.tolist(), strict=True))

    def ground_truth(self) -> dict:
        """The clean validation annotations as a COCO document, built alike for every
        format (:func:`~noisybox.training.ground_truth.ground_truth_document`), with every
        class of the run under the ids its detections use."""
        rows = self.val_set.rows.tolist()
        sizes = self.val.image_size.copy()
        if self.val.units == "normalized":  # YOLO: the sizes are the image files'
            from PIL import Image

            for index in rows:
                with Image.open(self.val_set.image_path(index)) as image:
                    sizes[index] = image.size
        return ground_truth_document(
            self.val,
            rows,
            self._val_image_ids(),
            sizes,
            self.classes.val_labels,
            self.category_of,
            self.classes.categories(),
        )

    def _val_image_ids(self) -> list:
        """The ground-truth image id of each validation image row."""
        return FORMATS[self.val.format].image_ids(self.val)

    @torch.no_grad()
    def predict(self) -> list[dict]:
        """COCO results on the validation images, in their original pixel coordinates."""
        image_ids = self._val_image_ids()
        self.model.eval()
        loader = torch.utils.data.DataLoader(
            self.val_set,
            batch_size=self.config.batch_size,
            collate_fn=collate,
            num_workers=self.config.workers,
        )
        detections = []
        for batch in loader:
            with autocast(self.device, self.amp_dtype):
                outputs = self.model(batch.to(self.device)[0])
            for output, row, scale in zip(outputs, batch.rows, batch.scales, strict=True):
                detections += [
                    {"image_id": image_ids[row], **found}
                    for found in coco_detections(output, scale, self.category_of)
                ]
        self.model.train()
        return detections

    def evaluate(self) -> dict:
        ground_truth = self.ground_truth()
        with atomic_write(self.files.ground_truth) as handle:  # for eval --run
            handle.write(json.dumps(ground_truth).encode())
        detections = self.predict()
        with atomic_write(self.files.detections) as handle:
            handle.write(json.dumps(detections).encode())
        result = {
            **evaluate_detections(ground_truth, detections).to_dict(),
            "matched_iou": mean_matched_iou(ground_truth, detections),
            "ignored_boxes": {  # VOC difficult / COCO crowd: out of training, ignored in eval
                "training": int((self.train_set.annotations.crowd).sum()),
                "validation": int((self.val.crowd).sum()),
            },
        }
        if result["metrics"]["mAP"] < NEAR_ZERO_MAP:
            warning = (
                f"the run ended at mAP {result['metrics']['mAP']:.2f}: the detector barely "
                "learned, so comparisons with it say little (try more steps, another --lr or "
                "a larger --img-size)"
            )
            result["warnings"] = [*result["warnings"], warning]
            self.log(f"warning: {self.run_dir}: {warning}")
        with atomic_write(self.files.evaluation) as handle:
            handle.write(json.dumps(result, indent=2).encode())
        return result


def _check_settings(config: TrainConfig) -> None:
    """Refuse, before any file is read or written, settings no run can take."""
    if config.on_invalid not in ("error", "skip"):
        raise NoisyboxError(f"on_invalid must be error or skip; got {config.on_invalid!r}")
    if not config.max_grad_norm >= 0:
        raise NoisyboxError(
            f"max_grad_norm must be >= 0 (0: no clipping); got {config.max_grad_norm}",
            "max_grad_norm",
        )


def _alpha_warmup_targets(box_loss: torch.nn.Module, config: TrainConfig) -> dict[str, float]:
    """The α values that ``config.alpha_warmup`` raises from 1, by the loss's attribute name
    (empty without a warm-up)."""
    if config.alpha_warmup == 0:
        return {}
    if config.alpha_warmup < 0:
        raise NoisyboxError(f"alpha_warmup must be >= 0 steps; got {config.alpha_warmup}")
    if not isinstance(box_loss, AlphaIoULoss):
        raise NoisyboxError(f"alpha_warmup needs an IoU-based loss; {config.loss} has no α")
    if config.compile_loss:
        raise NoisyboxError(
            "alpha_warmup and compile_loss do not go together: the compiled loss would be "
            "recompiled for every α of the warm-up"
        )
    return {"alpha": box_loss.alpha, "alpha_penalty": box_loss.alpha_penalty}


def train_and_evaluate(
    config: TrainConfig,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[dict], None] | None = None,
    command_options: dict | None = None,
) -> dict:
    """Train as ``config`` says (or finish an interrupted run), evaluate on rank 0;
    ``command_options`` as :class:`Trainer` takes them.

    Returns eval.json's content plus ``seconds`` (``{"train": …, "setup": …, "evaluate": …}``,
    where ``train`` includes ``setup``: reading the data, checking the images, building the
    model) on rank 0,
    ``{}`` on the other processes of a ``torchrun`` group, which stays open for another run
    (:func:`finish_distributed` closes it).
    """
    started = time.perf_counter()
    trainer = Trainer(
        config, resume=resume, log=log, on_step=on_step, command_options=command_options
    )
    built = time.perf_counter()
    trainer.train()  # a resumed run that had finished trains no further step
    trained = time.perf_counter()
    if trainer.world > 1:
        torch.distributed.barrier()
    if trainer.rank != 0:
        return {}
    result = trainer.evaluate()
    return {
        **result,
        "seconds": {
            "train": trained - started,  # "setup" (data, images checked, model) included
            "setup": built - started,
            "evaluate": time.perf_counter() - trained,
        },
    }


def finish_distributed() -> None:
    """Leave the ``torchrun`` process group, if this process joined one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def init_distributed(device: str) -> tuple[int, int]:
    """``(rank, world size)``: under ``torchrun`` joins its process group (NCCL on GPUs,
    gloo on the CPU); ``(0, 1)`` otherwise. ``--batch-size`` is per process."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        gpu = device != "cpu" and torch.cuda.is_available()
        torch.distributed.init_process_group(backend="nccl" if gpu else "gloo")
    return torch.distributed.get_rank(), world
