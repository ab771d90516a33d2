"""Render every committed study and the README blocks that quote them.

A study is a folder ``benchmarks/studies/NAME/`` holding a bench results store
(``results/*.jsonl``), its ``config.toml`` and ``README.md``. This script writes each
study's ``report.md`` and ``plots/`` with ``noisybox report``'s own code, and replaces the
text between ``<!-- study:NAME -->`` and ``<!-- /study:NAME -->`` in the project README with
the study's summary (mean ± std over seeds of mAP and mAP75:95 per loss and η, the seeds and
the relative improvements marked as in the report), so no number in the README is typed by
hand. ``--check`` changes nothing and exits 1 if anything is out of date (a test runs it).

A study listed in ``ARMS`` is an arm of another kept in its own store (``shapes-warmup``:
``shapes-regime``'s α-IoU with ``--alpha-warmup``); its README block shows both studies'
runs in one table (``noisybox.report.tables.load_arms``, which refuses stores that differ in
anything but that setting).

Across the studies it draws ``benchmarks/studies/regime.png`` (and ``.svg``): each
``alpha-X``'s relative mAP improvement over ``X`` against the baseline's median IoU of its
training positives, one point per (study, η, seed), and fills the README block
``<!-- study:regime-map -->`` with the same points summarized per study and η (the regime
figure of ``noisybox report --plots``, coloured by study).

    python benchmarks/render_studies.py            # after a study has new results
    python benchmarks/render_studies.py --check
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

from noisybox.report.page import markdown_report
from noisybox.report.plots import (
    regime_figure,
    regime_points,
    save_figures,
    training_curves,
    write_plots,
)
from noisybox.report.tables import load_arms, load_results, robustness_table

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "benchmarks" / "studies"
BLOCK = re.compile(
    r"(<!-- study:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /study:(?P=name) -->)", re.S
)


def summary(frame: pd.DataFrame, baseline: str | None = None) -> str:
    """A compact markdown table: per η and loss, mAP and mAP75:95 as mean ± std (seeds)."""
    table = robustness_table(frame, baseline)
    positives = frame.groupby(["fraction", "eta", "loss"])["positive_iou_p50"].mean()
    lines = [
        "| η | loss | seeds | mAP | mAP75:95 | positives' median IoU |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (fraction, eta, label), row in table.values.iterrows():
        info = table.info.loc[(fraction, eta, label)]
        spread = table.spread.loc[(fraction, eta, label)]
        if info["kind"] == "improvement":
            marked = table.marked.loc[(fraction, eta, label)]
            cells = [
                "n/a"
                if pd.isna(row[m])
                else f"{'**' if marked[m] else ''}{row[m]:+.1f}%{'**' if marked[m] else ''}"
                for m in ("mAP", "mAP75:95")
            ]
            lines.append(
                f"|  | rel. improv. {label.split(' vs ')[0]} vs {info['baseline']} "
                f"| {info['seeds']} | {cells[0]} | {cells[1]} |  |"
            )
            continue
        cells = [
            f"{row[m]:.2f}" + ("" if pd.isna(spread[m]) else f" ± {spread[m]:.2f}")
            for m in ("mAP", "mAP75:95")
        ]
        where = f"{eta:g}" + ("" if fraction == 1 else f", {fraction:.0%} data")
        median = positives.get((fraction, eta, label), float("nan"))
        median_text = "n/a" if pd.isna(median) else f"{median:.2f}"
        lines.append(
            f"| {where} | {label} | {info['seeds']} | {cells[0]} | {cells[1]} | {median_text} |"
        )
    runs = len(frame)
    hours = frame["run_s"].sum() / 3600
    lines.append("")
    lines.append(
        f"{runs} runs, {hours:.1f} h of training and evaluation in all. Mean ± std over seeds; "
        "an improvement is in bold where the paired seed differences exceed their spread, "
        "and n/a where the baseline's AP is below 1 point. Positives' median IoU: of the "
        "training positives against their (noisy) targets, over the last logged steps, mean "
        "over seeds."
    )
    return "\n".join(lines) + "\n"


#: studies that are an arm of another (settings that differ in one setting alone, kept in
#: their own store): their README block compares them with that study, against its baseline
ARMS = {"shapes-warmup": ("shapes-regime", "alpha_warmup", "iou")}


def render_study(folder: Path, check: bool) -> tuple[str, bool, pd.DataFrame]:
    """The study's summary, whether its report.md is up to date (written unless ``check``),
    and its results."""
    frame, problems = load_results(folder)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    curves = training_curves(folder)  # empty for a committed study: no run folders
    report = markdown_report(folder, frame, curves)
    current = (folder / "report.md").read_text() if (folder / "report.md").exists() else None
    if not check and current != report:
        from noisybox.report.tables import write_text

        write_text(folder / "report.md", report)
        write_plots(frame, folder / "plots", curves)
    if folder.name in ARMS:
        study, vary, baseline = ARMS[folder.name]
        arms, _ = load_arms([folder.parent / study, folder], vary)
        return summary(arms, baseline), current == report, frame
    return summary(frame), current == report, frame


#: the README block of the cross-study regime summary
REGIME_BLOCK = "regime-map"


def regime_map(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every study's regime points (:func:`~noisybox.report.plots.regime_points`), with its
    name in ``study``."""
    parts = []
    for name, frame in frames.items():
        points = regime_points(frame)
        if len(points):
            parts.append(points.assign(study=name))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def regime_summary(points: pd.DataFrame) -> str:
    """Per study, α-variant and η: the seeds, the baseline's positives' median IoU and the
    relative improvements in mAP and mAP75:95, mean ± std over seeds."""
    lines = [
        "| study | loss vs baseline | η | seeds | baseline positives' median IoU | mAP | "
        "mAP75:95 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (study, loss, baseline, eta), part in points.groupby(
        ["study", "loss", "baseline", "eta"], sort=True
    ):
        cells = []
        for column in ("positive_iou_p50", "mAP", "mAP75:95"):
            mean, std = part[column].mean(), part[column].std(ddof=1)
            sign = "" if column == "positive_iou_p50" else "+"
            digits = 2 if column == "positive_iou_p50" else 1
            unit = "" if column == "positive_iou_p50" else "%"
            text = f"{mean:{sign}.{digits}f}{unit}"
            cells.append(text if pd.isna(std) else f"{text} ± {std:.{digits}f}")
        lines.append(
            f"| {study} | {loss} vs {baseline} | {eta:g} | {len(part)} | "
            + " | ".join(cells)
            + " |"
        )
    lines.append("")
    lines.append(
        "One row per study, α-variant and η: mean ± std over seeds of the baseline's median "
        "IoU of its training positives (against their noisy targets) and of the paired "
        "relative improvements; `benchmarks/studies/regime.png` plots every seed."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    summaries, stale, frames = {}, [], {}
    for folder in sorted(p for p in STUDIES.iterdir() if (p / "results").is_dir()):
        summaries[folder.name], fresh, frames[folder.name] = render_study(folder, args.check)
        if not fresh:
            stale.append(f"{folder.name}/report.md")
    points = regime_map(frames)
    summaries[REGIME_BLOCK] = regime_summary(points)
    if not args.check and len(points):
        save_figures({"regime": regime_figure(points, by="study")}, STUDIES)
    readme = ROOT / "README.md"
    text = readme.read_text()

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in summaries:
            stale.append(f"README block {name}: no such study")
            return match.group(0)
        return match.group(1) + summaries[name] + match.group(4)

    updated = BLOCK.sub(replace, text)
    if updated != text:
        stale.append("README.md")
        if not args.check:
            readme.write_text(updated)
    if args.check and stale:
        print("out of date: " + ", ".join(stale) + " (run benchmarks/render_studies.py)")
        return 1
    print("studies: " + ", ".join(summaries) + (" (rendered)" if not args.check else " (fresh)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
