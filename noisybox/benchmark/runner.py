"""Run a robustness grid: derive each noisy training set once, train every loss on it,
evaluate on the clean validation set, append one record per run to the results store.

Layout of the output folder ``OUT``:

- ``OUT/data/``: the built-in dataset (``shapes/``, when no data is given) and the derived
  training annotations, one per (fraction, η, seed), each with its provenance manifest;
- ``OUT/runs/RUN_ID/``: each run's folder, as ``noisybox train`` writes it;
- ``OUT/results/*.jsonl``: one record per finished run (:mod:`.store`).

An interrupted grid restarts where it stopped: finished runs (found in the store with the
same settings) are skipped, a run cut short resumes from its last checkpoint, and a run
folder without a checkpoint starts over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..command_config import write_command_config
from ..config import (
    LATER_FIELDS,
    MODEL_REVISIONS,
    PATH_FIELDS,
    RUNTIME_FIELDS,
    TrainConfig,
    relative_paths,
)
from ..derive import derive_annotations
from ..errors import NoisyboxError
from ..formats import read_annotations
from ..manifest import checksum, manifest_path
from ..noise import NoiseConfig
from ..outputs import check_work_folder, mark_folder
from ..training.diagnostics import summarize_positive_iou
from ..training.run_folder import RunFolder
from .events import Event, GridLog, GridPlanned, RunDone, RunStarted, RunStep
from .grid import RunSpec, loss_alpha
from .locks import acquire, release
from .store import append_record, read_records, results_file

#: TrainConfig fields a grid sets per run
GRID_FIELDS = ("loss", "alpha", "alpha_penalty", "seed")


def settings_of(base: TrainConfig, protocol: str = "alpha-iou") -> dict:
    """What every run of a grid shares: the training settings (file paths relative to the
    bench folder ``base.out``), the noise protocol (named only when not the α-IoU paper's,
    so that older results keep their fingerprint) and the data's checksums."""
    config = base.to_json()
    settings = {
        k: v
        for k, v in relative_paths(config, Path(base.out)).items()
        if k not in RUNTIME_FIELDS + GRID_FIELDS
        and not (k in LATER_FIELDS and v == LATER_FIELDS[k])
    }
    if protocol != "alpha-iou":
        settings["protocol"] = protocol
    if config["model"] in MODEL_REVISIONS:
        settings["model_revision"] = MODEL_REVISIONS[config["model"]]
    settings["checksums"] = {
        name: checksum(Path(config[name]))
        for name in ("train_annotations", "val_annotations", "train_split", "val_split")
        if config[name]
    }
    if config["weights"] and Path(config["weights"]).is_file():  # the initialisation too
        settings["checksums"]["weights"] = checksum(Path(config["weights"]))
    return settings


def fingerprint(settings: dict) -> str:
    """A short hash naming ``settings`` in each record: every setting but the file paths
    (the data is named by its checksums, so a bench folder can move)."""
    named = {k: v for k, v in settings.items() if k not in PATH_FIELDS}
    text = json.dumps(named, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:16]


def derive_training_data(
    base: TrainConfig,
    spec: RunSpec,
    data_dir: Path,
    checksums: dict[str, str],
    protocol: str = "alpha-iou",
) -> dict[str, str | None]:
    """The training annotations of ``spec`` (subset, then η noise), written once per
    (fraction, η, seed) in the source's format; the settings that point a run at them.

    Clean full data is used where it is. A derived file already written is reused only if
    its manifest records the same source and split checksums as ``checksums`` (those of
    :func:`settings_of`); otherwise, the source having changed, it is derived again.
    """
    if spec.fraction == 1 and spec.eta == 0:
        return {}
    source = Path(base.train_annotations)
    output = data_dir / f"{spec.data_id}{source.suffix if source.is_file() else ''}"
    overrides = {"train_annotations": str(output), "train_split": None}
    sources = {
        "input": checksums["train_annotations"],
        "split": checksums.get("train_split"),
    }
    if output.exists() and _derived_from(output) == sources:
        return overrides
    annotations = read_annotations(
        source, base.format, on_invalid=base.on_invalid, split=base.train_split
    )
    derive_annotations(  # the same bytes whichever command line made it first
        annotations,
        output,
        command="bench",
        seed=spec.seed,
        noise=NoiseConfig(eta=spec.eta, protocol=protocol),
        fraction=spec.fraction,
        details={"split": base.train_split, "split_checksum": sources["split"]},
        overwrite=True,
        timestamp=False,
    )
    return overrides


def _derived_from(output: Path) -> dict[str, str | None] | None:
    """The source and split checksums that the manifest of a derived file records (None
    without a readable manifest: a file cut short before its manifest was written)."""
    try:
        manifest = json.loads(manifest_path(output).read_bytes())
        return {"input": manifest["input"]["checksum"], "split": manifest.get("split_checksum")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def spec_dir(spec: RunSpec) -> str:
    """A run's folder relative to the bench folder: ``runs/RUN_ID``."""
    return f"runs/{spec.run_id}"


def run_folder(out: Path, spec: RunSpec) -> Path:
    """Where a run's own folder goes: ``OUT/runs/RUN_ID``."""
    return out / spec_dir(spec)


def run_config(base: TrainConfig, spec: RunSpec, out: Path, data: dict[str, str | None]):
    """The ``TrainConfig`` of one run."""
    return dataclasses.replace(
        base,
        **data,
        loss=spec.loss,
        alpha=None,
        seed=spec.seed,
        out=str(run_folder(out, spec)),
    )


def check_bench_folder(base: TrainConfig, out: Path) -> None:
    """Refuse a bench folder that is, holds or lies inside the data (the built-in dataset
    that bench makes in ``OUT/data`` excepted), or that holds files noisybox did not write."""
    own = (out / "data").resolve()
    inputs = [base.train_annotations, base.val_annotations, base.images, base.val_images]
    inputs += [base.train_split, base.val_split, base.weights]
    given = [
        Path(p)
        for p in inputs
        if p and p != "imagenet" and not Path(p).resolve().is_relative_to(own)
    ]
    check_work_folder(out, given, "bench")


def finished_runs(out: Path, settings: dict) -> dict[str, dict]:
    """The records of these settings in ``out`` by run id; an error if ``out`` holds results
    of other settings (a report would compare runs that differ in more than the grid)."""
    if not (out / "results").is_dir():
        return {}
    records, _ = read_records(out)
    settings_id = fingerprint(settings)
    for record in records:
        if record["settings"] != settings_id:
            theirs = record.get("grid_settings", {})
            changed = [
                f"{key} {theirs.get(key)!r}, now {settings.get(key)!r}"
                for key in sorted(set(theirs) | set(settings))
                if key not in PATH_FIELDS and theirs.get(key) != settings.get(key)
            ]
            raise NoisyboxError(
                f"{out}: holds results made with other settings or data "
                f"({'; '.join(changed) or record['settings']}); choose another `out=FOLDER`"
            )
    return {r["run_id"]: r for r in records}


def run_grid(
    base: TrainConfig,
    runs: list[RunSpec],
    out: Path,
    shard: tuple[int, int] | None = None,
    on_event: Callable[[Event], None] | None = None,
    protocol: str = "alpha-iou",
    command_options: dict | None = None,
) -> list[dict]:
    """Train and evaluate every run of ``runs`` not finished yet; return the new records.

    ``command_options``, the resolved options of the ``bench`` command, are kept as
    ``OUT/config.toml`` once the folder is checked (a later call replaces them).

    ``base`` is a ``TrainConfig`` holding the data and the training settings; each run sets
    its loss and seed, and its training annotations for η > 0 or a fraction below 1.
    ``on_event`` receives the grid's events (:mod:`.events`) for a progress display.
    Under ``torchrun`` every process runs the grid and rank 0 alone writes.
    """
    from ..training.trainer import init_distributed

    rank, world = init_distributed(base.device)
    emit = on_event if on_event is not None and rank == 0 else (lambda event: None)
    check_bench_folder(base, out)
    if rank == 0:
        mark_folder(out, "bench")
        if command_options is not None:
            write_command_config(out, "bench", command_options)
    settings = settings_of(base, protocol)
    settings_id = fingerprint(settings)
    done = finished_runs(out, settings)
    todo = [spec for spec in runs if spec.run_id not in done]
    emit(GridPlanned(runs=len(runs), finished=len(runs) - len(todo)))
    store = results_file(out, shard)
    seconds_per_run: list[float] = []
    records = []
    for index, spec in enumerate(todo):
        started = time.perf_counter()
        run_dir = run_folder(out, spec)
        claimed, data = _claim(base, spec, out, settings) if rank == 0 else (False, None)
        if world > 1:  # the other processes follow rank 0: its data, its claim
            import torch.distributed

            shared = [(claimed, data) if rank == 0 else None]
            torch.distributed.broadcast_object_list(shared)
            claimed, data = shared[0]
        if not claimed:
            emit(GridLog(f"note: {spec.run_id} is done or running elsewhere"))
            continue
        try:
            result, config = _train(base, spec, out, data, index, todo, emit, seconds_per_run)
            seconds_per_run.append(time.perf_counter() - started)
            if rank == 0:  # recorded before the lock goes: no other process retrains it
                seconds = seconds_per_run[-1]
                record = _record(spec, config, settings, settings_id, result, out, seconds)
                append_record(store, record)
                records.append(record)
                emit(RunDone(index, len(todo), record))
        finally:
            if rank == 0:
                release(run_dir)
    return records


def _claim(base: TrainConfig, spec: RunSpec, out: Path, settings: dict) -> tuple[bool, dict | None]:
    """Take a run for this process (rank 0): its lock, unless another process holds it or
    finished it meanwhile; then its training data and a clean folder. ``(claimed, data)``."""
    run_dir = run_folder(out, spec)
    if not acquire(run_dir):
        return False, None
    if spec.run_id in finished_runs(out, settings):  # finished by another process
        release(run_dir)
        return False, None
    protocol = settings.get("protocol", "alpha-iou")
    data = derive_training_data(base, spec, out / "data", settings["checksums"], protocol)
    if run_dir.exists() and not RunFolder(run_dir).resumable:
        shutil.rmtree(run_dir)  # cut short before its first checkpoint: start over
    return True, data


def _train(base, spec, out, data, index, todo, emit, seconds_per_run):
    """Train and evaluate one claimed run; its result and ``TrainConfig``."""
    from ..training.trainer import train_and_evaluate

    run_dir = run_folder(out, spec)
    resume = RunFolder(run_dir).resumable
    config = run_config(base, spec, out, data)
    emit(RunStarted(index, len(todo), spec.run_id))
    remaining = len(todo) - index - 1

    def on_step(record: dict) -> None:
        per_run = _mean(seconds_per_run) or (
            record["eta_s"] / max(1e-9, 1 - record["step"] / record["total"])
        )
        grid_eta = record["eta_s"] + remaining * per_run
        emit(RunStep(record["step"], record["total"], record["loss"], record["eta_s"], grid_eta))

    result = train_and_evaluate(
        config,
        resume=resume,
        log=lambda line: emit(GridLog(line)),
        on_step=on_step,
    )
    return result, config


def _record(spec, config, settings, settings_id, result, out, seconds) -> dict:
    import torch

    logged = [
        json.loads(line) for line in RunFolder(Path(config.out)).metrics.read_text().splitlines()
    ]
    last = logged[-1] if logged else {}
    return {
        "run_id": spec.run_id,
        "settings": settings_id,
        "fraction": spec.fraction,
        "eta": spec.eta,
        "seed": spec.seed,
        "loss": spec.loss,
        "alpha": loss_alpha(spec.loss),
        "metrics": result["metrics"],
        "matches": result["matches"],
        "ground_truths": result["ground_truths"],
        "detections": result["detections"],
        "ignored_boxes": result.get("ignored_boxes"),
        "per_class": result.get("per_class"),
        "warnings": result.get("warnings", []),
        "diagnostics": {
            "positive_iou": summarize_positive_iou(logged),
            "matched_iou": result.get("matched_iou"),
        },
        "steps": last.get("step"),
        "images_per_s": last.get("images_per_s"),
        "processes": last.get("processes"),
        "train_s": round(result["seconds"]["train"], 2),
        "setup_s": round(result["seconds"]["setup"], 2),
        "eval_s": round(result["seconds"]["evaluate"], 2),
        "run_s": round(seconds, 2),
        "run_dir": str(Path(config.out).relative_to(out)),
        "train_annotations": relative_paths(config.to_json(), out)["train_annotations"],
        "config": {**relative_paths(config.to_json(), out), "out": spec_dir(spec)},
        "grid_settings": settings,
        "device": _device_name(config.device),
        "torch": torch.__version__,
        "noisybox": __version__,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _device_name(device: str) -> str:
    """The GPU's name, or the CPU's model and core count."""
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return f"{model} ({os.cpu_count()} cores)"


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def make_builtin_dataset(data_dir: Path, preset, dry_run: bool = False) -> dict[str, str]:
    """The built-in shapes dataset of ``preset`` in ``data_dir/shapes`` (made once, seed 0;
    not made by a dry run); the data settings that point at it."""
    from ..shapes import ShapesConfig, make_shapes_dataset
    from ..training.trainer import data_from_folder

    folder = data_dir / "shapes"
    check_work_folder(data_dir.parent, [], "bench")
    if not folder.exists() and not dry_run:
        mark_folder(data_dir.parent, "bench")
        config = ShapesConfig.for_size(preset.shapes_images, preset.shapes_size)
        make_shapes_dataset(folder, config, seed=0)
    if not folder.exists():
        return {
            "train_annotations": str(folder / "annotations" / "train.json"),
            "val_annotations": str(folder / "annotations" / "val.json"),
            "images": str(folder / "images"),
        }
    return data_from_folder(folder)


@dataclass(frozen=True)
class PlanCost:
    """What is left of a grid and roughly how long it takes.

    Attributes:
        finished_ids: the run ids finished in the bench folder with these settings.
        finished, todo: how many of the planned runs are finished, and left.
        device: where the runs train.
        seconds_per_run: the estimate, and ``basis``: how it was made.
        finished_records: the records of the finished runs.
    """

    finished_ids: frozenset[str]
    finished: int
    todo: int
    device: str
    seconds_per_run: float
    basis: str
    finished_records: tuple[dict, ...] = ()


def plan_cost(
    base: TrainConfig, runs: list[RunSpec], out: Path, protocol: str = "alpha-iou"
) -> PlanCost:
    """What is left of ``runs`` in ``out`` and roughly how long it takes.

    The time per run is the mean of the runs finished in ``out`` with these settings where
    there are some; otherwise three training steps of the model are timed on random images
    and multiplied by the steps of a run, plus 15% for data loading and evaluation.
    """
    from ..shapes import CLASSES
    from ..training.trainer import select_device, time_training_steps

    have_data = Path(base.train_annotations).exists()
    finished = finished_runs(out, settings_of(base, protocol)) if have_data else {}
    timed = [record["run_s"] for record in finished.values()]
    counts = {
        "finished_ids": frozenset(finished),
        "finished": sum(spec.run_id in finished for spec in runs),
        "todo": sum(spec.run_id not in finished for spec in runs),
        "device": str(select_device(base.device)),
        "finished_records": tuple(finished.values()),
    }
    if timed:
        return PlanCost(**counts, seconds_per_run=_mean(timed), basis=f"mean of {len(timed)} runs")
    val_path = Path(base.val_annotations)
    if val_path.exists():
        val = read_annotations(
            val_path, base.format, on_invalid=base.on_invalid, split=base.val_split
        )
        num_classes = len(val.categories)
    else:
        num_classes = len(CLASSES)
    count = 1000  # the built-in dataset's size when it is not made yet (a dry run)
    if base.max_steps is None and have_data:
        count = read_annotations(
            base.train_annotations,
            base.format,
            on_invalid=base.on_invalid,
            split=base.train_split,
        )
        count = count.num_images
    steps = base.total_steps(count, int(os.environ.get("WORLD_SIZE", 1)))
    per_step = time_training_steps(dataclasses.replace(base, loss=runs[0].loss), num_classes)
    return PlanCost(
        **counts,
        seconds_per_run=steps * per_step * 1.15,
        basis=f"{per_step:.3f} s per step timed here, x {steps} steps, +15%",
    )
