"""The command line's main jobs as Python functions, for notebooks and scripts: the same
library calls as ``noisybox corrupt``, ``noisybox bench`` and ``noisybox report``, returning
typed results (pandas DataFrames for tables) instead of printing.

>>> from noisybox import api
>>> api.corrupt("train.json", "train.noisy.json", eta=0.2, seed=0)       # doctest: +SKIP
>>> runs = api.bench("bench", losses=["iou", "alpha-iou"], etas=[0, 0.2])  # doctest: +SKIP
>>> api.report("bench").values                                           # doctest: +SKIP

(``noisybox.report`` is the package of the tables and figures; the functions live here.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .derive import check_derived_outputs, derive_annotations
from .formats import read_annotations
from .noise import CorruptionReport, NoiseConfig
from .report.tables import RobustnessTable, load_results, robustness_table


def corrupt(
    annotations: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    eta: float,
    seed: int = 0,
    protocol: str = "alpha-iou",
    format: str | None = None,
    images: str | os.PathLike[str] | None = None,
    per_box: bool = False,
    overwrite: bool = False,
    **noise: float,
) -> CorruptionReport:
    """Write a noisy copy of ``annotations`` (COCO file, VOC or YOLO folder) to ``output``,
    with its manifest beside it, as ``noisybox corrupt`` does.

    Args:
        eta: the paper's box-noise rate η (equation (5) under ``protocol="alpha-iou"``).
        seed: every random choice flows from it.
        protocol: ``alpha-iou``, ``oa-mil`` or ``una``.
        format, images: as ``--format`` and ``--images``.
        per_box: also write ``OUTPUT.boxes.csv``.
        overwrite: replace ``output`` (only if noisybox wrote it, or it is a plain file).
        **noise: other rates of :class:`~noisybox.noise.NoiseConfig` (``flip=0.1``, ...).

    Returns:
        The noise report (counts, mean IoU of noisy against clean boxes, ...).
    """
    images_dir = Path(images) if images is not None else None
    source = read_annotations(Path(annotations), format, images_dir=images_dir)
    config = NoiseConfig(eta=eta, protocol=protocol, **noise)
    check_derived_outputs(source, Path(output), [images_dir], overwrite, per_box)
    derived = derive_annotations(
        source,
        Path(output),
        command="corrupt",
        seed=seed,
        noise=config,
        per_box=per_box,
        overwrite=overwrite,
    )
    assert derived.report is not None
    return derived.report


def bench(
    out: str | os.PathLike[str] = "bench",
    *,
    losses: list[str] | None = None,
    etas: list[float] | None = None,
    fractions: list[float] | None = None,
    seeds: list[int] | None = None,
    preset: str | None = None,
    data: str | os.PathLike[str] | None = None,
    protocol: str = "alpha-iou",
    jobs: int = 1,
    **settings: object,
) -> pd.DataFrame:
    """Run (or continue) a robustness grid as ``noisybox bench`` does, and return one row per
    finished run (fraction, eta, seed, loss, alpha, every metric, the diagnostics).

    Args:
        out: the bench folder (created, or continued).
        losses, etas, fractions, seeds: the grid (``None``: the preset's).
        preset: ``quick`` or ``paper`` (``None``: paper on a GPU, quick otherwise).
        data: a dataset folder as ``--data`` takes (``None``: the built-in shapes data).
        protocol: the noise protocol.
        jobs: processes of this machine that share the grid (``--jobs``).
        **settings: ``TrainConfig`` fields (``max_steps=200``, ``device="cpu"``, ...).
    """
    from .benchmark.jobs import run_jobs
    from .benchmark.setup import plan_bench
    from .training.trainer import data_from_folder

    folder = Path(out)
    plan = plan_bench(
        folder,
        losses=losses,
        etas=etas,
        fractions=fractions,
        seeds=seeds,
        preset=preset,
        data_paths=data_from_folder(Path(data)) if data is not None else None,
        settings=dict(settings),
        protocol=protocol,
    )
    run_jobs(jobs, plan.base, plan.shard_runs, folder, protocol=plan.protocol)
    return load_results(folder)[0]


def report(
    folder: str | os.PathLike[str], *, baseline: str | None = None, settings: str | None = None
) -> RobustnessTable:
    """The robustness table of a bench folder, as ``noisybox report`` prints it: ``.values``
    (a DataFrame of means, rows per block and loss), ``.spread`` (stds over seeds),
    ``.marked`` (improvements beyond the seed spread), ``.info``; ``render(table, format)``
    in :mod:`noisybox.report.tables` writes it as markdown, csv, latex or html."""
    frame, _ = load_results(Path(folder), settings)
    return robustness_table(frame, baseline)
