"""The layers hold: settings, the grid, the store and the reports import no torch."""

import subprocess
import sys

import pytest


def test_settings_grid_store_and_reports_import_no_torch():
    modules = [
        "noisybox.config",
        "noisybox.benchmark.grid",
        "noisybox.benchmark.store",
        "noisybox.benchmark.runner",
        "noisybox.report.tables",
        "noisybox.report.plots",
        "noisybox.compare",
        "noisybox.derive",
    ]
    code = f"import sys; import {', '.join(modules)}; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stdout + done.stderr


def test_train_and_bench_share_every_run_option_declared_once():
    """One entry of cli.options.RUN_OPTIONS gives both commands the flag, which sets the
    TrainConfig field of that name; bench leaves the preset's settings as None."""
    import dataclasses
    import inspect

    from noisybox.cli.benchmark import bench
    from noisybox.cli.options import BENCH_DECIDES, RUN_OPTIONS
    from noisybox.cli.training import train

    from noisybox.config import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for command, name in ((train, "train"), (bench, "bench")):
        parameters = inspect.signature(command).parameters
        for option in RUN_OPTIONS:
            assert option.field in fields
            default = parameters[option.name].default
            if name == "bench" and option.bench_default is BENCH_DECIDES:
                assert default is None, option.name
            else:
                assert default == option.default, option.name


def test_one_real_option_walkthrough_penalty_form(tmp_path, shapes):
    """--penalty-form: a TrainConfig field, one shared CLI option and the loss builder. It
    reaches the run's loss, and at its default leaves bench fingerprints as they were."""
    from noisybox.cli import main

    from noisybox.benchmark.runner import fingerprint, settings_of
    from noisybox.losses.modules import AlphaIoULoss
    from noisybox.training.trainer import build_box_loss

    from .datasets import toy_config

    config = toy_config(shapes, tmp_path, loss="alpha-diou", penalty_form="official")
    official = build_box_loss(config)
    assert isinstance(official, AlphaIoULoss)
    assert official.recipe.options.penalty_form == "official"
    default = toy_config(shapes, tmp_path)
    assert "penalty_form" not in settings_of(default)
    changed = settings_of(toy_config(shapes, tmp_path, penalty_form="official"))
    assert fingerprint(changed) != fingerprint(settings_of(default))
    assert main(["train", "--data", str(shapes), "--penalty-form", "nope", "--max-steps", "1",
                 "--out", str(tmp_path / "r"), "--device", "cpu"]) == 2  # fmt: skip


def test_every_option_of_train_and_bench_keeps_its_help_and_checks():
    """The shared-options decorator rebuilds the commands' signatures: each option must keep
    its typer.Option (help text, limits such as --checkpoint-every >= 1)."""
    import typer.main
    from noisybox.cli import app

    group = typer.main.get_command(app)
    for name in ("train", "bench"):
        missing = [p.name for p in group.commands[name].params if p.name != "help" and not p.help]
        assert not missing, (name, missing)


def test_option_limits_still_apply(tmp_path, capsys):
    from noisybox.cli import main

    assert main(["train", "--checkpoint-every", "0", "--out", str(tmp_path / "r")]) == 2
    assert "checkpoint-every" in capsys.readouterr().err


def test_one_real_option_walkthrough_max_grad_norm(tmp_path, shapes, capsys):
    """--max-grad-norm, added as ARCHITECTURE.md says (a TrainConfig field, one RunOption,
    the step that uses it): both commands take it, the step clips to it (0: not at all),
    a negative one is refused by its flag, and at its default bench fingerprints and runs
    are what they were (10 was the fixed norm before)."""
    import json

    import torch
    from noisybox.cli import main

    from noisybox.benchmark.runner import fingerprint, settings_of
    from noisybox.training.models import build_detector
    from noisybox.training.trainer import build_box_loss, build_optimizer, train_step

    from .datasets import toy_config

    default = toy_config(shapes, tmp_path)
    assert default.max_grad_norm == 10.0 and "max_grad_norm" not in settings_of(default)
    changed = settings_of(toy_config(shapes, tmp_path, max_grad_norm=1.0))
    assert fingerprint(changed) != fingerprint(settings_of(default))
    norms = {}
    for limit in (0.0, 1e-3):
        config = toy_config(shapes, tmp_path, loss="giou", max_grad_norm=limit)
        torch.manual_seed(0)
        model = build_detector("fcos", "tiny", 2, 64, build_box_loss(config)).train()
        images = [torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))]
        targets = [{"boxes": torch.tensor([[4.0, 6.0, 40.0, 50.0]]), "labels": torch.tensor([1])}]
        optimizer = build_optimizer(model, config)
        scaler = torch.amp.GradScaler(enabled=False)
        train_step(model, optimizer, scaler, images, targets, torch.device("cpu"), None,
                   config.max_grad_norm)  # fmt: skip
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        norms[limit] = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
    assert norms[0.0] > 1e-2 and norms[1e-3] == pytest.approx(1e-3, rel=1e-4)
    out = tmp_path / "run"
    args = ["train", "--data", str(shapes), "--max-steps", "1", "--device", "cpu",
            "--img-size", "48", "--out", str(out)]  # fmt: skip
    assert main([*args, "--max-grad-norm", "0"]) == 0
    assert json.loads((out / "config.json").read_text())["max_grad_norm"] == 0.0
    capsys.readouterr()
    assert main([*args, "--max-grad-norm", "-1", "--out", str(tmp_path / "neg")]) == 2
    assert (
        "error: --max-grad-norm must be >= 0 (0: no clipping); got -1.0" in capsys.readouterr().err
    )
    assert not (tmp_path / "neg").exists()  # refused before anything is read or written
    assert main(["bench", "--data", str(shapes), "--out", str(tmp_path / "b"), "--max-grad-norm",
                 "5", "--max-steps", "1", "--dry-run", "--device", "cpu"]) == 0  # fmt: skip
