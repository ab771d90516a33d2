"""What happens around each training step, as hooks (in the manner of detectron2's
``HookBase``): the learning-rate schedule, the α warm-up, the metrics log (``metrics.jsonl``,
progress, a non-finite loss stopping the run), TensorBoard and checkpoints.

The trainer runs ``train_step`` alone; around it, it calls every hook's ``before_train``,
``before_step``, ``after_step`` and ``after_train``, in the order of its hook list. Hooks
talk through the :class:`StepContext` of the step: what was set (lr, α) and what was logged.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import torch

from ..errors import NoisyboxError

if TYPE_CHECKING:
    from .trainer import StepResult, Trainer


@dataclass
class StepContext:
    """One optimizer step as the hooks see it.

    Attributes:
        step: the step about to run (``trainer.step`` before it; ``+ 1`` after).
        images: images in this process's batch.
        values: settings of the step for the log (``lr``, ``alpha``...), set before it.
        logged: whether this step is logged (set by :class:`MetricsLog` before it).
        record: the logged record, after a logged step.
    """

    step: int
    images: int
    values: dict[str, float] = field(default_factory=dict)
    logged: bool = False
    record: dict | None = None


class Hook:
    """Does nothing at every point; subclasses override what they need."""

    def before_train(self, trainer: Trainer) -> None:
        pass

    def before_step(self, trainer: Trainer, context: StepContext) -> None:
        pass

    def after_step(self, trainer: Trainer, context: StepContext, result: StepResult) -> None:
        pass

    def after_train(self, trainer: Trainer) -> None:
        pass


def learning_rate(step: int, peak: float, warmup_steps: int, total: int) -> float:
    """Linear warm-up over ``warmup_steps`` to ``peak``, then cosine decay to 0 at ``total``."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total - warmup_steps)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class LearningRateSchedule(Hook):
    """Sets every parameter group's learning rate before each step (:func:`learning_rate`)."""

    def __init__(self, peak: float, warmup_steps: int, total: int) -> None:
        self.peak, self.warmup_steps, self.total = peak, warmup_steps, total

    def before_step(self, trainer: Trainer, context: StepContext) -> None:
        lr = learning_rate(context.step, self.peak, self.warmup_steps, self.total)
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr
        context.values["lr"] = lr


def alpha_at(step: int, target: float, warmup_steps: int) -> float:
    """α at training ``step`` (0-based) under a linear warm-up from 1 to ``target`` over
    ``warmup_steps`` steps (``target`` from step ``warmup_steps`` on; 0 steps: always
    ``target``)."""
    if step >= warmup_steps:
        return target
    return 1.0 + (target - 1.0) * step / warmup_steps


class AlphaWarmup(Hook):
    """Raises the box loss's α (and α of its penalty) linearly from 1 over ``warmup`` steps.

    Args:
        box_loss: the module whose attributes are set.
        targets: attribute name -> the α it reaches.
        warmup: steps of the warm-up.
    """

    def __init__(self, box_loss: torch.nn.Module, targets: dict[str, float], warmup: int):
        self.box_loss, self.targets, self.warmup = box_loss, targets, warmup

    def before_step(self, trainer: Trainer, context: StepContext) -> None:
        for name, target in self.targets.items():
            value = alpha_at(context.step, target, self.warmup)
            setattr(self.box_loss, name, value)
            context.values[name] = value


class MetricsLog(Hook):
    """Every ``log_every`` steps and at the last: the positives' IoU recorded during the step,
    the losses averaged over processes, throughput and ETA, appended to ``metrics.jsonl``
    (rank 0) and passed to ``on_step``. A non-finite loss stops the run, naming the step.

    Args:
        path: the metrics file (``os.devnull`` on ranks other than 0).
        log_every, total: the logging period and the run's steps.
        on_step: called with each record plus ``total`` and ``eta_s``.
    """

    def __init__(
        self, path: Path, log_every: int, total: int, on_step: Callable[[dict], None]
    ) -> None:
        self.path, self.log_every, self.total, self.on_step = path, log_every, total, on_step
        self.file: IO[str] | None = None
        self.started = 0.0
        self.images_seen = self.skipped = self.first_step = 0

    def before_train(self, trainer: Trainer) -> None:
        self.file = self.path.open("a")
        self.started, self.first_step = time.perf_counter(), trainer.step

    def before_step(self, trainer: Trainer, context: StepContext) -> None:
        step = context.step + 1
        context.logged = step % self.log_every == 0 or step == self.total
        if context.logged:
            trainer.model.positive_iou.arm()

    def after_step(self, trainer: Trainer, context: StepContext, result: StepResult) -> None:
        self.skipped += result.skipped
        self.images_seen += context.images * trainer.world
        if not context.logged:
            return
        elapsed = time.perf_counter() - self.started
        diagnostics = trainer.model.positive_iou.take()
        values = trainer.mean_over_ranks({"loss": result.total, **result.losses, **diagnostics})
        if not math.isfinite(values["loss"]):  # the same on every rank: all stop
            raise NoisyboxError(
                f"the loss became {values['loss']} by step {trainer.step}; try a lower `lr`"
            )
        record = {
            "step": trainer.step,
            **context.values,
            **values,
            "images_per_s": self.images_seen / elapsed,
            "processes": trainer.world,
            "skipped_steps": self.skipped,
        }
        assert self.file is not None
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        eta = (self.total - trainer.step) * elapsed / (trainer.step - self.first_step)
        self.on_step({**record, "total": self.total, "eta_s": eta})
        context.record = record

    def after_train(self, trainer: Trainer) -> None:
        if self.file is not None:
            self.file.close()


class TensorBoard(Hook):
    """Each logged record's values as ``train/NAME`` scalars in ``folder`` (the run's
    ``tensorboard/``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writer = None

    def before_train(self, trainer: Trainer) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # the package is optional
            raise NoisyboxError(
                "tensorboard needs the tensorboard package: pip install tensorboard",
                "tensorboard",
            ) from None
        self.writer = SummaryWriter(str(self.folder))

    def after_step(self, trainer: Trainer, context: StepContext, result: StepResult) -> None:
        if context.record is not None and self.writer is not None:
            for name, value in context.record.items():
                if name != "step":
                    self.writer.add_scalar(f"train/{name}", value, trainer.step)

    def after_train(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()


class Checkpointer(Hook):
    """Saves the run's state every ``every`` steps and at the last (rank 0)."""

    def __init__(self, every: int, total: int) -> None:
        self.every, self.total = every, total

    def after_step(self, trainer: Trainer, context: StepContext, result: StepResult) -> None:
        if trainer.step % self.every == 0 or trainer.step == self.total:
            trainer.save_checkpoint()
