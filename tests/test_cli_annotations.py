"""``noisybox corrupt``, ``subsample``, ``inspect`` and ``show`` from the command line."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from noisybox.cli import main

from noisybox.formats import read_annotations

from .datasets import SHARED, coco_document, digest, write_coco, write_voc, write_yolo


def run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_corrupt_coco_end_to_end(tmp_path, capsys):
    source = write_coco(tmp_path / "train.json")
    code, out, _ = run(["corrupt", source, "--eta", "0.2", "--seed", "3"], capsys)
    assert code == 0
    output = tmp_path / "train.noisy-eta0.2-seed3.json"
    assert "mean IoU noisy vs clean" in out and "manifest" in out and output.is_file()
    noisy = read_annotations(output)
    clean = read_annotations(source)
    assert len(noisy) == len(clean) and (noisy.boxes != clean.boxes).any()
    manifest = json.loads((tmp_path / (output.name + ".manifest.json")).read_text())
    assert manifest["tool"] == "noisybox" and manifest["seed"] == 3
    assert manifest["noise"]["eta"] == 0.2 and manifest["format"] == "coco"
    assert (
        manifest["input"]["checksum"] == "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()
    )
    assert 0.5 < manifest["report"]["mean_iou"] < 0.9
    assert set(manifest["report"]["clamped"]) == {"width", "height", "x", "y"}


def test_reruns_are_byte_identical(tmp_path, capsys):
    source = write_voc(tmp_path / "Annotations")
    outputs = [tmp_path / "a", tmp_path / "b"]
    for output in outputs:
        assert (
            run(
                [
                    "corrupt",
                    source,
                    "--eta",
                    "0.3",
                    "--drop",
                    "0.2",
                    "--spurious",
                    "0.3",
                    "-o",
                    output,
                ],
                capsys,
            )[0]
            == 0
        )
    assert digest(outputs[0]) == digest(outputs[1])


@pytest.mark.parametrize("writer", [write_voc, write_yolo])
def test_corrupt_folders(tmp_path, capsys, writer):
    source = writer(tmp_path / "labels")
    before = digest(source)
    code, _, _ = run(
        ["corrupt", source, "--eta", "0.1", "--flip", "0.5", "-o", tmp_path / "n"], capsys
    )
    assert code == 0
    assert set(digest(tmp_path / "n")) == set(before)  # same files, classes.txt included
    assert digest(source) == before
    assert (tmp_path / "n.manifest.json").is_file()


def test_dry_run_writes_nothing(tmp_path, capsys):
    source = write_coco(tmp_path / "train.json")
    code, out, _ = run(["corrupt", source, "--eta", "0.2", "--dry-run"], capsys)
    assert code == 0 and "dry run" in out
    assert [p.name for p in tmp_path.iterdir()] == ["train.json"]


def test_output_rules(tmp_path, capsys):
    source = write_coco(tmp_path / "train.json")
    before = source.read_bytes()
    code, _, err = run(["corrupt", source, "--eta", "0.2", "-o", source], capsys)
    assert code == 2 and "must not be, contain or lie inside the input" in err
    existing = tmp_path / "noisy.json"
    existing.write_text("mine")
    code, _, err = run(["corrupt", source, "--eta", "0.2", "-o", existing], capsys)
    assert code == 2 and "exists already" in err and existing.read_text() == "mine"
    assert run(["corrupt", source, "--eta", "0.2", "-o", existing, "--overwrite"], capsys)[0] == 0
    assert read_annotations(existing).format == "coco"
    folder = write_voc(tmp_path / "Annotations")
    code, _, err = run(["corrupt", folder, "--eta", "0.2", "-o", folder / "inside"], capsys)
    assert code == 2 and "inside the input" in err
    assert source.read_bytes() == before
    code, _, err = run(["corrupt", source, "--box-fraction", "1.5"], capsys)
    assert code == 2 and "--box-fraction must be in [0, 1]" in err


def _bad_coco(tmp_path, edit):
    document = coco_document()
    edit(document)
    return write_coco(tmp_path / "bad.json", document)


BAD_COCO = {
    "missing bbox": (
        lambda d: d["annotations"][2].pop("bbox"),
        "annotation id 9014: bbox must be 4 numbers",
    ),
    "non-numeric bbox": (
        lambda d: d["annotations"][2].__setitem__("bbox", [1, "x", 3, 4]),
        "annotation id 9014: bbox must be 4 numbers",
    ),
    "short bbox": (
        lambda d: d["annotations"][2].__setitem__("bbox", [1, 2, 3]),
        "annotation id 9014: bbox must be 4 numbers",
    ),
    "NaN": (
        lambda d: d["annotations"][2].__setitem__("bbox", [1, float("nan"), 3, 4]),
        "annotation id 9014: box has a NaN",
    ),
    "zero width": (
        lambda d: d["annotations"][2].__setitem__("bbox", [1, 2, 0, 4]),
        "annotation id 9014: box has zero or negative width",
    ),
    "negative height": (
        lambda d: d["annotations"][2].__setitem__("bbox", [1, 2, 3, -4]),
        "annotation id 9014: box has zero or negative",
    ),
    "outside image": (
        lambda d: d["annotations"][2].__setitem__("bbox", [600, 2, 100, 4]),
        "annotation id 9014: box lies outside its image",
    ),
    "unknown image": (
        lambda d: d["annotations"][2].__setitem__("image_id", 5),
        "annotation id 9014: unknown image_id 5",
    ),
    "unknown category": (
        lambda d: d["annotations"][2].__setitem__("category_id", 99),
        "annotation id 9014: unknown category_id 99",
    ),
    "image without size": (
        lambda d: d["images"][1].pop("width"),
        "image id 101: image has no positive, finite 'width'",
    ),
    "duplicate annotation id": (
        lambda d: d["annotations"][2].__setitem__("id", 9000),
        "annotation id 9000: duplicate annotation id",
    ),
    "duplicate image id": (
        lambda d: d["images"][1].__setitem__("id", 100),
        "image id 100: duplicate image id",
    ),
    "duplicate category id": (
        lambda d: d["categories"].append({"id": 1, "name": "x"}),
        "category id 1: duplicate category id",
    ),
    "empty dataset": (lambda d: d.__setitem__("annotations", []), "the dataset is empty"),
    "annotations not a list": (
        lambda d: d.__setitem__("annotations", {}),
        "'annotations' must be a list",
    ),
}


@pytest.mark.parametrize("case", list(BAD_COCO))
def test_bad_coco_input_is_one_line_nothing_written(tmp_path, capsys, case):
    edit, message = BAD_COCO[case]
    source = _bad_coco(tmp_path, edit)
    before = digest(tmp_path)
    code, out, err = run(["corrupt", source, "--eta", "0.2"], capsys)
    assert code == 2
    assert err.startswith(f"noisybox: error: {source}: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + out
    assert digest(tmp_path) == before  # nothing written, input untouched


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "found a JSON list"),
        ('"text"', "found a JSON str"),
    ],
)
def test_malformed_json(tmp_path, capsys, content, message):
    source = tmp_path / "bad.json"
    source.write_text(content)
    code, _, err = run(["corrupt", source, "--eta", "0.2"], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["bad.json"]


ENTITY_BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<annotation><filename>&lol3;</filename></annotation>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<annotation><filename>&secret;</filename></annotation>
"""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (ENTITY_BOMB, "refusing XML with a DTD or entities"),
        (EXTERNAL_ENTITY, "refusing XML with a DTD or entities"),
        ("<annotation><object>", "not well-formed XML"),
        ("<html></html>", "not a PASCAL VOC file (root element <html>)"),
    ],
)
def test_bad_voc_files(tmp_path, capsys, content, message):
    folder = write_voc(tmp_path / "Annotations")
    (folder / "zzz.xml").write_text(content)
    before = digest(tmp_path)
    code, _, err = run(["corrupt", folder, "--eta", "0.2"], capsys)
    assert code == 2 and "zzz.xml" in err and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert digest(tmp_path) == before


def test_voc_record_errors_name_file_and_object(tmp_path, capsys):
    folder = write_voc(tmp_path / "Annotations")
    path = folder / "000001.xml"
    text = path.read_text()
    path.write_text(text.replace("<xmax>", "<xmax>oops", 1))
    code, _, err = run(["corrupt", folder, "--eta", "0.2"], capsys)
    assert code == 2 and f"{path}: object 1 (" in err and "bndbox lacks a numeric xmax" in err


def test_yolo_bad_line(tmp_path, capsys):
    folder = write_yolo(tmp_path / "labels")
    (folder / "train" / "img1.txt").write_text("0 0.5 0.5 0.2\n")
    code, _, err = run(["corrupt", folder, "--eta", "0.2"], capsys)
    assert code == 2 and "img1.txt: line 1: expected 'class cx cy w h'" in err


def test_missing_path(tmp_path, capsys):
    code, _, err = run(["corrupt", tmp_path / "nope.json", "--eta", "0.2"], capsys)
    assert code == 2 and "no such file or folder" in err


def test_on_invalid_skip_and_keep(tmp_path, capsys):
    def edit(document):
        document["annotations"][2]["bbox"] = [1, 2, 0, 4]
        document["annotations"][5]["category_id"] = 99

    source = _bad_coco(tmp_path, edit)
    code, out, _ = run(
        ["corrupt", source, "--eta", "0.2", "--on-invalid", "skip", "-o", tmp_path / "s.json"],
        capsys,
    )
    assert code == 0 and "invalid records (skip)" in out
    skipped = json.loads((tmp_path / "s.json").read_text())["annotations"]
    assert len(skipped) == 10 and 9014 not in [a["id"] for a in skipped]
    code, out, _ = run(
        ["corrupt", source, "--eta", "0.2", "--on-invalid", "keep", "-o", tmp_path / "k.json"],
        capsys,
    )
    assert code == 0
    kept = json.loads((tmp_path / "k.json").read_text())["annotations"]
    original = json.loads(source.read_text())["annotations"]
    assert len(kept) == 12 and kept[2] == original[2] and kept[5] == original[5]
    manifest = json.loads((tmp_path / "k.json.manifest.json").read_text())
    assert manifest["invalid_records"] == 2 and manifest["report"]["untouched_invalid"] == 2


def test_voc_missing_size_is_read_from_the_image(tmp_path, capsys):
    from PIL import Image

    folder = write_voc(tmp_path / "Annotations", files=1, size=(500, 375))
    path = folder / "000000.xml"
    text = path.read_text()
    path.write_text(text[: text.index("\t<size>")] + text[text.index("</size>") + 8 :])
    code, _, err = run(["corrupt", folder, "--eta", "0.2", "-o", tmp_path / "n"], capsys)
    assert code == 2 and "<size>: missing, non-positive or infinite image width/height" in err
    images = tmp_path / "JPEGImages"
    images.mkdir()
    Image.new("RGB", (500, 375)).save(images / "000000.jpg")
    code, _, err = run(
        ["corrupt", folder, "--eta", "0.2", "-o", tmp_path / "n", "--images", images], capsys
    )
    assert code == 0, err


def test_voc_image_names_never_escape_the_image_folder(tmp_path, capsys):
    folder = write_voc(tmp_path / "Annotations", files=1)
    path = folder / "000000.xml"
    text = path.read_text().replace("<filename>000000.jpg", "<filename>../../etc/passwd")
    path.write_text(text[: text.index("\t<size>")] + text[text.index("</size>") + 8 :])
    images = tmp_path / "JPEGImages"
    images.mkdir()
    code, _, err = run(["corrupt", folder, "--eta", "0.2", "--images", images], capsys)
    assert code == 2 and "points outside the image folder" in err and "not followed" in err


def test_subsample_nested_and_covering(tmp_path, capsys):
    document = coco_document(images=40, boxes_per_image=1, seed=2)
    document["annotations"][17]["category_id"] = 7  # make sure a rare class exists
    source = write_coco(tmp_path / "train.json", document)
    chosen = {}
    for fraction in (0.25, 0.5, 1.0):
        output = tmp_path / f"sub{fraction}.json"
        assert (
            run(["subsample", source, "--fraction", fraction, "--seed", 4, "-o", output], capsys)[0]
            == 0
        )
        written = json.loads(output.read_text())
        chosen[fraction] = {image["id"] for image in written["images"]}
        assert len(chosen[fraction]) == round(fraction * 40)
        assert {a["category_id"] for a in written["annotations"]} == {1, 3, 7}
        assert all(a["image_id"] in chosen[fraction] for a in written["annotations"])
    assert chosen[0.25] < chosen[0.5] < chosen[1.0]
    other = tmp_path / "other.json"
    run(["subsample", source, "--fraction", 0.25, "--seed", 5, "-o", other], capsys)
    assert {i["id"] for i in json.loads(other.read_text())["images"]} != chosen[0.25]
    manifest = json.loads((tmp_path / "sub0.25.json.manifest.json").read_text())
    assert manifest["fraction"] == 0.25 and manifest["images"] == 10
    code, _, err = run(["subsample", source, "--fraction", 0], capsys)
    assert code == 2 and "--fraction must be in (0, 1]" in err


def test_subsample_keeps_a_class_of_one_image_in_forty(tmp_path, capsys):
    """Classes 3 and 7 are each in one image of forty, class 1 in the rest: every 10% subset
    (4 images) holds all three, for every seed. Left to the random ranking, a one-image
    class would survive a 10% subset one seed in ten."""
    document = coco_document(images=40, boxes_per_image=1, seed=2)
    for annotation in document["annotations"]:
        annotation["category_id"] = 1
    document["annotations"][17]["category_id"] = 7
    document["annotations"][31]["category_id"] = 3
    source = write_coco(tmp_path / "train.json", document)
    for seed in range(5):
        output = tmp_path / f"sub{seed}.json"
        args = ["subsample", source, "--fraction", 0.1, "--seed", seed, "-o", output]
        assert run(args, capsys)[0] == 0
        written = json.loads(output.read_text())
        assert len(written["images"]) == 4
        assert {a["category_id"] for a in written["annotations"]} == {1, 3, 7}


def test_subsample_folders(tmp_path, capsys):
    source = write_voc(tmp_path / "Annotations", files=8)
    assert run(["subsample", source, "--fraction", 0.5, "-o", tmp_path / "half"], capsys)[0] == 0
    assert len(list((tmp_path / "half").iterdir())) == 4
    for name in digest(tmp_path / "half"):
        assert (tmp_path / "half" / name).read_bytes() == (source / name).read_bytes()


def test_inspect_json_lists_every_invalid_record(tmp_path, capsys):
    def edit(document):
        document["annotations"][2]["bbox"] = [1, 2, 0, 4]
        document["annotations"][5]["image_id"] = 12345

    source = _bad_coco(tmp_path, edit)
    code, out, _ = run(["inspect", source, "--json"], capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["boxes"] == 10 and summary["images"] == 4 and summary["crowd"] == 1
    assert [i["record"] for i in summary["invalid"]] == ["annotation id 9035", "annotation id 9014"]
    assert {c["name"]: c["boxes"] for c in summary["classes"]}.keys() == {"cat", "dog", "car"}
    assert sum(c["boxes"] for c in summary["classes"]) == 10
    assert sum(summary["sizes"].values()) == 10
    code, out, _ = run(["inspect", source], capsys)
    assert code == 0 and "invalid records" in out and "9014" in out


def test_inspect_real_bccd_finds_its_two_zero_size_boxes(capsys):
    folder = SHARED / "bccd" / "annotations"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the shared real datasets are not on this machine")
    code, out, _ = run(["inspect", folder, "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["images"] == 364 and summary["boxes"] == 4886
    assert sorted(i["file"].rsplit("/", 1)[-1] for i in summary["invalid"]) == [
        "BloodImage_00338.xml",
        "BloodImage_00343.xml",
    ]


def test_show_draws_clean_and_noisy(tmp_path, capsys):
    from PIL import Image

    from .datasets import voc_with_images

    source, images = voc_with_images(tmp_path, files=3)
    run(["corrupt", source, "--eta", "0.3", "-o", tmp_path / "noisy"], capsys)
    grid = tmp_path / "grid.png"
    code, out, err = run(
        [
            "show",
            source,
            "--noisy",
            tmp_path / "noisy",
            "--images",
            images,
            "-o",
            grid,
            "--count",
            2,
        ],
        capsys,
    )
    assert code == 0, err
    assert "2 images" in out and grid.read_bytes().startswith(b"\x89PNG")
    with Image.open(grid) as drawn:
        assert drawn.width > 500 and drawn.height > 375


def test_corrupt_does_not_import_torch(tmp_path):
    """The annotation commands stay light: no torch, no torchvision at start-up or in use."""
    source = write_coco(tmp_path / "train.json")
    script = (
        "import sys; from noisybox.cli import main; "
        f"code = main(['corrupt', {str(source)!r}, '--eta', '0.1']); "
        "heavy = [m for m in ('torch', 'torchvision', 'matplotlib') if m in sys.modules]; "
        "print(code, heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().endswith("0 []"), done.stdout


def test_noisy_boxes_stay_inside_real_photos(tmp_path, capsys):
    folder = SHARED / "raccoon" / "annotations"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the shared real datasets are not on this machine")
    output = tmp_path / "noisy"
    assert run(["corrupt", folder, "--eta", "0.3", "--seed", 1, "-o", output], capsys)[0] == 0
    noisy = read_annotations(output)
    size = noisy.image_size[noisy.image]
    assert (noisy.boxes[:, :2] >= 0).all() and (noisy.boxes[:, 2:] <= size).all()
    assert np.all(noisy.boxes[:, 2:] > noisy.boxes[:, :2])


@pytest.mark.parametrize("writer", [write_coco, write_voc, write_yolo])
def test_eta_zero_is_a_lossless_copy_with_its_manifest(tmp_path, capsys, writer):
    """A grid script looping over η = 0, 0.1, ... must not fail at 0."""
    source = writer(tmp_path / ("train.json" if writer is write_coco else "labels"))
    if writer is write_coco:  # an unusual layout, to see it kept byte for byte
        source.write_text(json.dumps(json.loads(source.read_text()), indent=4) + "\n\n")
    output = tmp_path / ("out.json" if writer is write_coco else "out")
    code, _, err = run(["corrupt", source, "--eta", "0", "-o", output], capsys)
    assert code == 0, err
    if writer is write_coco:
        assert output.read_bytes() == source.read_bytes()
    else:
        assert digest(output) == digest(source)
    manifest = json.loads((tmp_path / f"{output.name}.manifest.json").read_text())
    assert manifest["noise"]["include_crowd"] is False and "eta" not in manifest["noise"]
    assert run(["corrupt", source], capsys)[0] == 0  # no noise at all: the same copy
    assert (tmp_path / ("train.noisy-eta0-seed0.json" if writer is write_coco
                        else "labels-noisy-eta0-seed0")).exists()  # fmt: skip


def test_box_fraction_moves_a_seeded_share_of_the_boxes(tmp_path):
    from noisybox.noise import NoiseConfig, corrupt

    from .datasets import coco_document

    source = write_coco(tmp_path / "train.json", coco_document(images=200, boxes_per_image=5))
    annotations = read_annotations(source)
    every, _ = corrupt(annotations, NoiseConfig(eta=0.2), seed=4)
    some, report = corrupt(annotations, NoiseConfig(eta=0.2, box_fraction=0.3), seed=4)
    moved = (some.boxes != annotations.boxes).any(axis=1)
    n = len(annotations)
    assert report.moved == moved.sum() and abs(moved.mean() - 0.3) < 3 * (0.3 * 0.7 / n) ** 0.5
    np.testing.assert_array_equal(some.boxes[moved], every.boxes[moved])  # the same noise
    np.testing.assert_array_equal(some.boxes[~moved], annotations.boxes[~moved])
    _, none = corrupt(annotations, NoiseConfig(eta=0.2, box_fraction=0.0), seed=4)
    assert none.moved == 0 and none.mean_iou == 1.0


def test_corrupt_protocol_is_recorded_and_checked(tmp_path, capsys):
    source = write_coco(tmp_path / "train.json")
    args = ["corrupt", source, "--eta", "0.3", "--protocol", "oa-mil", "-o", tmp_path / "o.json"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert "fitted (oa-mil)" in out
    manifest = json.loads((tmp_path / "o.json.manifest.json").read_text())
    assert manifest["noise"]["protocol"] == "oa-mil"
    assert set(manifest["report"]["clamped"]) == {"clipped", "kept_original"}
    code, _, err = run([*args[:-2], "--protocol", "bogus", "-o", tmp_path / "u.json"], capsys)
    assert code == 2 and "protocol must be one of alpha-iou, oa-mil, una" in err


@pytest.mark.parametrize("writer", [write_coco, write_voc])
def test_per_box_table_has_a_row_per_box_and_the_iou_of_the_written_files(tmp_path, capsys, writer):
    import pandas as pd

    from noisybox.boxes import elementwise_iou

    source = writer(tmp_path / ("train.json" if writer is write_coco else "Annotations"))
    output = tmp_path / ("n.json" if writer is write_coco else "n")
    args = ["corrupt", source, "--eta", "0.3", "--flip", "0.3", "--drop", "0.2",
            "--spurious", "0.4", "--seed", "2", "--per-box", "-o", output]  # fmt: skip
    code, _, err = run(args, capsys)
    assert code == 0, err
    table = pd.read_csv(tmp_path / f"{output.name}.boxes.csv")
    clean, noisy = read_annotations(source), read_annotations(output)
    spurious = table["spurious"]
    assert len(table) - spurious.sum() == len(clean) and spurious.sum() > 0
    assert table["dropped"].sum() > 0 and table["flipped"].sum() > 0
    kept = table[~spurious & ~table["dropped"]]
    assert len(kept) + spurious.sum() == len(noisy)
    # the noisy boxes as written, in file order: kept source boxes, then the spurious ones
    # (COCO appends them at the end, VOC at the end of their image's file)
    written = {
        (noisy.image_name[i], tuple(np.round(b, 6)))
        for i, b in zip(noisy.image.tolist(), noisy.boxes, strict=True)
    }
    columns = ["noisy_x1", "noisy_y1", "noisy_x2", "noisy_y2"]
    rows = {(r.image, tuple(np.round(r[columns].to_numpy(float), 6))) for _, r in table[
        ~table["dropped"]].iterrows()}  # fmt: skip
    assert rows == written
    recomputed = elementwise_iou(
        kept[columns].to_numpy(float),
        kept[["clean_x1", "clean_y1", "clean_x2", "clean_y2"]].to_numpy(float),
    )
    np.testing.assert_allclose(kept["iou"], recomputed, rtol=0, atol=1e-12)
    assert (kept["moved"] == (recomputed < 1)).all()


def test_show_colours_boxes_by_their_per_box_flags(tmp_path, capsys):
    from .datasets import voc_with_images

    source, images = voc_with_images(tmp_path, files=2)
    noisy = tmp_path / "noisy"
    args = ["corrupt", source, "--eta", "0.2", "--flip", "0.5", "--drop", "0.3",
            "--spurious", "0.5", "--per-box", "-o", noisy]  # fmt: skip
    assert run(args, capsys)[0] == 0
    figure = tmp_path / "flags.png"
    show = ["show", source, "--noisy", noisy, "--images", images, "-o", figure]
    code, _, err = run([*show, "--boxes", tmp_path / "noisy.boxes.csv", "--count", 2], capsys)
    assert code == 0, err
    assert figure.read_bytes().startswith(b"\x89PNG")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    code, _, err = run([*show[:-1], tmp_path / "f2.png", "--boxes", tmp_path / "other.csv"],
                       capsys)  # fmt: skip
    assert code == 2 and "not a per-box table" in err and not (tmp_path / "f2.png").exists()


def test_split_puts_every_class_of_two_images_on_both_sides(tmp_path, capsys):
    """In a VOC folder of forty files, cat and dog are in two files each and cow in one:
    every seed's 20% validation holds cat and dog, so does training, and cow is named as on
    one side only. The lists are disjoint, cover every file, and the same seed gives the
    same lists."""
    folder = write_voc(tmp_path / "annotations", files=40, seed=2)
    relabel = {3: "cat", 29: "cat", 11: "dog", 36: "dog", 20: "cow"}
    for index, label in relabel.items():
        path = folder / f"{index:06d}.xml"
        text = path.read_text().replace(">person<", f">{label}<").replace(">horse<", f">{label}<")
        path.write_text(text)
    label_of = {f"{i:06d}": relabel.get(i, "common") for i in range(40)}
    lists = {}
    for seed in range(4):
        out = tmp_path / f"splits{seed}"
        code, printed, _ = run(["split", folder, "--val", 0.2, "--seed", seed, "-o", out], capsys)
        assert code == 0 and "on one side only" in printed and "cow" in printed
        sides = {s: (out / f"{s}.txt").read_text().split() for s in ("train", "val")}
        assert len(sides["val"]) == 8 and not set(sides["train"]) & set(sides["val"])
        assert set(sides["train"]) | set(sides["val"]) == set(label_of)
        for side in sides.values():
            assert {"cat", "dog"} <= {label_of[name] for name in side}
        lists[seed] = sides
    assert len({tuple(sides["val"]) for sides in lists.values()}) > 1  # seeds differ
    again = tmp_path / "again"
    run(["split", folder, "--val", 0.2, "--seed", 1, "-o", again], capsys)
    assert (again / "val.txt").read_text().split() == lists[1]["val"]
    assert run(["split", folder, "--val", 1.5, "-o", tmp_path / "bad"], capsys)[0] == 2
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("writer", [write_coco, write_yolo])
def test_split_coco_and_yolo_into_two_lossless_parts(tmp_path, capsys, writer):
    """A COCO file splits into train.json and val.json, a YOLO folder into train/ and val/:
    each holds its side's images with their records as they were (the writer's, lossless),
    together every image once; the source is untouched."""
    source = writer(tmp_path / ("train.json" if writer is write_coco else "labels"))
    before = digest(tmp_path)
    out = tmp_path / "parts"
    code, printed, _ = run(["split", source, "--val", 0.34, "--seed", 3, "-o", out], capsys)
    assert code == 0 and "classes on both sides" in printed
    parts = {
        side: read_annotations(out / (f"{side}.json" if writer is write_coco else side))
        for side in ("train", "val")
    }
    whole = read_annotations(source)
    names = {side: set(part.image_name) for side, part in parts.items()}
    assert not names["train"] & names["val"]
    assert names["train"] | names["val"] == set(whole.image_name) and names["val"]
    for part in parts.values():
        assert part.categories == whole.categories
        for row in range(len(part)):
            name = part.image_name[part.image[row]]
            rows = np.flatnonzero(
                (np.asarray(whole.image_name)[whole.image] == name) & (whole.key == part.key[row])
            )
            assert len(rows) == 1 and (whole.boxes[rows[0]] == part.boxes[row]).all()
    assert sum(len(p) for p in parts.values()) == len(whole)
    assert {k: v for k, v in digest(tmp_path).items() if not k.startswith("parts")} == before
