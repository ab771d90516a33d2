"""The α-IoU paper's robustness tables (Tables 1, 3 and 5) from a bench's results, with pandas.

A table has one block per (data fraction, noise rate η), one row per loss with AP50 … AP95,
mAP and mAP75:95 (percent; mean over seeds, ± their standard deviation when there are
several), and after each loss compared with a baseline a "rel. improv." row:
``100 · (mean(loss) / mean(baseline) − 1)`` per metric over the seeds both have, as in
the paper. An improvement is
*marked* only where it exceeds the seed-to-seed spread: the runs of one seed share their
noisy training file, so the differences ``loss − baseline`` are paired by seed, and a mark
needs at least two seeds and ``|mean difference| > std of the differences``.

No torch here.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_write
from ..benchmark.store import is_number, read_records
from ..config import counterpart
from ..errors import NoisyboxError

METRICS = [f"AP{t}" for t in range(50, 100, 5)] + ["mAP", "mAP75:95"]
FORMATS = ("markdown", "csv", "latex", "html")
IMPROVEMENT = "rel. improv."


#: the localisation diagnostics of a run record, as columns (NaN where a record has none):
#: quantiles of the training positives' IoU over the last logged steps, and the mean IoU of
#: the validation detections matched at IoU 0.5
DIAGNOSTICS = ["positive_iou_p10", "positive_iou_p50", "positive_iou_p90", "matched_iou"]


def _metric(value: object) -> float:
    """A metric as a float; NaN for a missing or null (n/a) one."""
    return np.nan if value is None else float(value)


def _diagnostics(record: dict) -> dict[str, float]:
    found = record.get("diagnostics")
    found = found if isinstance(found, dict) else {}
    positive = found.get("positive_iou")
    positive = positive if isinstance(positive, dict) else {}
    values = {f"positive_iou_{q}": positive.get(q) for q in ("p10", "p50", "p90")}
    values["matched_iou"] = found.get("matched_iou")
    return {k: _metric(v) if v is None or is_number(v) else np.nan for k, v in values.items()}


def settings_groups(records: list[dict]) -> dict[str, list[dict]]:
    """Records by their settings fingerprint, in order of first appearance."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(record["settings"], []).append(record)
    return groups


def _differing_keys(groups: dict[str, list[dict]]) -> list[str]:
    """The settings (``grid_settings`` keys) whose values differ between groups, sorted."""
    grids = [group[0].get("grid_settings") or {} for group in groups.values()]
    keys = sorted({key for grid in grids for key in grid})
    return [
        key
        for key in keys
        if len({json.dumps(grid.get(key), sort_keys=True) for grid in grids}) > 1
    ]


def _differences(groups: dict[str, list[dict]]) -> str:
    """The settings that differ between groups, e.g. ``max_steps 800 / 1000``."""
    grids = [group[0].get("grid_settings") or {} for group in groups.values()]
    differing = [
        f"{key} " + " / ".join(json.dumps(grid.get(key)) for grid in grids)
        for key in _differing_keys(groups)
    ]
    return "; ".join(differing) or "settings not recorded"


def load_results(results_dir: Path, settings: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """One row per finished run: fraction, eta, seed, loss, alpha, every metric,
    the diagnostics (:data:`DIAGNOSTICS`), run_s; and the problems met reading the store.

    Runs of different settings (another step count, other data) are never mixed: a store
    holding several is refused unless ``settings`` (a fingerprint, or its first characters)
    picks one, and the error lists them and what differs.
    """
    records, problems = read_records(Path(results_dir))
    if not records:
        raise NoisyboxError(f"{results_dir}: no finished runs in results/")
    groups = settings_groups(records)
    if settings is not None:
        chosen = [key for key in groups if key.startswith(settings)]
        if len(chosen) != 1:
            raise NoisyboxError(
                f"settings {settings}: matches {len(chosen)} of the settings in "
                f"{results_dir} ({', '.join(groups)})",
                "settings",
            )
        records = groups[chosen[0]]
    elif len(groups) > 1:
        counts = ", ".join(f"{key}: {len(group)} runs" for key, group in groups.items())
        raise NoisyboxError(
            f"{results_dir}: holds runs of {len(groups)} different settings ({counts}; they "
            f"differ in {_differences(groups)}); never averaged together: pick one with "
            "`settings=ID`"
        )
    return pd.DataFrame([_row(r) for r in records]), problems


def _row(record: dict, label: str | None = None) -> dict:
    """A finished run's row of :func:`load_results` (its loss named ``label`` if given)."""
    return {
        **{k: record[k] for k in ("fraction", "eta", "seed")},
        "loss": label or record["loss"],
        "alpha": record.get("alpha"),
        "run_s": record.get("run_s"),
        "protocol": str((record.get("grid_settings") or {}).get("protocol", "alpha-iou")),
        **{m: _metric(record["metrics"].get(m)) for m in METRICS},
        **_diagnostics(record),
    }


def load_arms(results_dirs: list[Path], vary: str) -> tuple[pd.DataFrame, list[str]]:
    """:func:`load_results` across stores whose settings differ in ``vary`` alone (e.g.
    ``alpha_warmup``): a run whose ``vary`` is set is named ``LOSS, VARY VALUE``, so that
    arms of one study kept in several stores compare in one table.

    Stores that differ in any other setting (steps, data, model) are refused, naming what
    differs: their runs are never compared.
    """
    records, problems = [], []
    for folder in results_dirs:
        found, trouble = read_records(Path(folder))
        if not found:
            raise NoisyboxError(f"{folder}: no finished runs in results/")
        records += found
        problems += trouble
    groups = settings_groups(records)
    differing = _differing_keys(groups)
    if len(groups) > 1 and (not differing or set(differing) - {vary}):
        raise NoisyboxError(
            f"{', '.join(map(str, results_dirs))}: the runs differ in {_differences(groups)}, "
            f"not only in {vary}; never compared"
        )
    rows = []
    for record in records:
        value = (record.get("grid_settings") or {}).get(vary)
        rows.append(_row(record, None if value is None else f"{record['loss']}, {vary} {value}"))
    return pd.DataFrame(rows), problems


def baseline_of(loss: str, losses: list[str], baseline: str | None) -> str | None:
    """The loss that ``loss`` is compared with, if it is in ``losses``: ``baseline`` when
    given, else X for ``alpha-X`` or ``alpha-X:A``."""
    if baseline is not None:
        return baseline if loss != baseline and baseline in losses else None
    base = counterpart(loss)
    return base if base in losses else None


@dataclass
class RobustnessTable:
    """Rows in the table's order, indexed by (fraction, eta, label); ``label`` is a loss, or
    ``"LOSS vs BASELINE"`` for an improvement row.

    Attributes:
        values: metric means (percent), or relative improvements (percent).
        spread: standard deviation over seeds (NaN for one seed and on improvement rows).
        marked: improvement rows whose paired difference exceeds the seed spread.
        info: per row: ``kind`` (``loss`` or ``improvement``), ``loss``, ``baseline``
            (improvement rows), ``seeds``.
    """

    values: pd.DataFrame
    spread: pd.DataFrame
    marked: pd.DataFrame
    info: pd.DataFrame
    protocol: str = "alpha-iou"

    @property
    def is_improvement(self) -> pd.Series:
        """Per row: is it a relative-improvement row."""
        return self.info["kind"] == "improvement"

    @property
    def block_axis(self) -> str:
        """What varies between blocks: ``"eta"``, ``"fraction"`` or ``"both"``."""
        index = self.values.index
        etas, fractions = index.get_level_values("eta"), index.get_level_values("fraction")
        if fractions.nunique() > 1:
            return "both" if etas.nunique() > 1 else "fraction"
        return "eta"


#: a relative improvement over a baseline AP below this (in AP points) is shown as n/a
IMPROVEMENT_FLOOR = 1.0


def robustness_table(frame: pd.DataFrame, baseline: str | None = None) -> RobustnessTable:
    """The paper's layout of ``frame`` (from :func:`load_results`)."""
    losses = list(dict.fromkeys(frame["loss"]))
    if baseline is not None and baseline not in losses:
        raise NoisyboxError(
            f"baseline {baseline}: no runs of it (losses: {', '.join(losses)})", "baseline"
        )
    values, spread, marked, info, index = [], [], [], [], []
    blocks = frame.groupby(["fraction", "eta"], sort=False)
    for fraction, eta in sorted(blocks.groups, key=lambda key: (-key[0], key[1])):
        block = blocks.get_group((fraction, eta))
        by_loss = {loss: rows.set_index("seed")[METRICS] for loss, rows in block.groupby("loss")}
        for loss in [loss for loss in losses if loss in by_loss]:
            runs = by_loss[loss]
            index.append((fraction, eta, loss))
            values.append(runs.mean())
            spread.append(runs.std(ddof=1) if len(runs) > 1 else runs.mean() * np.nan)
            marked.append(pd.Series(False, index=METRICS))
            info.append({"kind": "loss", "loss": loss, "baseline": None, "seeds": len(runs)})
            base = baseline_of(loss, list(by_loss), baseline)
            if base is None:
                continue
            reference = by_loss[base]
            seeds = runs.index.intersection(reference.index)  # compare the same seeds only
            index.append((fraction, eta, f"{loss} vs {base}"))
            base_mean = reference.loc[seeds].mean()
            meaningful = base_mean >= IMPROVEMENT_FLOOR  # a ratio over ~0 AP means nothing
            values.append((100 * (runs.loc[seeds].mean() / base_mean - 1)).where(meaningful))
            spread.append(runs.mean() * np.nan)
            paired = (runs - reference).dropna()
            marked.append(
                (paired.mean().abs() > paired.std(ddof=1)) & meaningful
                if len(paired) >= 2
                else pd.Series(False, index=METRICS)
            )
            info.append(
                {"kind": "improvement", "loss": loss, "baseline": base, "seeds": len(paired)}
            )
    rows = pd.MultiIndex.from_tuples(index, names=["fraction", "eta", "label"])

    def stack(series):
        return pd.DataFrame(series, index=rows, columns=METRICS)

    protocols = frame["protocol"].unique() if "protocol" in frame else ["alpha-iou"]
    return RobustnessTable(
        stack([s.to_numpy() for s in values]),
        stack([s.to_numpy() for s in spread]),
        stack([s.to_numpy(dtype=bool) for s in marked]),
        pd.DataFrame(info, index=rows),
        protocol=", ".join(map(str, protocols)),
    )


def _block_label(table: RobustnessTable, fraction: float, eta: float) -> str:
    """``η = 0.2``, with the noise protocol named when it is not the α-IoU paper's."""
    noise = f"η = {eta:g}" + ("" if table.protocol == "alpha-iou" else f" ({table.protocol})")
    return {
        "eta": noise,
        "fraction": f"{fraction:.0%} data",
        "both": f"{noise}, {fraction:.0%} data",
    }[table.block_axis]


def _cells(table: RobustnessTable) -> list[tuple[str, str, list[tuple[str, bool]]]]:
    """(block label or "", row label, [(cell text, marked)]) per row."""
    out, previous = [], None
    for row in range(len(table.values)):
        fraction, eta, label = table.values.index[row]
        block = _block_label(table, fraction, eta)
        info = table.info.iloc[row]
        improvement = info["kind"] == "improvement"
        row_label = f"{IMPROVEMENT} vs {info['baseline']}" if improvement else label
        cells = []
        for value, spread, marked in zip(
            table.values.iloc[row], table.spread.iloc[row], table.marked.iloc[row], strict=True
        ):
            if improvement:
                text = "n/a" if not np.isfinite(value) else f"{value:+.2f}%"
            else:
                text = f"{value:.2f}" + (f" ± {spread:.2f}" if np.isfinite(spread) else "")
            cells.append((text, bool(marked)))
        out.append(("" if block == previous else block, row_label, cells))
        previous = block
    return out


def _note(table: RobustnessTable) -> str:
    seeds = int(table.info["seeds"].max())
    if seeds < 2:
        note = (
            "AP in percent, one seed per run: no seed-to-seed spread to judge the "
            "improvements by (give several --seed)."
        )
    else:
        note = (
            f"AP in percent, mean ± std over {seeds} seeds; improvements in bold exceed the "
            "seed-to-seed spread of the paired differences."
        )
    improvements = table.values[table.info["kind"] == "improvement"]
    if improvements.isna().to_numpy().any():
        note += (
            f" n/a: the baseline's AP is below {IMPROVEMENT_FLOOR:g} point there, where a "
            "relative change says nothing."
        )
    return note


def render(table: RobustnessTable, format: str) -> str:
    """The table as ``markdown``, ``csv`` (numbers, one row per table row), ``latex`` or
    ``html``."""
    if format not in FORMATS:
        raise NoisyboxError(f"format must be one of {', '.join(FORMATS)}; got {format!r}", "format")
    return {"markdown": _markdown, "csv": _csv, "latex": _latex, "html": _html}[format](table)


def _heading(table: RobustnessTable) -> str:
    return {"eta": "noise", "fraction": "data", "both": "training set"}[table.block_axis]


def _markdown(table: RobustnessTable) -> str:
    lines = [
        "| " + " | ".join([_heading(table), "loss", *METRICS]) + " |",
        "|" + "---|" * (len(METRICS) + 2),
    ]
    for block, label, cells in _cells(table):
        texts = [f"**{text}**" if mark else text for text, mark in cells]
        lines.append("| " + " | ".join([block, label, *texts]) + " |")
    return "\n".join(lines) + "\n\n" + _note(table)


def _csv(table: RobustnessTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["fraction", "eta", "row", "loss", "baseline", "seeds"]
        + METRICS
        + [f"{m} std" for m in METRICS]
        + [f"{m} marked" for m in METRICS]
    )
    for row in range(len(table.values)):
        fraction, eta, _ = table.values.index[row]
        info = table.info.iloc[row]
        writer.writerow(
            [fraction, eta, info["kind"], info["loss"]]
            + [info["baseline"] if isinstance(info["baseline"], str) else ""]
            + [int(info["seeds"])]
            + [_number(v) for v in table.values.iloc[row]]
            + [_number(v) for v in table.spread.iloc[row]]
            + [str(bool(v)).lower() for v in table.marked.iloc[row]]
        )
    return buffer.getvalue().rstrip("\n")


def _number(value: float) -> str:
    return "" if not np.isfinite(value) else repr(round(float(value), 4))


def _latex(table: RobustnessTable) -> str:
    def escape(text: str) -> str:
        for old, new in (("\\", r"\textbackslash{}"), ("%", r"\%"), ("_", r"\_"), ("&", r"\&")):
            text = text.replace(old, new)
        return text.replace("±", r"$\pm$").replace("η", r"$\eta$")

    names = [rf"AP$_{{{m[2:]}}}$" for m in METRICS[:-2]] + ["mAP", r"mAP$_{75:95}$"]
    header = [_heading(table), "loss", *names]
    lines = [
        r"\begin{tabular}{ll" + "r" * len(METRICS) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
    ]
    for block, label, cells in _cells(table):
        if block:
            lines.append(r"\midrule")
        texts = [rf"\textbf{{{escape(t)}}}" if mark else escape(t) for t, mark in cells]
        lines.append(" & ".join([escape(block), escape(label), *texts]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", "% " + _note(table)]
    return "\n".join(lines)


def _html(table: RobustnessTable) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in [_heading(table), "loss", *METRICS])
    body = []
    for block, label, cells in _cells(table):
        if block:
            body.append("</tbody><tbody>" if body else "<tbody>")
        texts = [f"<b>{html.escape(t)}</b>" if mark else html.escape(t) for t, mark in cells]
        body.append(
            "<tr>"
            + "".join(f"<td>{t}</td>" for t in [html.escape(block), html.escape(label), *texts])
            + "</tr>"
        )
    return (
        f'<table class="noisybox-robustness">\n<thead><tr>{head}</tr></thead>\n'
        + "\n".join(body)
        + f"\n</tbody>\n<caption>{html.escape(_note(table))}</caption>\n</table>"
    )


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path) as handle:
        handle.write(text.encode())


def per_class_table(results_dir: Path, settings: str | None = None) -> pd.DataFrame:
    """AP (50:95), AP75 and AR100 per class, loss and noise rate: mean over seeds, from the
    ``per_class`` field of each run record (runs without it are left out). Index: fraction,
    eta, class, loss; columns: the metrics and ``seeds``."""
    records, _ = read_records(Path(results_dir))
    groups = settings_groups(records)
    chosen = next((k for k in groups if settings and k.startswith(settings)), None)
    if len(groups) > 1 and chosen is None:
        raise NoisyboxError(
            f"{results_dir}: holds runs of several settings: pick one with `settings`"
        )
    rows = [
        {
            "fraction": r["fraction"],
            "eta": r["eta"],
            "loss": r["loss"],
            "class": values.get("name") or category,
            **{m: _metric(values.get(m)) for m in ("AP", "AP75", "AR100")},
        }
        for r in groups[chosen or next(iter(groups))]
        if isinstance(r.get("per_class"), dict)
        for category, values in r["per_class"].items()
        if isinstance(values, dict)
    ]
    if not rows:
        raise NoisyboxError(f"{results_dir}: no run records with per-class results")
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["fraction", "eta", "class", "loss"], sort=True)
    table = grouped[["AP", "AP75", "AR100"]].mean()
    table["seeds"] = grouped.size()
    return table
