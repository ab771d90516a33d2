"""What explains a run's result: how well the training positives are localised, and the
α schedule that the ``--alpha-warmup`` option applies.

The α-IoU loss's gradient with respect to IoU is ``α·IoU^(α-1)``: for α = 3 it is smaller
than the IoU loss's (1) below IoU = 1/√3 ≈ 0.58. Whether α helps therefore depends on where
a detector's positives sit during training, which :class:`PositiveIoU` measures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no torch at import: the bench runner and reports use the summaries
    from torch import Tensor

#: quantiles of the positives' IoU recorded at each logged step, by name
QUANTILES = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
#: a run's summary is the mean of the per-step quantiles over this many last logged steps
LAST_LOGGED_STEPS = 5


class PositiveIoU:
    """Collects the IoU of each training positive's decoded prediction with its target.

    The detector heads call :meth:`add` with the boxes they give the box loss (xyxy, input
    pixels), detached; nothing is kept unless the trainer :meth:`arm`\\ s the recorder for
    the coming step, so it costs nothing on the other steps. Not an ``nn.Module``: it holds
    no state a checkpoint needs.
    """

    def __init__(self) -> None:
        self._armed = False
        self._values: list[Tensor] = []

    @property
    def armed(self) -> bool:
        """Whether the current forward pass is being recorded."""
        return self._armed

    def arm(self) -> None:
        """Record the positives of the next forward pass."""
        self._armed, self._values = True, []

    def add(self, predicted: Tensor, target: Tensor) -> None:
        """Record ``(N, 4)`` xyxy ``predicted`` boxes against ``target``, pair by pair."""
        if not self._armed:
            return
        import torch

        from ..losses import alpha_iou_loss

        with torch.no_grad():
            iou = 1 - alpha_iou_loss(predicted.float(), target.float(), kind="iou", alpha=1.0)
        self._values.append(iou.flatten())

    def take(self) -> dict[str, Tensor]:
        """The quantiles (:data:`QUANTILES`) and count of what was recorded, as 0-d tensors
        (NaN quantiles when there were no positives); disarms the recorder."""
        import torch

        values = torch.cat(self._values) if self._values else torch.zeros(0)
        self._armed, self._values = False, []
        if values.numel() == 0:
            nan = torch.tensor(float("nan"))
            return {**{f"positive_iou_{k}": nan for k in QUANTILES}, "positives": nan * 0}
        levels = torch.tensor(list(QUANTILES.values()), device=values.device)
        found = torch.quantile(values.float(), levels)
        return {
            **{f"positive_iou_{k}": q for k, q in zip(QUANTILES, found, strict=True)},
            "positives": torch.tensor(float(values.numel()), device=values.device),
        }


def summarize_positive_iou(logged: list[dict]) -> dict[str, float] | None:
    """A run's localisation summary from its ``metrics.jsonl`` records: the mean of each
    per-step quantile over the last :data:`LAST_LOGGED_STEPS` logged steps that have one
    (``{"p10": …, "p50": …, "p90": …, "steps": n}``), or ``None`` without any."""
    steps = [
        record
        for record in logged
        if isinstance(record.get("positive_iou_p50"), float)
        and record["positive_iou_p50"] == record["positive_iou_p50"]  # not NaN
    ][-LAST_LOGGED_STEPS:]
    if not steps:
        return None
    summary = {
        name: sum(r[f"positive_iou_{name}"] for r in steps) / len(steps) for name in QUANTILES
    }
    return {**summary, "steps": len(steps)}
