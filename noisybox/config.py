"""Settings as typed objects, free of torch: the loss names, a run's training settings.

Everything that reads a setting (the CLI, the trainer, the bench grid and its store, the
report) takes it from here, so a setting is declared once:

- :data:`LOSSES` and :class:`LossSpec`: the box losses by name, ``NAME`` or ``NAME:ALPHA``
  (``alpha-diou:2.5``), parsed in one place;
- :class:`TrainConfig`: every setting of a training run (``config.json`` is this);
- :data:`RUNTIME_FIELDS`, :data:`PATH_FIELDS` and :func:`relative_paths`: which settings
  never change a result, and which name files.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import NoisyboxError

#: name -> the loss it builds: its ``family`` (the module class, see
#: :func:`noisybox.losses.build_loss`) and that module's keyword arguments. The ``alpha-*``
#: entries are the α-IoU paper's α = 3 rule applied to a loss and take another α from
#: ``NAME:ALPHA`` or ``alpha=``; the names without it are their α = 1 originals (for the
#: ``inner-*`` losses, Inner-IoU's ratio 0.7). ``l1`` and ``smooth-l1`` (β = 1/9,
#: torchvision's Faster R-CNN setting) are the classic coordinate-regression baselines;
#: ``gwd`` and ``kld`` take no α.
LOSSES: dict[str, dict[str, float | str | bool]] = {
    **{
        f"{prefix}{kind}": {"family": "iou", "kind": kind, "alpha": alpha}
        for prefix, alpha in (("", 1.0), ("alpha-", 3.0))
        for kind in ("iou", "giou", "diou", "ciou", "eiou", "siou", "mpdiou")
    },
    "focal-eiou": {"family": "iou", "kind": "eiou", "alpha": 1.0, "weight": "focal"},
    **{
        f"inner-{kind}": {"family": "iou", "kind": kind, "alpha": 1.0, "inner_ratio": 0.7}
        for kind in ("iou", "giou", "diou", "ciou", "eiou", "siou")
    },
    "shape-iou": {"family": "iou", "kind": "shape-iou", "alpha": 1.0},
    "wiou": {"family": "wise", "alpha": 1.0},
    "alpha-wiou": {"family": "wise", "alpha": 3.0},
    "wiou-v3": {"family": "wise", "alpha": 1.0, "focusing": True},
    "nwd": {"family": "nwd", "alpha": 1.0},
    "alpha-nwd": {"family": "nwd", "alpha": 3.0},
    "gwd": {"family": "gaussian", "divergence": "gwd"},
    "kld": {"family": "gaussian", "divergence": "kld"},
    "l1": {"family": "coordinate", "beta": 0.0},
    "smooth-l1": {"family": "coordinate", "beta": 1.0 / 9.0},
}


class LossNameError(NoisyboxError, ValueError):
    """A loss name that is not in :data:`LOSSES`, or an α it cannot take."""


@dataclass(frozen=True)
class LossSpec:
    """A loss by name, with the α that ``NAME:ALPHA`` sets (``None``: the name's own).

    Attributes:
        name: a key of :data:`LOSSES`.
        alpha: α given with the name, or ``None``.
    """

    name: str
    alpha: float | None = None

    @classmethod
    def parse(cls, text: str) -> LossSpec:
        """``NAME`` or ``NAME:ALPHA`` (any case, spaces around) as a checked spec: the name
        is registered, α is a number > 0, given only to IoU-based losses, and a plain name
        (α = 1) takes no other α (``alpha-NAME:ALPHA`` exists for that)."""
        name, _, alpha_text = text.strip().lower().partition(":")
        if name not in LOSSES:
            raise LossNameError(f"unknown loss {text!r}; choose from {', '.join(LOSSES)}")
        if not alpha_text:
            return cls(name)
        try:
            alpha = float(alpha_text)
        except ValueError:
            raise LossNameError(f"loss {text!r}: {alpha_text!r} is not a number") from None
        settings = LOSSES[name]
        if "alpha" not in settings:
            raise LossNameError(f"loss {text!r}: {name} takes no alpha")
        if not 0 < alpha < float("inf"):
            raise LossNameError(f"loss {text!r}: alpha must be > 0 and finite")
        if not name.startswith("alpha-") and alpha != settings["alpha"]:
            raise LossNameError(
                f"loss {text!r}: {name} has alpha = 1; use 'alpha-{name}' (alpha-{name}:{alpha:g})"
            )
        return cls(name, alpha)

    @property
    def trains_with_alpha(self) -> float | None:
        """The α a run of this spec trains with (``None`` for coordinate losses)."""
        if self.alpha is not None:
            return self.alpha
        alpha = LOSSES[self.name].get("alpha")
        return None if alpha is None else float(alpha)

    @property
    def text(self) -> str:
        """The one spelling of this spec: ``alpha-diou:2.5``; ``alpha-iou`` for the
        registry's own α."""
        if self.alpha is None or self.alpha == LOSSES[self.name].get("alpha"):
            return self.name
        return f"{self.name}:{self.alpha:g}"

    @property
    def counterpart(self) -> str | None:
        """``X`` for ``alpha-X`` (the loss the paper compares it with), else ``None``."""
        return counterpart(self.name)


def counterpart(loss: str) -> str | None:
    """``X`` for a loss written ``alpha-X`` or ``alpha-X:ALPHA``, else ``None``; names are
    not checked (a report may hold losses of another noisybox version)."""
    name = loss.partition(":")[0]
    return name.removeprefix("alpha-") if name.startswith("alpha-") else None


#: settings that never change a run's result: a resumed run may change them
RUNTIME_FIELDS = ("out", "workers", "tensorboard", "log_every", "checkpoint_every")
#: settings added after results stores were in use, with their default: at that default a
#: setting is left out of a bench's settings fingerprint, so that older results still match
LATER_FIELDS = {
    "alpha_warmup": 0,
    "on_invalid": "error",
    "penalty_form": "paper",
    "max_grad_norm": 10.0,
}
#: detectors whose definition changed after results were stored, by revision (RetinaNet 2:
#: GroupNorm in its heads, noisybox 0.2.0); a bench's settings name the revision, so a store's
#: runs of an older definition count as other settings, never mixed with the new
MODEL_REVISIONS = {"retinanet": 2}
#: settings that name files: ``config.json`` holds them relative to the run folder
PATH_FIELDS = (
    "train_annotations",
    "val_annotations",
    "images",
    "val_images",
    "train_split",
    "val_split",
    "weights",
)


@dataclass
class TrainConfig:
    """Every setting of a run; ``config.json`` is this, as JSON (file paths relative to
    the run folder)."""

    train_annotations: str
    val_annotations: str
    images: str
    val_images: str | None = None
    train_split: str | None = None
    val_split: str | None = None
    format: str | None = None
    model: str = "fcos"
    backbone: str = "tiny"
    loss: str = "iou"
    alpha: float | None = None
    alpha_penalty: float | None = None
    alpha_warmup: int = 0
    penalty_form: str = "paper"
    image_size: int = 128
    epochs: int | None = None
    max_steps: int | None = None
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    max_grad_norm: float = 10.0  # gradients clipped to this norm at every step; 0: not clipped
    warmup_steps: int = 50
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None  # None: on for CUDA, off for the CPU
    workers: int = 0
    augment: bool = True
    on_invalid: str = "error"
    weights: str | None = None
    deterministic: bool = False
    compile_loss: bool = False
    tensorboard: bool = False
    log_every: int = 10
    checkpoint_every: int = 100
    out: str = "runs/run"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def total_steps(self, images: int, processes: int = 1) -> int:
        """The optimizer steps of a run on ``images`` training images split over
        ``processes`` (``torchrun``): ``max_steps``, or ``epochs`` passes of whole batches."""
        if self.max_steps is not None:
            return self.max_steps
        if self.epochs is None:
            raise NoisyboxError("give epochs or max_steps")
        return self.epochs * max(1, images // (self.batch_size * processes))


def relative_paths(config: dict, folder: Path) -> dict:
    """``config`` (a :class:`TrainConfig` as JSON) with its file settings
    (:data:`PATH_FIELDS`) relative to ``folder`` (``imagenet`` and unset ones as they are),
    so that a record names no absolute path and stays valid wherever it is read from."""
    return {
        key: os.path.relpath(Path(value).absolute(), Path(folder).absolute())
        if key in PATH_FIELDS and value and value != "imagenet"
        else value
        for key, value in config.items()
    }
