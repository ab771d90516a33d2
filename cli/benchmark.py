"""``noisybox bench`` (a grid of training runs) and ``noisybox report`` (its tables and plots)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .options import DataSource, command_options, run_options

BaselineOption = Annotated[
    str | None,
    typer.Option(
        help="Compare every loss with this one (default: each alpha-X with X, e.g. alpha-iou "
        "with iou)."
    ),
]


@run_options("bench")
def bench(
    loss: Annotated[
        list[str] | None,
        typer.Option(help="A loss to train (repeat): iou, alpha-iou, alpha-diou:2.5, ..."),
    ] = None,
    eta: Annotated[
        list[float] | None, typer.Option(help="A box-noise rate η of the training set (repeat).")
    ] = None,
    fraction: Annotated[
        list[float] | None, typer.Option(help="A share of the training images (repeat).")
    ] = None,
    seed: Annotated[
        list[int] | None, typer.Option(help="A seed of subset, noise and training (repeat).")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Defaults for everything not given: quick (2-core CPU, ~10 min) or paper "
            "(a GPU). Default: paper on a GPU, quick otherwise."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Results folder (created, or continued).")] = Path(
        "bench"
    ),
    shard: Annotated[
        str | None,
        typer.Option(
            help="Run only part K of N of the grid, e.g. 2/4; auto: this Slurm array task's "
            "part (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT)."
        ),
    ] = None,
    launcher: Annotated[
        str | None,
        typer.Option(
            help="Send the grid away as a job array through submitit: slurm, or local "
            "(processes here). Each task runs one shard into OUT; --dry-run shows progress, "
            "noisybox report OUT the merged results. With GPUs per task the default preset "
            "is paper."
        ),
    ] = None,
    tasks: Annotated[int, typer.Option(help="Array size: the grid's shards.", min=1)] = 4,
    partition: Annotated[str | None, typer.Option(help="Slurm partition.")] = None,
    time_min: Annotated[int, typer.Option(help="Each task's time limit, minutes.", min=1)] = 240,
    gpus_per_task: Annotated[int, typer.Option(help="GPUs per task.", min=0)] = 1,
    parallelism: Annotated[
        int | None, typer.Option(help="Tasks that may run at once (default: all).", min=1)
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="With --launcher: wait for the tasks, then report.")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            help="Processes here that share the grid, each with cores/jobs torch threads "
            "(on a small CPU two one-thread processes beat one with two threads).",
            min=1,
        ),
    ] = 1,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and its cost; train nothing.")
    ] = False,
    baseline: BaselineOption = None,
    protocol: Annotated[
        str,
        typer.Option(help="The noise protocol of the noisy training sets: alpha-iou, oa-mil, una."),
    ] = "alpha-iou",
    *,
    run: dict,
    source: DataSource,
) -> None:
    """Train every loss at every noise rate, data fraction and seed; report the robustness.

    With no --data, the built-in shapes dataset is made in OUT/data/shapes. Finished runs are
    kept in OUT/results/ and never redone: run the same command again to continue.
    """
    from noisybox.benchmark.jobs import run_jobs
    from noisybox.benchmark.runner import plan_cost
    from noisybox.benchmark.setup import plan_bench
    from noisybox.training.trainer import finish_distributed

    source.check_out_beside(out)
    plan = plan_bench(
        out,
        losses=loss,
        etas=eta,
        fractions=fraction,
        seeds=seed,
        preset=preset,
        shard=shard,
        data_paths=source.paths() if source.given else None,
        settings=run,
        protocol=protocol,
        dry_run=dry_run,
        remote_gpus=launcher == "slurm" and gpus_per_task > 0,  # the tasks run on GPU nodes
    )
    if dry_run:
        cost = plan_cost(plan.base, plan.shard_runs, out, protocol)
        _print_plan(plan.runs, plan.shard_runs, plan.shard, plan.preset, plan.base, out, cost)
        return
    if launcher is not None:
        from noisybox.benchmark.launch import LaunchOptions, submit_grid

        options = LaunchOptions(launcher, tasks, partition, time_min, gpus_per_task, parallelism)
        jobs = submit_grid(plan.base, plan.runs, out, protocol, options, command_options())
        typer.echo(f"submitted {len(jobs)} tasks ({launcher}): {jobs[0].job_id.split('_')[0]}")
        if not wait:
            typer.echo(
                f"progress: the same bench with --dry-run; the merged report: noisybox report "
                f"{out} (a plain bench would train here the runs no task has started)"
            )
            return
        trained = sum(job.result() for job in jobs)
        typer.echo(f"{len(jobs)} tasks done, {trained} runs trained", err=True)
        _write_report(out, baseline)
        return
    with _grid_progress(len(plan.shard_runs)) as on_event:
        records = run_jobs(
            jobs,
            plan.base,
            plan.shard_runs,
            out,
            shard=plan.shard,
            on_event=on_event,
            protocol=protocol,
            command_options=command_options(),
        )
    finish_distributed()
    if os.environ.get("RANK", "0") == "0":  # rank 0 of a torchrun group, or no group
        if records:
            typer.echo(_outside_training(records), err=True)
        _write_report(out, baseline)


def _outside_training(records: list[dict]) -> str:
    """How much of the runs' time went outside training steps and evaluation."""
    from noisybox.benchmark.store import time_outside_training

    outside, total = time_outside_training(records)
    share = outside / total if total else 0.0
    return (
        f"outside training steps and evaluation (noisy data, reading and checking it, model "
        f"building, records): {outside:.1f} s of {total:.0f} s ({share:.1%}) over "
        f"{len(records)} runs"
    )


def _print_plan(runs, shard_runs, part, preset, base, out: Path, cost) -> None:
    typer.echo(f"noisybox bench: plan (dry run: nothing written), preset {preset}")
    typer.echo(
        f"  grid: {len(runs)} runs"
        + (f"; shard {part[0]}/{part[1]}: {len(shard_runs)} runs" if part else "")
        + f"; {cost.finished} finished in {out}, {cost.todo} to run"
    )
    steps = base.max_steps if base.max_steps is not None else f"{base.epochs} epochs"
    typer.echo(
        f"  each: {base.model} + {base.backbone}, {base.image_size} px, batch {base.batch_size}, "
        f"{steps} steps, on {cost.device}"
    )
    typer.echo(
        f"  estimated: {cost.seconds_per_run:.0f} s per run ({cost.basis}), "
        f"{_duration(cost.seconds_per_run * cost.todo)} in all"
    )
    if cost.finished_records:
        typer.echo(f"  finished runs: {_outside_training(list(cost.finished_records))}")
    for spec in shard_runs:
        state = "done" if spec.run_id in cost.finished_ids else "todo"
        typer.echo(f"  {state}  {spec.run_id}")


def _load_results(results_dir: Path, settings: str | None = None):
    """The results of ``results_dir``, each unreadable line reported as a warning."""
    from noisybox.report.tables import load_results

    frame, problems = load_results(results_dir, settings)
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    return frame


def _write_report(out: Path, baseline: str | None) -> None:
    from noisybox.report import plots
    from noisybox.report.page import markdown_report
    from noisybox.report.tables import render, robustness_table, write_text

    frame = _load_results(out)
    text = render(robustness_table(frame, baseline), "markdown")
    typer.echo("\n" + text)
    curves = plots.training_curves(out)  # read once: the report links what is drawn
    write_text(out / "report.md", markdown_report(out, frame, curves, baseline))
    written = plots.write_plots(frame, out / "plots", curves)
    typer.echo(f"\nwrote {out / 'report.md'} and {len(written)} plots in {out / 'plots'}")


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


@contextlib.contextmanager
def _grid_progress(total: int):
    """Which run, its step and the grid's ETA: a rich display on a terminal, lines otherwise."""
    from noisybox.benchmark.events import GridLog, GridPlanned, RunDone, RunStarted, RunStep

    state = {"label": "", "todo": total}

    def describe(event) -> str | None:
        if isinstance(event, GridPlanned):
            state["todo"] = event.runs - event.finished
            return f"bench: {event.runs} runs, {event.finished} finished already"
        if isinstance(event, RunStarted):
            state["label"] = f"run {event.index + 1}/{event.todo} {event.run}"
            return state["label"]
        if isinstance(event, RunDone):
            metrics = event.record["metrics"]
            return (
                f"{state['label']}: mAP {metrics['mAP']:.2f}  mAP75:95 {metrics['mAP75:95']:.2f}"
                f"  ({event.record['run_s']:.0f} s)"
            )
        if isinstance(event, GridLog) and event.line.startswith(("note:", "warning:")):
            return f"  {event.line}"
        return None

    def step_text(event: RunStep) -> str:
        return (
            f"{state['label']}  step {event.step}/{event.total}  loss {event.loss:.4f}"
            f"  grid ETA {_duration(event.grid_eta_s)}"
        )

    if not sys.stderr.isatty():

        def on_event(event) -> None:  # a step line at every tenth of a run
            if isinstance(event, RunStep):
                tenth = event.total / 10
                if int(event.step / tenth) == int((event.step - 1) / tenth):
                    return
            line = step_text(event) if isinstance(event, RunStep) else describe(event)
            if line is not None:
                typer.echo(line, err=True)

        yield on_event
        return
    from rich.console import Console
    from rich.live import Live

    console = Console(stderr=True)
    with Live(console=console, transient=True, refresh_per_second=4) as live:

        def on_event(event) -> None:
            if isinstance(event, RunStep):
                live.update(step_text(event))
                return
            line = describe(event)
            if line is not None:
                console.print(line, highlight=False)

        yield on_event


def report(
    results_dir: Annotated[Path, typer.Argument(help="The --out folder of noisybox bench.")],
    baseline: BaselineOption = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="markdown, csv, latex, or html: one self-contained page (what was run, tables, "
            "inline figures, per-class AP, the runs).",
        ),
    ] = "markdown",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the table here (default: print).")
    ] = None,
    plots: Annotated[
        Path | None, typer.Option(help="Also draw the plots (PNG and SVG) into this folder.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace OUTPUT and the plot files if they exist.")
    ] = False,
    settings: Annotated[
        str | None,
        typer.Option(
            help="Report only the runs of these settings (a fingerprint from the results, or "
            "its first characters), where the folder holds several."
        ),
    ] = None,
    per_class: Annotated[
        bool,
        typer.Option("--per-class", help="Also print AP, AP75 and AR100 per class, loss and η."),
    ] = False,
) -> None:
    """The robustness tables of a bench: one block per noise rate and data fraction, a row per
    loss (AP50 … AP95, mAP, mAP75:95), and each α-variant's relative improvement."""
    from noisybox.outputs import Output, check_outputs
    from noisybox.report.plots import figure_paths
    from noisybox.report.tables import render, robustness_table, write_text

    frame = _load_results(results_dir, settings)
    if format == "html":  # one self-contained page: tables, inline figures, runs
        from noisybox.report.page import html_report

        text = html_report(results_dir, frame, baseline, settings)
    else:
        text = render(robustness_table(frame, baseline), format)
    outputs = [Output(output)] if output is not None else []
    outputs += [Output(path) for path in figure_paths(plots)] if plots is not None else []
    check_outputs(outputs, [results_dir / "results"], overwrite)  # before writing anything
    if output is None:
        typer.echo(text)
    else:
        write_text(output, text + "\n")
    if per_class:
        from noisybox.report.tables import per_class_table

        table = per_class_table(results_dir, settings).round(2)
        typer.echo("\nper class (%, mean over seeds)\n" + table.to_string())
    if plots is not None:
        from noisybox.report.plots import training_curves, write_plots

        from .progress import stage

        with stage(f"draw the plots into {plots}"):
            written = write_plots(frame, plots, training_curves(results_dir, settings))
        typer.echo(f"wrote {len(written)} plots in {plots}", err=True)
