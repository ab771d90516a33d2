"""``--config FILE.toml`` for train and bench: file values as defaults, flags win, unknown
keys refused naming the file and the key, and the resolved options kept in each folder so a
run repeats from them bit-identically."""

import tomllib

import pytest
import torch
from noisybox.cli import main

from noisybox.benchmark.store import read_records

TOY = ["--device", "cpu", "--img-size", "48", "--batch-size", "4", "--max-steps", "2"]


def test_train_takes_its_options_from_a_file_and_flags_win(tmp_path, shapes):
    config = tmp_path / "run.toml"
    config.write_text('loss = "alpha-iou"\nseed = 3\nimg_size = 32\nmax_steps = 2\n')
    first = tmp_path / "first"
    args = ["train", "--config", str(config), "--data", str(shapes), "--out", str(first)]
    assert main([*args, "--img-size", "48", "--device", "cpu", "--batch-size", "4"]) == 0
    resolved = tomllib.loads((first / "config.toml").read_text())
    assert resolved["loss"] == "alpha-iou" and resolved["seed"] == 3  # from the file
    assert resolved["img_size"] == 48  # the flag won
    assert "config" not in resolved and "resume" not in resolved
    again = tmp_path / "again"
    assert main(["train", "--config", str(first / "config.toml"), "--out", str(again)]) == 0
    weights = [
        torch.load(d / "checkpoints/last.pt", weights_only=True)["model"] for d in (first, again)
    ]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_bench_repeats_a_study_from_its_resolved_config(tmp_path, shapes):
    out = tmp_path / "bench"
    args = ["bench", "--data", str(shapes), "--out", str(out), *TOY, "--loss", "iou"]
    assert main([*args, "--eta", "0.2", "--seed", "1"]) == 0
    resolved = tomllib.loads((out / "config.toml").read_text())
    assert resolved["loss"] == ["iou"] and resolved["eta"] == [0.2] and resolved["seed"] == [1]
    repeat = tmp_path / "repeat"
    assert main(["bench", "--config", str(out / "config.toml"), "--out", str(repeat)]) == 0
    first, second = (read_records(folder)[0] for folder in (out, repeat))
    assert [r["metrics"] for r in first] == [r["metrics"] for r in second]
    # two steps learn little (mAP 0): the positives' IoU after them tells the runs apart
    assert first[0]["diagnostics"] == second[0]["diagnostics"]
    assert first[0]["diagnostics"]["positive_iou"]["p50"] > 0
    assert first[0]["grid_settings"] == second[0]["grid_settings"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("img_sise = 48\n", "unknown key 'img_sise' for noisybox train"),
        ("img_size = \n", "not a TOML file"),
        ("[model]\nname = 'fcos'\n", "key 'model' holds a table"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_it_and_writes_nothing(
    tmp_path, shapes, capsys, text, message
):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--data", str(shapes), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and str(config) in err and len(err.splitlines()) == 1
    assert not out.exists()
