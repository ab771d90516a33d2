"""The α-IoU paper's robustness figures from a bench's results (matplotlib, PNG and SVG).

- ``ap_vs_iou``: AP against the IoU threshold, one line per loss, one panel per block;
- ``vs_eta``: mAP and mAP75:95 against the noise rate η per loss (the paper's Figure 6);
- ``vs_fraction``: the same against the share of training data (Figure 7);
- ``alpha_sweep``: mAP and mAP75:95 against α per noise rate, when a grid has three or more
  α values of one IoU kind (``iou`` counts as α = 1 of ``alpha-iou``).

Points are means over seeds with ± one standard deviation as error bars. No torch here.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write
from .tables import METRICS

THRESHOLDS = [int(m[2:]) / 100 for m in METRICS[:-2]]


def write_plots(frame: pd.DataFrame, folder: Path) -> list[Path]:
    """Draw every figure ``frame`` (from ``load_results``) has data for into ``folder``;
    return the files written."""
    import matplotlib

    matplotlib.use("Agg")
    figures = {"ap_vs_iou": _ap_vs_iou(frame)}
    if frame["eta"].nunique() > 1:
        figures["vs_eta"] = _against(frame, "eta", "fraction", "noise rate η")
    if frame["fraction"].nunique() > 1:
        figures["vs_fraction"] = _against(frame, "fraction", "eta", "share of training data")
    sweep = _alpha_sweep(frame)
    if sweep is not None:
        figures["alpha_sweep"] = sweep
    written = []
    for name, figure in figures.items():
        for suffix in ("png", "svg"):
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix, dpi=120, bbox_inches="tight")
            path = folder / f"{name}.{suffix}"
            with atomic_write(path) as handle:
                handle.write(buffer.getvalue())
            written.append(path)
        import matplotlib.pyplot as plt

        plt.close(figure)
    return written


def _summary(frame: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    grouped = frame.groupby(keys, sort=True)[METRICS]
    return grouped.mean(), grouped.std(ddof=1).fillna(0.0)


def _ap_vs_iou(frame: pd.DataFrame):
    import matplotlib.pyplot as plt

    blocks = sorted(frame.groupby(["fraction", "eta"]).groups, key=lambda k: (-k[0], k[1]))
    figure, axes = plt.subplots(
        1,
        len(blocks),
        figsize=(4 * len(blocks), 3.4),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    mean, std = _summary(frame, ["fraction", "eta", "loss"])
    for axis, (fraction, eta) in zip(axes[0], blocks, strict=True):
        for loss in dict.fromkeys(frame["loss"]):
            if (fraction, eta, loss) not in mean.index:
                continue
            values = mean.loc[(fraction, eta, loss)][METRICS[:-2]]
            errors = std.loc[(fraction, eta, loss)][METRICS[:-2]]
            axis.errorbar(THRESHOLDS, values, yerr=errors, marker="o", ms=3, capsize=2, label=loss)
        axis.set_title(f"η = {eta:g}, {fraction:.0%} data")
        axis.set_xlabel("IoU threshold")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("AP (%)")
    axes[0][0].legend()
    figure.suptitle("AP at each IoU threshold (clean validation set)")
    return figure


def _against(frame: pd.DataFrame, x: str, rows: str, label: str):
    import matplotlib.pyplot as plt

    row_values = sorted(frame[rows].unique())
    figure, axes = plt.subplots(
        len(row_values), 2, figsize=(9, 3.4 * len(row_values)), squeeze=False, layout="constrained"
    )
    mean, std = _summary(frame, [rows, "loss", x])
    for row, value in zip(axes, row_values, strict=True):
        for column, metric in zip(row, ("mAP", "mAP75:95"), strict=True):
            for loss in dict.fromkeys(frame["loss"]):
                if (value, loss) not in mean.index.droplevel(x):
                    continue
                points = mean.loc[(value, loss)][metric]
                errors = std.loc[(value, loss)][metric]
                column.errorbar(
                    points.index, points, yerr=errors, marker="o", capsize=2, label=loss
                )
            column.set_xlabel(label)
            column.set_ylabel(f"{metric} (%)")
            other = f"η = {value:g}" if rows == "eta" else f"{value:.0%} data"
            column.set_title(f"{metric}, {other}")
            column.grid(alpha=0.3)
    axes[0][0].legend()
    return figure


def _alpha_sweep(frame: pd.DataFrame):
    import matplotlib.pyplot as plt

    kinds = frame["loss"].str.partition(":")[0].str.removeprefix("alpha-")
    swept = [
        kind
        for kind in dict.fromkeys(kinds)
        if frame.loc[kinds == kind, "alpha"].dropna().nunique() >= 3
    ]
    if not swept:
        return None
    figure, axes = plt.subplots(
        len(swept), 2, figsize=(9, 3.4 * len(swept)), squeeze=False, layout="constrained"
    )
    for row, kind in zip(axes, swept, strict=True):
        part = frame[kinds == kind]
        mean, std = _summary(part, ["eta", "alpha"])
        for column, metric in zip(row, ("mAP", "mAP75:95"), strict=True):
            for eta in sorted(part["eta"].unique()):
                points, errors = mean.loc[eta][metric], std.loc[eta][metric]
                column.errorbar(
                    points.index, points, yerr=errors, marker="o", capsize=2, label=f"η = {eta:g}"
                )
            column.axvline(1, color="black", linestyle="--", linewidth=0.8)
            column.set_xlabel(f"α of alpha-{kind}")
            column.set_ylabel(f"{metric} (%)")
            column.grid(alpha=0.3)
        row[0].legend()
    return figure
