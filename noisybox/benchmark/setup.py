"""What a ``bench`` call will run, resolved from its arguments: the preset (by device when
not named), the grid and its shard, the data (the built-in set when none is given) and the
shared training settings (flags over the preset's). ``noisybox bench`` and
:func:`noisybox.api.bench` both call :func:`plan_bench`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import TrainConfig
from ..errors import NoisyboxError
from .grid import RunSpec, expand_grid, parse_shard, select_shard
from .launch import shard_from_slurm
from .presets import PRESETS

#: settings a preset fills in when not given
PRESET_FIELDS = ("model", "backbone", "image_size", "batch_size", "lr")


@dataclass(frozen=True)
class BenchPlan:
    """A resolved grid.

    Attributes:
        preset: the preset's name.
        base: the settings every run shares (data paths, training settings, ``out``).
        runs: the whole grid; ``shard_runs`` the part this call runs (``shard``: K, N).
        protocol: the noise protocol of the noisy training sets.
    """

    preset: str
    base: TrainConfig
    runs: list[RunSpec]
    shard_runs: list[RunSpec]
    shard: tuple[int, int] | None
    protocol: str


def plan_bench(
    out: Path,
    *,
    losses: list[str] | None = None,
    etas: list[float] | None = None,
    fractions: list[float] | None = None,
    seeds: list[int] | None = None,
    preset: str | None = None,
    shard: str | None = None,
    data_paths: dict[str, str] | None = None,
    settings: dict | None = None,
    protocol: str = "alpha-iou",
    dry_run: bool = False,
    remote_gpus: bool = False,
) -> BenchPlan:
    """Resolve a grid: what is not given comes from the preset (``paper`` on a GPU, ``quick``
    otherwise). ``data_paths`` are ``TrainConfig``'s data fields (``None``: the built-in
    shapes data, made in ``OUT/data`` unless ``dry_run``); ``settings`` other ``TrainConfig``
    fields, each given value over the preset's, ``None`` left to it (``workers``: by
    device). ``remote_gpus``: the runs train on GPU machines elsewhere (a launcher's tasks),
    so the default preset and workers follow those, not this machine."""
    from ..noise.protocols import PROTOCOLS
    from ..training.trainer import select_device
    from .runner import make_builtin_dataset

    settings = dict(settings or {})
    gpu = remote_gpus or select_device(settings.get("device") or "auto").type == "cuda"
    if preset is None:
        preset = "paper" if gpu else "quick"
    if preset not in PRESETS:
        raise NoisyboxError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}", "preset")
    if protocol not in PROTOCOLS:
        raise NoisyboxError(
            f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}", "protocol"
        )
    chosen = PRESETS[preset]
    part = (shard_from_slurm() if shard == "auto" else parse_shard(shard)) if shard else None
    runs = expand_grid(
        losses or list(chosen.losses),
        etas if etas is not None else list(chosen.etas),
        fractions or list(chosen.fractions),
        seeds if seeds is not None else list(chosen.seeds),
    )
    if data_paths is None:
        data_paths = make_builtin_dataset(out / "data", chosen, dry_run=dry_run)
    given = {k: v for k, v in settings.items() if v is not None}
    merged = {
        **chosen.train,
        **{k: v for k, v in given.items() if k not in ("epochs", "max_steps")},
    }
    if "epochs" in given or "max_steps" in given:
        merged.update(epochs=given.get("epochs"), max_steps=given.get("max_steps"))
    if settings.get("workers") is None:  # a GPU needs loaders: up to 8 (another machine's: 8)
        cores = 8 if remote_gpus else os.cpu_count() or 1
        settings["workers"] = min(8, cores) if gpu else 0
    base = TrainConfig(**data_paths, **{**settings, **merged}, out=str(out))
    shard_runs = select_shard(runs, *part) if part else runs
    return BenchPlan(preset, base, runs, shard_runs, part, protocol)
