"""``noisybox.api``: the command line's main jobs as functions returning typed results,
equal to what the commands write."""

import json

import pandas as pd
import pytest
from noisybox.cli import main

from noisybox import api
from noisybox.errors import NoisyboxError


def test_corrupt_writes_what_the_command_writes(tmp_path, shapes):
    source = shapes / "annotations" / "train.json"
    report = api.corrupt(source, tmp_path / "api.json", eta=0.2, seed=3)
    assert (
        main(
            [
                "corrupt",
                str(source),
                "--eta",
                "0.2",
                "--seed",
                "3",
                "-o",
                str(tmp_path / "cli.json"),
            ]
        )
        == 0
    )
    assert (tmp_path / "api.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    manifest = json.loads((tmp_path / "api.json.manifest.json").read_text())
    assert report.mean_iou == pytest.approx(manifest["report"]["mean_iou"])
    with pytest.raises(NoisyboxError, match="exists already"):
        api.corrupt(source, tmp_path / "api.json", eta=0.2)


def test_bench_and_report_return_frames(tmp_path, shapes):
    runs = api.bench(
        tmp_path / "b",
        losses=["iou", "alpha-iou"],
        etas=[0],
        seeds=[0],
        data=shapes,
        device="cpu",
        max_steps=2,
        image_size=48,
        batch_size=4,
    )
    assert isinstance(runs, pd.DataFrame) and sorted(runs["loss"]) == ["alpha-iou", "iou"]
    table = api.report(tmp_path / "b")
    assert list(table.values.index.get_level_values(2)) == ["iou", "alpha-iou", "alpha-iou vs iou"]
    assert table.values.loc[(1.0, 0.0, "iou"), "mAP"] == pytest.approx(
        runs.set_index("loss").loc["iou", "mAP"]
    )
    with pytest.raises(NoisyboxError, match="preset must be one of"):
        api.bench(tmp_path / "c", preset="huge", data=shapes)


def test_python_m_noisybox_runs_from_a_bare_source_checkout():
    """With no ``noisybox.cli`` importable (no install, only the checkout's folders),
    ``python -m noisybox`` loads the checkout's ``cli/`` and runs the command."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = f"""
import runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, {str(root)!r})
sys.argv = ["noisybox", "losses", "list"]
try:
    runpy.run_module("noisybox", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    print("exit", stop.code, sys.modules["noisybox.cli"].__file__)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    *_, last = done.stdout.strip().splitlines()
    assert last == f"exit 0 {root / 'cli' / '__init__.py'}"
    assert "alpha-iou" in done.stdout
