"""``noisybox convert``: COCO, VOC and YOLO through the same readers and new writers.

The reference is the source itself: a conversion and its way back give the same images,
boxes (bit for bit in pixels; YOLO's normalization to within 1e-9 px), classes and crowd
marks, on tiny files here and on every shared real dataset (VOC → COCO → VOC, VOC → YOLO →
VOC), and the summary names exactly what the target could not hold.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from noisybox.cli import main
from PIL import Image

from noisybox.convert import convert
from noisybox.formats import read_annotations

from .datasets import SHARED, coco_document, digest, voc_with_images, write_coco


def run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def boxes_by_image(annotations, tolerance: float = 0.0) -> dict:
    """``{image file stem: sorted [(class name, crowd, x1, y1, x2, y2)]}``, boxes rounded to
    ``tolerance`` when it is given. By stem: some neu-det files name their image without its
    suffix (``<filename>patches_104</filename>``), which a YOLO round trip finds as .jpg."""
    table = defaultdict(list)
    for row in range(len(annotations)):
        box = annotations.boxes[row]
        if tolerance:
            box = np.round(box / tolerance) * tolerance
        table[Path(annotations.image_name[annotations.image[row]]).stem].append(
            (
                annotations.categories[int(annotations.category[row])],
                bool(annotations.crowd[row]),
                *box.tolist(),
            )
        )
    names = {Path(name).stem for name in annotations.image_name}
    return {name: sorted(table.get(name, [])) for name in names}


def write_images(folder, annotations) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (width, height) in zip(annotations.image_name, annotations.image_size, strict=True):
        Image.new("RGB", (int(width), int(height))).save(folder / name)


def test_coco_to_voc_and_back_is_exact_and_names_what_it_drops(tmp_path, capsys):
    """Float boxes, crowd marks, non-contiguous category ids: COCO → VOC → COCO keeps every
    box bit for bit with its class name and crowd mark (VOC ``difficult``); the summary
    names COCO's other keys, and the category ids VOC cannot hold."""
    source = write_coco(tmp_path / "train.json", coco_document(images=5, seed=4))
    original = read_annotations(source)
    code, out, _ = run(["convert", source, "--to", "voc", "-o", tmp_path / "voc"], capsys)
    assert code == 0
    for key in ("segmentation", "score_from_labeller", "licenses", "supercategory", "ids"):
        assert key in out
    voc = read_annotations(tmp_path / "voc")
    assert boxes_by_image(voc) == boxes_by_image(original)
    assert "<difficult>1</difficult>" in "".join(
        p.read_text() for p in (tmp_path / "voc").glob("*.xml")
    )
    code, out, _ = run(
        ["convert", tmp_path / "voc", "--to", "coco", "-o", tmp_path / "b.json"], capsys
    )
    assert code == 0 and "nothing" in out
    back = read_annotations(tmp_path / "b.json")
    assert boxes_by_image(back) == boxes_by_image(original)
    assert json.loads((tmp_path / "b.json").read_text())["annotations"][0].keys() == {
        "id",
        "image_id",
        "category_id",
        "bbox",
        "area",
        "iscrowd",
    }


def test_yolo_needs_images_and_leaves_crowd_boxes_out(tmp_path, capsys):
    """COCO → YOLO writes classes.txt (classes numbered 0…K-1 in id order), an empty label
    file for an image without boxes, and leaves the crowd box out, saying so; YOLO → COCO
    reads the sizes from the images and gets the boxes back to 1e-9 px. Without images the
    YOLO source is refused in one line, nothing written."""
    document = coco_document(images=4, seed=5)
    document["annotations"] = [a for a in document["annotations"] if a["image_id"] != 103]
    source = write_coco(tmp_path / "train.json", document)
    original = read_annotations(source)
    labels = tmp_path / "yolo" / "labels"
    code, out, _ = run(["convert", source, "--to", "yolo", "-o", labels], capsys)
    assert code == 0 and "1 crowd/difficult boxes" in out and "category ids" in out
    assert (labels / "classes.txt").read_text().split() == ["cat", "dog", "car"]
    assert (labels / "img3.txt").read_bytes() == b""
    assert {line.split()[0] for line in (labels / "img0.txt").read_text().splitlines()} <= {
        "0",
        "1",
        "2",
    }
    code, _, err = run(["convert", labels, "--to", "coco", "-o", tmp_path / "y.json"], capsys)
    assert code == 2 and "--images" in err and not (tmp_path / "y.json").exists()
    write_images(tmp_path / "yolo" / "images", original)  # found as labels/../images
    code, _, _ = run(["convert", labels, "--to", "coco", "-o", tmp_path / "y.json"], capsys)
    assert code == 0
    back = read_annotations(tmp_path / "y.json")
    expected = boxes_by_image(original, 1e-9)
    for name in expected:
        expected[name] = [row for row in expected[name] if not row[1]]  # crowd left out
    assert boxes_by_image(back, 1e-9) == expected


def test_convert_refuses_to_overwrite_and_dry_run_writes_nothing(tmp_path, capsys):
    """The input is never an output; an existing output needs --overwrite; a dry run prints
    the summary and writes nothing; an unknown --to is one line, exit 2."""
    annotations, _ = voc_with_images(tmp_path, files=3)
    before = digest(tmp_path)
    code, _, err = run(["convert", annotations, "--to", "coco", "-o", annotations], capsys)
    assert code == 2 and err.count("\n") == 1
    code, out, _ = run(
        ["convert", annotations, "--to", "coco", "-o", tmp_path / "c.json", "--dry-run"], capsys
    )
    assert code == 0 and "dry run" in out and digest(tmp_path) == before
    code, _, err = run(["convert", annotations, "--to", "labelme", "-o", tmp_path / "x"], capsys)
    assert code == 2 and "--to must be one of" in err and digest(tmp_path) == before
    (tmp_path / "c.json").write_text("{}")
    code, _, err = run(["convert", annotations, "--to", "coco", "-o", tmp_path / "c.json"], capsys)
    assert code == 2 and (tmp_path / "c.json").read_text() == "{}"


def test_invalid_records_kept_are_refused(tmp_path):
    """A box kept invalid (--on-invalid keep) is not converted as if it were a box."""
    document = coco_document(images=2)
    document["annotations"][0]["bbox"] = [10, 10, -5, 4]
    source = write_coco(tmp_path / "bad.json", document)
    with pytest.raises(Exception, match="invalid records"):
        convert(read_annotations(source, on_invalid="keep"), "voc")
    skipped = convert(read_annotations(source, on_invalid="skip"), "voc")
    assert skipped.boxes == len(document["annotations"]) - 1


@pytest.mark.parametrize("name", ["raccoon", "bccd", "face-mask", "neu-det"])
def test_shared_datasets_round_trip(tmp_path, name):
    """VOC → COCO → VOC gives every image's boxes and classes exactly; VOC → YOLO → VOC
    (sizes read from the dataset's images) to within 1e-9 px, difficult boxes left out and
    the boxes that reach (within VOC's 1 px tolerance) outside their image clipped to it."""
    root = SHARED / name
    if not (root / "annotations").is_dir():
        pytest.skip(f"{root} is absent: the shared real datasets are not on this machine")
    original = read_annotations(root / "annotations", on_invalid="skip")
    as_coco = tmp_path / "a.json"
    as_coco.write_bytes(convert(original, "coco").rendered)
    coco = read_annotations(as_coco)
    voc_again = tmp_path / "voc"
    voc_again.mkdir()
    for relative, data in convert(coco, "voc").rendered.items():
        (voc_again / relative).write_bytes(data)
    assert boxes_by_image(read_annotations(voc_again)) == boxes_by_image(original)
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    for relative, data in convert(original, "yolo").rendered.items():
        (yolo / relative).write_bytes(data)
    from_yolo = convert(read_annotations(yolo), "voc", root / "images").rendered
    voc_from_yolo = tmp_path / "voc2"
    voc_from_yolo.mkdir()
    for relative, data in from_yolo.items():
        (voc_from_yolo / relative).write_bytes(data)
    size = original.image_size[original.image]
    clipped = np.clip(original.boxes, 0, np.concatenate([size, size], axis=1))  # as YOLO's
    expected = {
        name: [row for row in rows if not row[1]]
        for name, rows in boxes_by_image(replace(original, boxes=clipped), 1e-9).items()
    }
    assert boxes_by_image(read_annotations(voc_from_yolo), 1e-9) == expected


def test_each_new_file_is_written_as_documented_byte_for_byte(tmp_path):
    """The creators' output on a dataset worked by hand: a crowd box, a float corner, a
    non-ASCII class name, an image without boxes, and two images whose files would clash."""
    from noisybox.errors import NoisyboxError
    from noisybox.formats.coco import create_coco
    from noisybox.formats.voc import create_voc
    from noisybox.formats.yolo import create_yolo

    document = {
        "images": [{"id": 5, "file_name": "a.jpg", "width": 200, "height": 100},
                   {"id": 9, "file_name": "b.png", "width": 50.5, "height": 40}],
        "categories": [{"id": 2, "name": "chat"}, {"id": 7, "name": "vélo"}],
        "annotations": [
            {"id": 1, "image_id": 5, "category_id": 7, "bbox": [10, 20, 30.5, 40], "iscrowd": 1},
            {"id": 2, "image_id": 5, "category_id": 2, "bbox": [0, 0, 100, 50], "iscrowd": 0},
        ],
    }  # fmt: skip
    source = tmp_path / "in.json"
    source.write_text(json.dumps(document))
    annotations = read_annotations(source)
    assert json.loads(create_coco(annotations)) == {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
                   {"id": 2, "file_name": "b.png", "width": 50.5, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 20, 30.5, 40],
             "area": 1220, "iscrowd": 1},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [0, 0, 100, 50],
             "area": 5000, "iscrowd": 0},
        ],
        "categories": [{"id": 2, "name": "chat"}, {"id": 7, "name": "vélo"}],
    }  # fmt: skip
    assert create_coco(annotations).startswith(b'{\n  "images": [\n    {\n      "id": 1,')
    assert create_voc(annotations) == {
        "a.xml": (
            "<?xml version='1.0' encoding='utf-8'?>\n<annotation>\n\t<filename>a.jpg</filename>"
            "\n\t<size>\n\t\t<width>200</width>\n\t\t<height>100</height>\n\t</size>\n"
            "\t<object>\n\t\t<name>vélo</name>\n\t\t<difficult>1</difficult>\n\t\t<bndbox>\n"
            "\t\t\t<xmin>10</xmin>\n\t\t\t<ymin>20</ymin>\n\t\t\t<xmax>40.5</xmax>\n"
            "\t\t\t<ymax>60</ymax>\n\t\t</bndbox>\n\t</object>\n\t<object>\n"
            "\t\t<name>chat</name>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
            "\t\t\t<xmin>0</xmin>\n\t\t\t<ymin>0</ymin>\n\t\t\t<xmax>100</xmax>\n"
            "\t\t\t<ymax>50</ymax>\n\t\t</bndbox>\n\t</object>\n</annotation>\n"
        ).encode(),
        "b.xml": (
            b"<?xml version='1.0' encoding='utf-8'?>\n<annotation>\n\t<filename>b.png</filename>"
            b"\n\t<size>\n\t\t<width>50.5</width>\n\t\t<height>40</height>\n\t</size>\n"
            b"</annotation>\n"
        ),
    }
    crowdless = replace(annotations, crowd=np.zeros(2, bool))
    assert create_yolo(crowdless) == {
        "classes.txt": "chat\nvélo\n".encode(),
        "a.txt": b"1 0.12625 0.4 0.1525 0.4\n0 0.25 0.25 0.5 0.5\n",
        "b.txt": b"",
    }
    clash = replace(annotations, image_name=["x/a.jpg", "y/a.png"])
    with pytest.raises(NoisyboxError, match=r"in\.json: two images would share the VOC file "
                       r"a\.xml \(image 'y/a\.png'\); rename one$"):  # fmt: skip
        create_voc(clash)
    clash = replace(annotations, image_name=["a.jpg", "a.png"])
    with pytest.raises(NoisyboxError, match=r"in\.json: two images would share the label file "
                       r"a\.txt \(image 'a\.png'\); rename one$"):  # fmt: skip
        create_yolo(clash)
