"""The options ``train`` and ``bench`` share, declared once: one :class:`RunOption` per
:class:`~noisybox.config.TrainConfig` setting, added to both commands by :func:`run_options`.

Adding a training option is one entry here (flag, help, default of ``train``; ``bench``'s
default is ``None`` where bench fills the setting in), one field of ``TrainConfig`` and the
code that uses it.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

#: a ``bench`` default: bench fills the setting in (from its preset; workers from the device)
BENCH_DECIDES = object()


@dataclass(frozen=True)
class RunOption:
    """One shared option.

    Attributes:
        field: the ``TrainConfig`` field it sets (the command parameter has this name, or
            ``parameter`` where the flag differs).
        kind: the Python type of the value (without ``None``).
        option: the ``typer.Option`` (flag and help).
        default: ``train``'s default.
        bench_default: ``bench``'s default: the same, or :data:`BENCH_DECIDES`.
        parameter: the command parameter's name where it is not ``field`` (``img_size``).
    """

    field: str
    kind: Any
    option: Any
    default: Any
    bench_default: Any = None
    parameter: str | None = None

    @property
    def name(self) -> str:
        return self.parameter or self.field

    def signature_parameter(self, command: str) -> inspect.Parameter:
        """The keyword parameter of ``command`` (``train`` or ``bench``) for this option."""
        from_preset = command == "bench" and self.bench_default is BENCH_DECIDES
        default = self.default if command == "train" or self.bench_default is None else (
            None if from_preset else self.bench_default
        )  # fmt: skip
        optional = from_preset or default is None
        annotation = Annotated[(self.kind | None) if optional else self.kind, self.option]
        return inspect.Parameter(
            self.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )


def _option(help: str, *flags: str, **kwargs: Any) -> Any:
    return typer.Option(*flags, help=help, **kwargs)


#: every setting ``train`` and ``bench`` share, in ``--help`` order
RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("format", str, _option("coco, voc or yolo (default: detected)."), None),
    RunOption("model", str, _option("fcos, retinanet or faster-rcnn."), "fcos", BENCH_DECIDES),
    RunOption(
        "backbone",
        str,
        _option("tiny, resnet18/34/50 or mobilenet_v3."),
        "tiny",
        BENCH_DECIDES,
    ),
    RunOption(
        "image_size",
        int,
        _option("Square input side, pixels."),
        128,
        BENCH_DECIDES,
        parameter="img_size",
    ),
    RunOption("epochs", int, _option("Passes over the training images."), None, BENCH_DECIDES),
    RunOption(
        "max_steps", int, _option("Optimizer steps (instead of --epochs)."), None, BENCH_DECIDES
    ),
    RunOption("batch_size", int, _option("Images per step (per process)."), 8, BENCH_DECIDES),
    RunOption(
        "lr", float, _option("Peak learning rate (AdamW, warm-up, cosine)."), 2e-3, BENCH_DECIDES
    ),
    RunOption("device", str, _option("auto, cuda or cpu."), "auto"),
    RunOption(
        "amp",
        bool,
        _option(
            "Mixed precision, bf16 where supported (default: on for CUDA, off for the CPU).",
            "--amp/--no-amp",
        ),
        None,
    ),
    RunOption(
        "workers",
        int,
        _option("Data-loading processes (bench default: up to 8 on a GPU, none on the CPU)."),
        0,
        BENCH_DECIDES,
    ),
    RunOption("augment", bool, _option("Flip, scale and colour jitter."), True),
    RunOption(
        "weights",
        Path,
        _option("A local checkpoint, or 'imagenet' (backbone, from torchvision's cache)."),
        None,
    ),
    RunOption("deterministic", bool, _option("Deterministic kernels only."), False),
    RunOption("compile_loss", bool, _option("torch.compile the box loss."), False),
    RunOption(
        "alpha_warmup",
        int,
        _option(
            "Raise α linearly from 1 to the loss's α over the first STEPS steps (0: off).",
            metavar="STEPS",
        ),
        0,
    ),
    RunOption(
        "max_grad_norm",
        float,
        _option("Clip the gradients to this norm at every step (0: no clipping).", metavar="NORM"),
        10.0,
    ),
    RunOption(
        "penalty_form",
        str,
        _option(
            "How DIoU/CIoU/EIoU losses raise their distance term to α: paper, (ρ²/c²)^α, or "
            "official, the α-IoU code's (ρx^2α + ρy^2α)/(cw^2α + ch^2α)."
        ),
        "paper",
    ),
    RunOption(
        "on_invalid",
        str,
        _option(
            "Unreadable images and invalid annotation records: error (stop before training, "
            "naming them) or skip (leave them out).",
            "--on-invalid",
        ),
        "error",
    ),
)


@dataclass(frozen=True)
class DataSource:
    """Where a run's data is: ``--data`` (a dataset folder) and the explicit paths that
    override it (``--train-ann``, ``--val-ann``, ``--images``, ``--val-images``)."""

    data: Path | None = None
    train_ann: Path | None = None
    val_ann: Path | None = None
    images: Path | None = None
    val_images: Path | None = None

    @property
    def given(self) -> bool:
        return self.data is not None or self.train_ann is not None

    def paths(self) -> dict[str, str]:
        """``TrainConfig``'s data fields."""
        from noisybox.errors import NoisyboxError
        from noisybox.training.trainer import data_from_folder

        paths = data_from_folder(self.data) if self.data else {}
        explicit = {
            "train_annotations": self.train_ann,
            "val_annotations": self.val_ann,
            "images": self.images,
            "val_images": self.val_images,
        }
        paths.update({name: str(path) for name, path in explicit.items() if path})
        if {"train_annotations", "val_annotations", "images"} - paths.keys():
            raise NoisyboxError("give --data, or --train-ann, --val-ann and --images")
        return paths

    def check_out_beside(self, out: Path) -> None:
        """An ``--out`` folder never goes inside the ``--data`` folder (an input)."""
        from noisybox.outputs import Output, check_outputs

        if self.data is not None:
            check_outputs([Output(out, folder=True)], [self.data], overwrite=True, replace=False)


def _path_option(help: str) -> Any:
    return Annotated[Path | None, typer.Option(help=help)]


#: the options that say where the data is, as ``DataSource`` fields
DATA_OPTIONS = tuple(
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
    for name, annotation in (
        (
            "data",
            _path_option(
                "A dataset folder: from make-dataset, a VOC year, a YOLO dataset, or images/ + "
                "annotations/ + splits/{train,val}.txt."
            ),
        ),
        ("train_ann", _path_option("Training annotations (e.g. noisy).")),
        ("val_ann", _path_option("Clean validation annotations.")),
        ("images", _path_option("Image folder.")),
        ("val_images", _path_option("Validation image folder.")),
    )
)


def _load_config(ctx: typer.Context, value: Path | None) -> Path | None:
    """``--config FILE``: its values become the command's defaults, so flags still win."""
    if value is None:
        return None
    from noisybox.command_config import read_command_config

    known = {param.name for param in ctx.command.params if param.name} - {"config"}
    values = read_command_config(value, str(ctx.info_name), known)
    ctx.default_map = {**(ctx.default_map or {}), **values}
    return value


CONFIG_OPTION = inspect.Parameter(
    "config",
    inspect.Parameter.KEYWORD_ONLY,
    default=None,
    annotation=Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A TOML file of this command's options, keys as Python names (img_size = 96, "
            "eta = [0, 0.3]); flags given here win. OUT/config.toml of an earlier run repeats it.",
            is_eager=True,
            callback=_load_config,
        ),
    ],
)


def command_options() -> dict[str, Any]:
    """The running command's options, resolved (``--config`` file, flags, defaults), as
    ``config.toml`` keeps them."""
    try:  # typer 0.2x carries its own copy of click
        from typer._click.globals import get_current_context
    except ImportError:  # older typer runs on click itself
        from click import get_current_context

    from noisybox.command_config import resolved_options

    context = get_current_context()
    order = [param.name for param in context.command.params]  # as in --help
    params = context.params
    return resolved_options({name: params[name] for name in order if name in params})


def run_options(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add ``--config``, :data:`DATA_OPTIONS` and :data:`RUN_OPTIONS` to a command
    (``"train"`` or ``"bench"``) as keyword options; the command receives the data options as
    ``source``, a :class:`DataSource`, and the run options as one dict, ``run``:
    ``TrainConfig`` field -> value (``None`` for a ``bench`` setting left to the preset)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(function, include_extras=True)  # keep typer.Option
        own = [
            p.replace(
                annotation=hints.get(p.name, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY
            )
            for p in inspect.signature(function).parameters.values()
            if p.name not in ("run", "source")
        ]
        shared = [option.signature_parameter(command) for option in RUN_OPTIONS]

        @functools.wraps(function)
        def command_function(**kwargs: Any) -> Any:
            kwargs.pop("config")  # already applied, as defaults
            source = DataSource(**{p.name: kwargs.pop(p.name) for p in DATA_OPTIONS})
            run = {option.field: kwargs.pop(option.name) for option in RUN_OPTIONS}
            if run["weights"] is not None:
                run["weights"] = str(run["weights"])
            return function(**kwargs, run=run, source=source)

        parameters = [CONFIG_OPTION, *DATA_OPTIONS, *own, *shared]
        command_function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        return command_function

    return decorate
