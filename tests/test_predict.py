"""``noisybox predict``: a run's model on new images.

Reference: the run's own evaluation. Predicting on its validation images with no score
threshold gives the detections the run wrote in ``detections.json`` (same weights, same
transform, boxes mapped back to the image's pixels)."""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict

import pytest
from noisybox.cli import main

from noisybox.errors import NoisyboxError
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


def test_a_run_folder_missing_a_file_is_named_with_what_it_lacks(finished_run, tmp_path):
    import torch

    from noisybox.errors import NoisyboxError
    from noisybox.training.predict import load_run_model

    loaded = load_run_model(finished_run, device="cpu")
    assert loaded.device == torch.device("cpu") and next(loaded.model.parameters()).is_cpu
    assert not loaded.model.training
    assert load_run_model(finished_run).device == torch.device("cpu")  # "auto", no GPU here
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    for name, message in (
        ("ground_truth.json", "no ground_truth.json (the run has not finished)"),
        ("checkpoints/last.pt", "no checkpoints/last.pt (not a run folder of noisybox train)"),
        ("config.json", "no config.json (not a run folder of noisybox train)"),
    ):
        (run / name).unlink()
        with pytest.raises(NoisyboxError) as raised:
            load_run_model(run)
        assert str(raised.value) == f"{run}: {message}"


def test_detections_are_drawn_as_boxes_with_their_class_and_score():
    """Reference: the box outline in red (JPEG blurs a 1-px line's colour), its inside
    untouched, and above it a red label with the class name (its id where it has none) and
    the score in white, as PIL draws that text."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    from noisybox.training.predict import draw_detections

    def drawn(width, detections, names):
        pixels = np.zeros((200, width, 3), np.uint8)
        drawn = Image.open(io.BytesIO(draw_detections(pixels, detections, names)))
        return np.asarray(drawn).astype(int)  # no uint8 wrap-around in the comparisons

    found = {"bbox": [50, 80, 100, 60], "category_id": 1, "score": 0.5}
    image = drawn(300, [found], {1: "cat"})
    assert image.shape == (200, 300, 3)
    red = lambda y, x: image[y, x, 0] > 130 and image[y, x, 0] > image[y, x, 1] + 50  # noqa: E731
    assert all(red(y, x) for y, x in ((80, 100), (140, 100), (110, 50), (110, 150)))
    assert image[110, 100].max() < 40 and image[84, 100].max() < 40  # inside: 1 px lines
    for label, names in (("cat 0.50", {1: "cat"}), ("1 0.50", {})):
        image = drawn(300, [found], names)
        left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox(
            (50, 80), label
        )
        reference = Image.new("L", (right - left, bottom - top))
        ImageDraw.Draw(reference).text((50 - left, 0), label, fill=255)
        band = image[top - (bottom - top) : top, left:right]
        white = (band.min(axis=2) > 150).astype(float)
        assert band[..., 0].mean() > 200  # the label's background is red, its height only
        assert image[: top - (bottom - top) - 2, left:right].max() < 60
        expected = (np.asarray(reference) > 128).astype(float)
        assert np.corrcoef(white.ravel(), expected.ravel())[0, 1] > 0.8, label
    thick = drawn(900, [dict(found, score=0.25)], {1: "cat"})  # lines of 900 / 300 = 3 px
    assert thick[82, 100, 0] > 180 and thick[83, 100, 0] < 100 and thick[79, 100, 0] < 100


class _Payload:
    """What a malicious checkpoint may hold: unpickling it would run ``os.system``."""

    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("payload", "it holds objects other than tensors (refused: loading them could run code)"),
        (b"hello", "not a file torch.save wrote"),
        ("cut", "not a file torch.save wrote"),
        (b"", "not a file torch.save wrote"),
        ([1, 2], "it holds a list, not a dict of tensors"),
    ],
)
def test_a_checkpoint_that_is_not_plain_tensors_is_one_line_and_never_run(
    finished_run, shapes, tmp_path, capsys, monkeypatch, content, reason
):
    """``predict --run`` and ``train --weights`` read saved weights with
    ``torch.load(weights_only=True)``: a pickle's code is refused, never run."""
    import torch

    from noisybox.training.trainer import Trainer

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    checkpoint = run / "checkpoints" / "last.pt"
    state = torch.load(checkpoint, weights_only=True)
    if content == "payload":
        torch.save({**state, "extra": _Payload()}, checkpoint)
    elif content == "cut":
        checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    elif isinstance(content, bytes):
        checkpoint.write_bytes(content)
    else:
        torch.save(content, checkpoint)
    monkeypatch.chdir(tmp_path)
    code = main(["predict", str(shapes / "images"), "--run", str(run), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{checkpoint}: cannot be read as weights: {reason}" in err
    if reason == "not a file torch.save wrote":  # and which of torch's errors said so
        assert re.search(r"wrote \((?!NoneType)[A-Za-z]+Error\)$", err.strip())
    with pytest.raises(NoisyboxError, match=f"{checkpoint}: cannot be read as weights: "):
        Trainer(toy_config(shapes, tmp_path / "new", weights=str(checkpoint)), log=print)
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "o").exists()


def test_the_images_to_predict_are_listed_as_documented(tmp_path, shapes):
    from noisybox.training.predict import list_images

    source = next((shapes / "images").iterdir())
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("b.PNG", "a.jpg", "notes.txt"):
        shutil.copy(source, folder / name)
    (folder / "c.png").mkdir()  # a folder, not an image
    assert list_images(folder) == [folder / "a.jpg", folder / "b.PNG"]
    assert list_images(folder / "b.PNG") == [folder / "b.PNG"]
    shutil.copy(source, folder / "a.png")
    with pytest.raises(NoisyboxError) as raised:
        list_images(folder)
    assert str(raised.value) == f"{folder}: two images are called 'a' (drawn as a.jpg)"
    (folder / "a.png").unlink()
    (folder / "d.png").symlink_to(source)  # outside the folder
    with pytest.raises(NoisyboxError) as raised:
        list_images(folder)
    assert str(raised.value) == f"{folder / 'd.png'}: leads outside {folder} (a link); not followed"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoisyboxError) as raised:
        list_images(empty)
    from noisybox.images import IMAGE_SUFFIXES

    assert str(raised.value) == f"{empty}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"
    with pytest.raises(NoisyboxError, match="no such image file or folder"):
        list_images(tmp_path / "none")


def test_predict_folder_defaults_draw_and_keep_scores_from_a_quarter(finished_run, shapes):
    from noisybox.training.predict import predict_folder

    image = sorted((shapes / "images").iterdir())[0]
    calls = []
    output = predict_folder(finished_run, [image], on_image=calls.append)
    assert sorted(output) == ["images/" + image.stem + ".jpg", "predictions.json"]
    assert calls == [1]
    document = json.loads(output["predictions.json"])
    assert all(record["score"] >= 0.25 for record in document["annotations"])
    everything = json.loads(predict_folder(finished_run, [image], score=0, draw=False)
                            ["predictions.json"])  # fmt: skip
    assert len(everything["annotations"]) >= len(document["annotations"])
    assert {r["score"] for r in everything["annotations"]} >= {
        r["score"] for r in document["annotations"]
    }
    assert predict_folder(finished_run, [image], score=1.0, draw=False)  # 1 is allowed
    with pytest.raises(NoisyboxError, match=r"^score must be in \[0, 1\]; got 1.5") as raised:
        predict_folder(finished_run, [image], score=1.5)
    assert raised.value.parameter == "score"


def test_predictions_are_a_coco_file_noisybox_reads(finished_run, shapes, tmp_path):
    """Images numbered from 1 with their pixel sizes, detections numbered from 1 with
    ``area`` w·h and ``iscrowd`` 0, the run's categories: a COCO file that reads back."""
    from PIL import Image

    from noisybox.formats import read_annotations
    from noisybox.training.predict import predict_folder

    images = sorted((shapes / "images").iterdir())[:2]
    output = predict_folder(finished_run, images, score=0, draw=False, device="cpu")
    document = json.loads(output["predictions.json"])
    sizes = [Image.open(path).size for path in images]
    assert document["images"] == [
        {"id": i, "file_name": path.name, "width": w, "height": h}
        for i, (path, (w, h)) in enumerate(zip(images, sizes, strict=True), start=1)
    ]
    records = document["annotations"]
    assert [r["id"] for r in records] == list(range(1, len(records) + 1)) and records
    assert {r["image_id"] for r in records} <= {1, 2} and {r["iscrowd"] for r in records} == {0}
    for record in records:
        assert record["area"] == pytest.approx(record["bbox"][2] * record["bbox"][3])
    path = tmp_path / "predictions.json"
    path.write_bytes(output["predictions.json"])
    assert len(read_annotations(path, on_invalid="skip")) > 0
