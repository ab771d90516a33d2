"""The bench report as a document: ``report.md`` (what was run, the robustness table, links
to the figures in ``plots/``) and one self-contained HTML page (inline CSS, the figures as
inline SVG, no scripts, nothing fetched, so it opens offline and can be mailed as one file).

Both say what was run (data by checksum, protocol, model, steps, seeds, device, versions,
wall time); the page adds every figure, per-class AP and the runs with links to their
folders.
"""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pandas as pd

from ..benchmark.store import read_records
from ..errors import NoisyboxError
from .plots import draw_figures, figure_names, training_curves
from .tables import per_class_table, render, robustness_table

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child, td:nth-child(2) { text-align: left; }
caption { caption-side: bottom; text-align: left; color: #555; padding-top: .5em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 1.5em; }
dt { font-weight: 600; } dd { margin: 0; word-break: break-all; }
figure { margin: 1.5em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; }
"""

#: figure name -> caption
CAPTIONS = {
    "ap_vs_iou": "AP at each IoU threshold, per loss and noise rate (mean over seeds).",
    "vs_eta": "mAP and mAP75:95 against the noise rate η (mean ± std over seeds).",
    "vs_fraction": "mAP and mAP75:95 against the share of training data.",
    "alpha_sweep": "mAP against α, per noise rate.",
    "regime": "Each α-variant's relative improvement against its baseline's localisation "
    "quality (the positives' median IoU).",
    "training": "The training loss and the positives' median IoU against the step (mean over "
    "seeds), from the run folders.",
}


def _inline_svg(figure) -> str:
    """A matplotlib figure as an ``<svg>`` element (no XML prolog, unique ids per figure)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _what_was_run(records: list[dict], frame: pd.DataFrame) -> list[tuple[str, str]]:
    """The page's first section as (term, description) pairs, from the records."""
    first = records[0]
    grid = first.get("grid_settings") or {}
    checksums = grid.get("checksums", {})
    steps = grid.get("max_steps") or f"{grid.get('epochs')} epochs"
    unique = lambda key: ", ".join(f"{v:g}" for v in sorted(frame[key].unique()))  # noqa: E731
    hours = frame["run_s"].fillna(0).sum() / 3600
    return [
        ("runs", f"{len(records)}: {', '.join(sorted(frame['loss'].unique()))}"),
        ("noise rates η", unique("eta")),
        ("data fractions", unique("fraction")),
        ("seeds", ", ".join(str(s) for s in sorted(frame["seed"].unique()))),
        ("protocol", str(grid.get("protocol", "alpha-iou"))),
        (
            "model",
            f"{grid.get('model')} + {grid.get('backbone')}, {grid.get('image_size')} px, "
            f"batch {grid.get('batch_size')}, {steps} steps, lr {grid.get('lr')}",
        ),
        ("data", "; ".join(f"{name} {value}" for name, value in checksums.items())),
        ("device", ", ".join(sorted({str(r.get("device")) for r in records}))),
        (
            "versions",
            ", ".join(
                sorted({f"noisybox {r.get('noisybox')}, torch {r.get('torch')}" for r in records})
            ),
        ),
        ("wall time", f"{hours:.2f} h of training and evaluation"),
        ("settings", ", ".join(sorted({str(r.get("settings")) for r in records}))),
    ]


def _runs_table(records: list[dict]) -> str:
    """Every run: id (a link to its folder), loss, η, fraction, seed, mAP, mAP75:95."""
    rows = []
    for r in sorted(records, key=lambda r: r["run_id"]):
        metrics = r.get("metrics", {})
        cells = [
            f'<a href="{html.escape(str(r.get("run_dir", "")))}/">{html.escape(r["run_id"])}</a>',
            html.escape(str(r["loss"])),
            f"{r['eta']:g}",
            f"{r['fraction']:g}",
            str(r["seed"]),
            *(
                f"{metrics[m]:.2f}" if metrics.get(m) is not None else "n/a"
                for m in ("mAP", "mAP75:95")
            ),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(
        f"<th>{h}</th>" for h in ("run", "loss", "η", "fraction", "seed", "mAP", "mAP75:95")
    )
    return f'<table id="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _matching_records(
    results_dir: Path, frame: pd.DataFrame, settings: str | None = None
) -> list[dict]:
    """The records behind ``frame``: of the settings ``settings`` picks (a fingerprint or its
    start; ``load_results`` refuses a store of several settings without it)."""
    records, _ = read_records(results_dir)
    if settings is not None:
        records = [r for r in records if str(r.get("settings", "")).startswith(settings)]
    ids = set(zip(frame["fraction"], frame["eta"], frame["seed"], frame["loss"], strict=True))
    return [r for r in records if (r["fraction"], r["eta"], r["seed"], r["loss"]) in ids]


def markdown_report(
    results_dir: Path,
    frame: pd.DataFrame,
    curves: pd.DataFrame,
    baseline: str | None = None,
    plots: str = "plots",
    settings: str | None = None,
) -> str:
    """``report.md``: what was run, the robustness table, and links to the figures that
    ``write_plots(frame, results_dir / plots, curves)`` draws (``curves`` from
    :func:`~.plots.training_curves`; ``plots``: that folder relative to the report)."""
    records = _matching_records(results_dir, frame, settings)
    facts = "\n".join(f"- **{term}**: {text}" for term, text in _what_was_run(records, frame))
    table = render(robustness_table(frame, baseline), "markdown")
    names = figure_names(frame, curves)
    links = "\n".join(f"- [{CAPTIONS.get(name, name)}]({plots}/{name}.png)" for name in names)
    return f"## What was run\n\n{facts}\n\n## Robustness\n\n{table}\n\n## Figures\n\n{links}\n"


def html_report(
    results_dir: Path, frame: pd.DataFrame, baseline: str | None, settings: str | None = None
) -> str:
    """The whole page for the bench folder ``results_dir`` (``frame`` from ``load_results``
    with the same ``settings``)."""
    records = _matching_records(results_dir, frame, settings)
    table = render(robustness_table(frame, baseline), "html")
    table = table.replace("<table ", '<table id="robustness" ', 1)
    facts = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>"
        for term, text in _what_was_run(records, frame)
    )
    figures = []
    drawn = draw_figures(frame, training_curves(results_dir, settings))
    for index, (name, figure) in enumerate(drawn.items()):
        svg = _inline_svg(figure)
        # matplotlib's element ids repeat across figures: give each figure its own
        svg = re.sub(r'id="([^"]+)"', rf'id="f{index}-\1"', svg)
        svg = re.sub(r"#([A-Za-z_][\w.-]*)\)", rf"#f{index}-\1)", svg)
        svg = re.sub(r'href="#([^"]+)"', rf'href="#f{index}-\1"', svg)
        caption = html.escape(CAPTIONS.get(name, name))
        figures.append(f'<figure id="{name}">{svg}<figcaption>{caption}</figcaption></figure>')
        import matplotlib.pyplot as plt

        plt.close(figure)
    try:
        per_class = per_class_table(results_dir, settings).round(2)
        per_class_html = per_class.to_html(border=0, table_id="per-class", na_rep="n/a")
    except NoisyboxError as error:  # records from before per-class results were kept
        per_class_html = f"<p>{html.escape(str(error))}.</p>"
    title = f"noisybox report: {results_dir.name}"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f"<h2>What was run</h2><dl>{facts}</dl>\n"
        f"<h2>Robustness</h2>\n{table}\n"
        f"<h2>Figures</h2>\n{''.join(figures)}\n"
        "<h2>Per class (AP, AP75 and AR100 in %, mean over seeds)</h2>\n"
        f"{per_class_html}\n"
        f"<h2>Runs</h2>\n{_runs_table(records)}\n"
        "</body></html>\n"
    )
