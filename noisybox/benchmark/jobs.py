"""A grid in several processes of this machine (``noisybox bench --jobs N``).

The processes share the grid as any two processes do (each run's lock, the results store,
the noisy training files written once and atomically); each gets ``cores // N`` torch
threads. On a small CPU this is the faster way: the quick preset's runs took 115 s each in
one process with two threads, 135 s each in two one-thread processes side by side, so 67 s
a run for the grid.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import NoisyboxError
from .events import Event, RunDone
from .grid import RunSpec


def threads_per_job(jobs: int) -> int:
    """Torch threads for each of ``jobs`` processes: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // jobs)


def run_jobs(
    jobs: int, base: TrainConfig, runs: list[RunSpec], out: Path, **grid: Any
) -> list[dict]:
    """:func:`~.runner.run_grid` of ``base``, ``runs`` and ``out`` (``grid``: its other
    keyword arguments) in ``jobs`` processes, this one and ``jobs - 1`` started here; the
    records all of them added. ``on_event`` follows this process's runs; the others report
    each finished run as a line on stderr."""
    import torch

    from .runner import run_grid

    if jobs < 1:
        raise NoisyboxError(f"jobs must be at least 1; got {jobs}", "jobs")
    if jobs == 1:
        return run_grid(base, runs, out, **grid)
    import multiprocessing

    threads = threads_per_job(jobs)
    shared = {k: v for k, v in grid.items() if k in ("shard", "protocol")}
    context = multiprocessing.get_context("spawn")  # no forked torch state
    with context.Pool(jobs - 1) as pool:
        others = [
            pool.apply_async(_job, (base, runs, out, shared, threads, job))
            for job in range(2, jobs + 1)
        ]
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            records = run_grid(base, runs, out, **grid)
        finally:
            torch.set_num_threads(previous)
        for other in others:
            records += other.get()  # re-raises a job's error here
    return records


def _job(base, runs, out, grid: dict, threads: int, job: int) -> list[dict]:
    import sys

    import torch

    from .runner import run_grid

    torch.set_num_threads(threads)

    def report(event: Event) -> None:
        if isinstance(event, RunDone):
            metrics = event.record["metrics"]
            print(
                f"job {job}: {event.record['run_id']}: mAP {metrics['mAP']:.2f}  "
                f"mAP75:95 {metrics['mAP75:95']:.2f}  ({event.record['run_s']:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    return run_grid(base, runs, out, on_event=report, **grid)
