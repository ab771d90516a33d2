"""``noisybox predict``: a run's model on new images.

Reference: the run's own evaluation. Predicting on its validation images with no score
threshold gives the detections the run wrote in ``detections.json`` (same weights, same
transform, boxes mapped back to the image's pixels)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import pytest
from noisybox.cli import main

from noisybox.training.trainer import train_and_evaluate

from .datasets import digest, toy_config


@pytest.fixture(scope="module")
def finished_run(shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "run"
    train_and_evaluate(toy_config(shapes, out, max_steps=4), log=lambda _: None)
    return out


def test_predict_gives_the_runs_own_detections(finished_run, shapes, tmp_path, capsys):
    val = json.loads((shapes / "annotations/val.json").read_text())
    chosen = val["images"][:3]
    images = tmp_path / "new"
    images.mkdir()
    for image in chosen:
        shutil.copy(shapes / "images" / image["file_name"], images / image["file_name"])
    out = tmp_path / "pred"
    code = main(["predict", str(images), "--run", str(finished_run), "-o", str(out),
                 "--score", "0"])  # fmt: skip
    assert code == 0 and "detections" in capsys.readouterr().out
    predicted = json.loads((out / "predictions.json").read_text())
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(
        image["file_name"].rsplit(".", 1)[0] + ".jpg" for image in chosen
    )
    name_of = {image["id"]: image["file_name"] for image in predicted["images"]}
    ours = defaultdict(list)
    for record in predicted["annotations"]:
        ours[name_of[record["image_id"]]].append(record)
    theirs = defaultdict(list)
    file_of = {image["id"]: image["file_name"] for image in chosen}
    for record in json.loads((finished_run / "detections.json").read_text()):
        if record["image_id"] in file_of:
            theirs[file_of[record["image_id"]]].append(record)
    assert sum(len(v) for v in theirs.values()) > 0
    for name in file_of.values():
        mine = sorted(ours[name], key=lambda r: -r["score"])
        run = sorted(theirs[name], key=lambda r: -r["score"])
        assert len(mine) == len(run)
        for a, b in zip(mine, run, strict=True):
            assert a["category_id"] == b["category_id"]
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)
            assert a["bbox"] == pytest.approx(b["bbox"], abs=1e-3)
    assert (
        predicted["categories"]
        == json.loads((finished_run / "ground_truth.json").read_text())["categories"]
    )


def test_predict_refuses_bad_input_and_writes_nothing(finished_run, shapes, tmp_path, capsys):
    (tmp_path / "not-a-run").mkdir()
    before = digest(tmp_path)
    cases = [
        (["predict", str(tmp_path / "none"), "--run", str(finished_run), "-o", str(tmp_path / "o")],
         "no such image"),
        (["predict", str(shapes / "images"), "--run", str(tmp_path / "not-a-run"), "-o",
          str(tmp_path / "o")],
         "config.json"),
        (["predict", str(finished_run / "config.json"), "--run", str(finished_run), "-o",
          str(tmp_path / "o"), "--score", "2"], "--score"),
    ]  # fmt: skip
    for args, message in cases:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert digest(tmp_path) == before
