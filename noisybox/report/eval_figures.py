"""The figures of one evaluation (``noisybox eval --plots DIR``; matplotlib, PNG and SVG).

- ``pr_curves``: each class's precision against recall at IoU 0.5 and 0.75 (COCOeval's
  interpolated precision at its 101 recall points, up to 100 detections per image), one
  panel per threshold, the class's AP in the legend;
- ``confusion_matrix``: detections per (predicted class, true class) with a background row
  (missed boxes) and column (false alarms), counted as :mod:`noisybox.confusion` says,
  normalized per true class (each column sums to 1; the background column holds the
  counts of false alarms).
"""

from __future__ import annotations

import numpy as np

from ..confusion import ConfusionMatrix
from ..evaluate import PR_THRESHOLDS, Evaluation

#: every figure's name
EVAL_FIGURES = ("pr_curves", "confusion_matrix")


def draw_eval_figures(evaluation: Evaluation, matrix: ConfusionMatrix) -> dict:
    """``{name: matplotlib figure}`` of :data:`EVAL_FIGURES`."""
    return {"pr_curves": _pr_curves(evaluation), "confusion_matrix": _confusion(matrix)}


def _pr_curves(evaluation: Evaluation):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(PR_THRESHOLDS), figsize=(5 * len(PR_THRESHOLDS), 4.2))
    recall = np.linspace(0, 1, 101)
    for axis, (metric, threshold) in zip(axes, PR_THRESHOLDS.items(), strict=True):
        for category, curves in evaluation.pr_curves.items():
            info = evaluation.per_class.get(category, {})
            precision = np.asarray(curves[metric], float)
            if not info.get("ground_truths"):
                continue  # COCOeval's -1 everywhere: no ground truth of this class
            reached = precision >= 0
            ap = info.get(metric)
            label = f"{info.get('name') or category}" + ("" if ap is None else f" ({ap:.1f})")
            axis.plot(recall[reached], precision[reached], label=label)
        axis.set(
            title=f"IoU {threshold}: precision-recall per class (AP %)",
            xlabel="recall",
            ylabel="precision",
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small", loc="lower left")
    figure.tight_layout()
    return figure


def _confusion(matrix: ConfusionMatrix):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = matrix.counts.astype(float)
    truth_totals = counts[:, :-1].sum(axis=0)
    shares = counts.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        shares[:, :-1] = np.where(truth_totals > 0, counts[:, :-1] / truth_totals, 0.0)
    shares[:, -1] = counts[:, -1] / max(counts[:, -1].sum(), 1.0)
    labels = [*matrix.names, "background"]
    size = 1.2 + 0.6 * len(labels)
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(matrix.counts):
        if count:
            colour = "white" if shares[row, column] > 0.6 else "black"
            axis.text(
                column, row, f"{count}", ha="center", va="center", color=colour, fontsize="small"
            )
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set(
        xlabel="true class (background: false alarms)",
        ylabel="predicted class (background: missed)",
        title=f"confusion matrix: IoU ≥ {matrix.iou:g}, score ≥ {matrix.score:g} (counts; "
        "colour: share of the column)",
    )
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    return figure
