"""Grids on a cluster through submitit: a grid as a job array, each task one shard writing to
the shared results store (its own ``results/shard-K-of-N.jsonl``, per-run locks as for any
two processes). ``bench`` without a launcher, run later on the login node, shows what is
finished and renders the report from every shard's records.

``--shard auto`` serves users who write their own ``sbatch`` array script: the task's shard
comes from Slurm's ``SLURM_ARRAY_TASK_ID``, ``SLURM_ARRAY_TASK_MIN`` and
``SLURM_ARRAY_TASK_COUNT``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..command_config import write_command_config
from ..config import TrainConfig
from ..errors import NoisyboxError
from .grid import RunSpec, select_shard

#: where submitit can send the tasks: a Slurm cluster, or processes on this machine
LAUNCHERS = ("slurm", "local")


def shard_from_slurm(environ: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """``(K, N)`` of a Slurm array task: K counts from 1 whatever the array's first id."""
    try:
        task = int(environ["SLURM_ARRAY_TASK_ID"])
        first = int(environ.get("SLURM_ARRAY_TASK_MIN", "0"))
        step = int(environ.get("SLURM_ARRAY_TASK_STEP", "1"))
        count = int(environ["SLURM_ARRAY_TASK_COUNT"])
    except (KeyError, ValueError):
        raise NoisyboxError(
            "shard auto needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (run it as a task "
            "of a Slurm job array: sbatch --array=1-N)",
            "shard",
        ) from None
    part, rest = divmod(task - first, max(step, 1))
    if rest or not 0 <= part < count:
        raise NoisyboxError(
            f"shard auto: task {task} is not in an evenly stepped array of {count} from "
            f"{first} (use --array=FIRST-LAST or FIRST-LAST:STEP, without gaps)",
            "shard",
        )
    return part + 1, count


@dataclass(frozen=True)
class LaunchOptions:
    """How to send a grid away.

    Attributes:
        launcher: a key of :data:`LAUNCHERS`.
        tasks: the array's size: the grid's shards.
        partition: the Slurm partition (``None``: the cluster's default).
        time_min: each task's time limit, minutes.
        gpus_per_task: GPUs each task gets.
        parallelism: tasks that may run at once (``None``: all).
    """

    launcher: str = "slurm"
    tasks: int = 4
    partition: str | None = None
    time_min: int = 240
    gpus_per_task: int = 1
    parallelism: int | None = None


def run_shard(
    base: TrainConfig, runs: list[RunSpec], out: Path, shard: tuple[int, int], protocol: str
) -> int:
    """One task of the array: shard ``shard`` of ``runs``; the number of runs it trained."""
    from .runner import run_grid

    done = run_grid(base, select_shard(runs, *shard), out, shard=shard, protocol=protocol)
    return len(done)


def submit_grid(
    base: TrainConfig,
    runs: list[RunSpec],
    out: Path,
    protocol: str,
    options: LaunchOptions,
    command_options: dict | None = None,
) -> list:
    """Submit the grid as a job array of ``options.tasks`` shards; return the submitit jobs
    (``job.job_id``, ``job.result()`` waits). The bench folder is checked and marked first,
    and keeps ``command_options`` as ``config.toml``, as :func:`~.runner.run_grid` does."""
    from .runner import check_bench_folder

    if options.launcher not in LAUNCHERS:
        raise NoisyboxError(
            f"launcher must be one of {', '.join(LAUNCHERS)}; got {options.launcher!r}", "launcher"
        )
    if not 1 <= options.tasks <= len(runs):
        raise NoisyboxError(f"tasks must be between 1 and the {len(runs)} runs", "tasks")
    try:
        import submitit
    except ImportError:
        raise NoisyboxError(
            "--launcher needs submitit: pip install 'noisybox[slurm]'", "launcher"
        ) from None
    from ..outputs import mark_folder

    check_bench_folder(base, out)
    folder = out / "launcher" / "%j"
    if options.launcher == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=options.time_min)
    else:
        try:
            executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        except Exception as error:  # submitit names no common error type for "no Slurm here"
            raise NoisyboxError(f"no Slurm here ({error})", "launcher") from None
        executor.update_parameters(
            timeout_min=options.time_min,
            gpus_per_node=options.gpus_per_task,
            tasks_per_node=1,
            slurm_array_parallelism=options.parallelism or options.tasks,
            **({"slurm_partition": options.partition} if options.partition else {}),
        )
    mark_folder(out, "bench")  # once the executor exists: nothing is written before
    if command_options is not None:
        write_command_config(out, "bench", command_options)
    shards = [(k, options.tasks) for k in range(1, options.tasks + 1)]
    count = len(shards)
    return executor.map_array(
        run_shard, [base] * count, [runs] * count, [out] * count, shards, [protocol] * count
    )
