"""A run folder and the files in it, named in one place (no torch here).

``RUN/`` holds ``.noisybox.json`` (noisybox's mark), ``config.json`` (every setting, file
paths relative to the folder), ``metrics.jsonl`` (a line per logged step),
``checkpoints/last.pt`` (a state dict), ``detections.json`` (COCO results on the
validation images), ``ground_truth.json`` (what they were scored on), ``eval.json`` and,
with TensorBoard, ``tensorboard/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolder:
    """The paths of a run folder ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / "last.pt"

    @property
    def detections(self) -> Path:
        return self.root / "detections.json"

    @property
    def ground_truth(self) -> Path:
        return self.root / "ground_truth.json"

    @property
    def evaluation(self) -> Path:
        return self.root / "eval.json"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def resumable(self) -> bool:
        """Whether a checkpoint is there to resume from."""
        return self.checkpoint.is_file()

    @property
    def finished(self) -> bool:
        """Whether the run was evaluated."""
        return self.evaluation.is_file()
