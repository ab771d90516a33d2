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
