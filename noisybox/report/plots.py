"""The α-IoU paper's robustness figures from a bench's results (matplotlib, PNG and SVG).

- ``ap_vs_iou``: AP against the IoU threshold, one line per loss, one panel per block;
- ``vs_eta``: mAP and mAP75:95 against the noise rate η per loss (the paper's Figure 6);
- ``vs_fraction``: the same against the share of training data (Figure 7);
- ``alpha_sweep``: mAP and mAP75:95 against α per noise rate, when a grid has three or more
  α values of one IoU kind (``iou`` counts as α = 1 of ``alpha-iou``);
- ``regime``: where α pays: the relative improvement of each ``alpha-X`` over ``X`` against
  the baseline's localisation quality (median IoU of its training positives, and its
  AP75/AP50), one point per (fraction, η, seed);
- ``training``: the training loss and the positives' median IoU against the step, one line
  per loss (mean over seeds), one row per block, from the run folders' ``metrics.jsonl``
  where they are present (committed studies keep only their records).

Points are means over seeds with ± one standard deviation as error bars. No torch here.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write
from .tables import METRICS, baseline_of

THRESHOLDS = [int(m[2:]) / 100 for m in METRICS[:-2]]


#: every figure's name, whether a grid draws it or not
FIGURES = ("ap_vs_iou", "vs_eta", "vs_fraction", "alpha_sweep", "regime", "training")
#: the formats each figure is written in
SUFFIXES = ("png", "svg")


def figure_paths(folder: Path, names: tuple[str, ...] = FIGURES) -> list[Path]:
    """Every file :func:`save_figures` may write in ``folder`` for figures ``names`` (by
    default those of :func:`write_plots`)."""
    return [folder / f"{name}.{suffix}" for name in names for suffix in SUFFIXES]


def training_curves(results_dir: Path, settings: str | None = None) -> pd.DataFrame:
    """One row per logged step of every run whose folder still holds ``metrics.jsonl``:
    fraction, eta, seed, loss, step, loss value and the positives' median IoU (empty when no
    run folder is left); with ``settings``, of the runs of those settings only."""
    import json

    from ..benchmark.store import read_records

    rows = []
    for record in read_records(results_dir)[0]:
        if settings is not None and not str(record.get("settings", "")).startswith(settings):
            continue
        metrics = results_dir / str(record.get("run_dir", "")) / "metrics.jsonl"
        if not record.get("run_dir") or not metrics.is_file():
            continue
        for line in metrics.read_text().splitlines():
            step = json.loads(line)
            rows.append(
                {
                    **{k: record[k] for k in ("fraction", "eta", "seed", "loss")},
                    "step": step["step"],
                    "training loss": step["loss"],
                    "positives' median IoU": step.get("positive_iou_p50"),
                }
            )
    return pd.DataFrame(rows)


def _training(curves: pd.DataFrame):
    import matplotlib.pyplot as plt

    blocks = sorted(set(zip(curves["fraction"], curves["eta"], strict=True)))
    figure, axes = plt.subplots(
        len(blocks), 2, figsize=(9, 3.2 * len(blocks)), squeeze=False, layout="constrained"
    )
    means = curves.groupby(["fraction", "eta", "loss", "step"]).mean(numeric_only=True)
    for row, (fraction, eta) in zip(axes, blocks, strict=True):
        for column, quantity in zip(row, ("training loss", "positives' median IoU"), strict=True):
            for loss in dict.fromkeys(curves["loss"]):
                if (fraction, eta, loss) in means.index.droplevel("step"):
                    series = means.loc[(fraction, eta, loss)][quantity]
                    column.plot(series.index, series.to_numpy(), label=loss)
            column.set(xlabel="step", ylabel=quantity, title=f"{quantity}, η = {eta:g}, "
                       f"{fraction:.0%} data")  # fmt: skip
            column.grid(alpha=0.3)
    axes[0][0].legend()
    return figure


def _planned(frame: pd.DataFrame, curves: pd.DataFrame | None) -> dict:
    """Each figure the data can fill, by name, as a function that draws it."""
    import matplotlib

    matplotlib.use("Agg")
    planned = {"ap_vs_iou": lambda: _ap_vs_iou(frame)}
    if frame["eta"].nunique() > 1:
        planned["vs_eta"] = lambda: _against(frame, "eta", "fraction", "noise rate η")
    if frame["fraction"].nunique() > 1:
        planned["vs_fraction"] = lambda: _against(
            frame, "fraction", "eta", "share of training data"
        )
    swept = _swept_kinds(frame)
    if swept:
        planned["alpha_sweep"] = lambda: _alpha_sweep(frame, swept)
    pairs = regime_points(frame)
    if not pairs.empty:
        planned["regime"] = lambda: regime_figure(pairs)
    if curves is not None and not curves.empty:
        planned["training"] = lambda: _training(curves)
    return planned


def figure_names(frame: pd.DataFrame, curves: pd.DataFrame | None = None) -> list[str]:
    """The names of the figures :func:`draw_figures` draws for this data."""
    return list(_planned(frame, curves))


def draw_figures(frame: pd.DataFrame, curves: pd.DataFrame | None = None) -> dict:
    """Every figure ``frame`` (from ``load_results``) and ``curves`` (from
    :func:`training_curves`) have data for, by name (matplotlib figures; the caller closes
    them)."""
    return {name: draw() for name, draw in _planned(frame, curves).items()}


def write_plots(
    frame: pd.DataFrame, folder: Path, curves: pd.DataFrame | None = None
) -> list[Path]:
    """Draw every figure ``frame`` and ``curves`` have data for into ``folder``; return the
    files written."""
    return save_figures(draw_figures(frame, curves), folder)


def save_figures(figures: dict, folder: Path) -> list[Path]:
    """Write each ``{name: matplotlib figure}`` as ``folder/NAME.png`` and ``.svg``
    (atomically), close it, and return the files written."""
    import matplotlib.pyplot as plt

    written = []
    for name, figure in figures.items():
        for suffix in SUFFIXES:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix, dpi=120, bbox_inches="tight")
            path = folder / f"{name}.{suffix}"
            with atomic_write(path) as handle:
                handle.write(buffer.getvalue())
            written.append(path)
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


def _kinds(frame: pd.DataFrame) -> pd.Series:
    """Each run's loss without its ``alpha-`` prefix and ``:ALPHA``."""
    return frame["loss"].str.partition(":")[0].str.removeprefix("alpha-")


def _swept_kinds(frame: pd.DataFrame) -> list[str]:
    """The loss kinds run at three or more α values (``iou`` counts as α = 1)."""
    kinds = _kinds(frame)
    return [
        kind
        for kind in dict.fromkeys(kinds)
        if frame.loc[kinds == kind, "alpha"].dropna().nunique() >= 3
    ]


def _alpha_sweep(frame: pd.DataFrame, swept: list[str]):
    import matplotlib.pyplot as plt

    kinds = _kinds(frame)
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


#: a relative improvement over a baseline below this mAP (percent) is left out of the regime
#: figure: a ratio of two numbers near zero says nothing
REGIME_FLOOR = 1.0
#: the baseline's localisation measures the regime figure plots against, with their labels
REGIME_AXES = {
    "positive_iou_p50": "baseline's median IoU of training positives",
    "ap75_over_ap50": "baseline's AP75 / AP50",
}


def regime_points(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (fraction, η, seed, ``alpha-X``) whose baseline ``X`` ran with the same
    (fraction, η, seed): the relative improvements (percent) in mAP and mAP75:95, the
    baseline's :data:`REGIME_AXES`, and the noise rate. Baselines below
    :data:`REGIME_FLOOR` mAP are left out."""
    losses = list(dict.fromkeys(frame["loss"]))
    runs = frame.set_index(["fraction", "eta", "seed", "loss"])
    rows = []
    for (fraction, eta, seed, loss), run in runs.iterrows():
        base = baseline_of(loss, losses, None)
        key = (fraction, eta, seed, base)
        if base is None or key not in runs.index:
            continue
        reference = runs.loc[key]
        if not reference["mAP"] >= REGIME_FLOOR:
            continue
        rows.append(
            {
                "fraction": fraction,
                "eta": eta,
                "seed": seed,
                "loss": loss,
                "baseline": base,
                "mAP": 100 * (run["mAP"] / reference["mAP"] - 1),
                "mAP75:95": 100 * (run["mAP75:95"] / reference["mAP75:95"] - 1)
                if reference["mAP75:95"] > 0
                else float("nan"),
                "positive_iou_p50": reference.get("positive_iou_p50", float("nan")),
                "ap75_over_ap50": reference["AP75"] / reference["AP50"]
                if reference["AP50"] > 0
                else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def regime_figure(points: pd.DataFrame, by: str = "eta"):
    """The regime figure of :func:`regime_points` rows: relative improvement against each of
    the baseline's :data:`REGIME_AXES`, a colour per value of column ``by`` (the noise rate
    in a bench; the study when the rows of several studies are drawn together)."""
    import matplotlib.pyplot as plt

    axes_used = [name for name in REGIME_AXES if points[name].notna().any()]
    figure, axes = plt.subplots(
        2,
        len(axes_used),
        figsize=(4.6 * len(axes_used), 6.8),
        squeeze=False,
        layout="constrained",
    )
    values = sorted(points[by].unique())
    if by == "eta":
        spread = [i / max(1, len(values) - 1) * 0.85 for i in range(len(values))]
        colours = dict(zip(values, plt.get_cmap("viridis")(spread), strict=True))
    else:
        colours = dict(zip(values, plt.get_cmap("tab10").colors, strict=False))
    markers = dict(zip(dict.fromkeys(points["loss"]), "osD^v<>pX*", strict=False))
    for row, metric in zip(axes, ("mAP", "mAP75:95"), strict=True):
        for axis, x in zip(row, axes_used, strict=True):
            for (loss, value), part in points.groupby(["loss", by], sort=False):
                axis.scatter(
                    part[x],
                    part[metric],
                    color=colours[value],
                    marker=markers.get(loss, "o"),
                    s=28,
                    label=f"{loss}, η = {value:g}" if by == "eta" else f"{value}: {loss}",
                )
            axis.axhline(0, color="black", linewidth=0.8)
            if x == "positive_iou_p50":
                axis.axvline(3**-0.5, color="grey", linestyle="--", linewidth=0.8)
            axis.set_xlabel(REGIME_AXES[x])
            axis.set_ylabel(f"{metric}: rel. improvement over X (%)")
            axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.suptitle(
        f"Where α pays: alpha-X vs X per ({'' if by == 'eta' else by + ', '}η, seed); dashed: "
        "IoU = 1/√3, below which α = 3 "
        "has the smaller gradient",
        fontsize=9,
    )
    return figure
