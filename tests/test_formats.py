"""Reading and writing COCO, VOC and YOLO: lossless round trips and faithful edits."""

import json

import numpy as np
import pytest

from noisybox.annotations import Changes
from noisybox.errors import NoisyboxError
from noisybox.formats import detect_format, read_annotations, render, write_annotations

from .datasets import SHARED, coco_document, write_coco, write_voc, write_yolo


def test_coco_round_trip_is_lossless(tmp_path):
    source = write_coco(tmp_path / "train.json")
    annotations = read_annotations(source)
    assert (annotations.format, len(annotations), annotations.num_images) == ("coco", 12, 4)
    assert annotations.crowd.sum() == 1
    out = tmp_path / "out.json"
    write_annotations(annotations, Changes.none(annotations), out)
    assert json.loads(out.read_text()) == json.loads(source.read_text())
    assert out.read_text().startswith("{\n  ")  # indentation kept


def test_coco_boxes_are_xyxy_pixels(tmp_path):
    document = coco_document()
    annotations = read_annotations(write_coco(tmp_path / "a.json", document))
    x, y, w, h = document["annotations"][0]["bbox"]
    np.testing.assert_allclose(annotations.boxes[0], [x, y, x + w, y + h])
    assert annotations.categories == {1: "cat", 3: "dog", 7: "car"}
    np.testing.assert_array_equal(annotations.image_size[0], [640, 480])


def test_coco_edits_touch_only_what_changed(tmp_path):
    document = coco_document()
    annotations = read_annotations(write_coco(tmp_path / "a.json", document))
    changes = Changes.none(annotations)
    changes.boxes[0] = [10.0, 20.0, 110.0, 70.0]
    changes.category[2] = 7
    changes.keep[3] = False
    changes.added_image = np.array([1])
    changes.added_category = np.array([3])
    changes.added_boxes = np.array([[1.0, 2.0, 11.0, 22.0]])
    written = json.loads(render(annotations, changes))
    records = written["annotations"]
    assert records[0]["bbox"] == [10.0, 20.0, 100.0, 50.0] and records[0]["area"] == 5000.0
    assert records[0]["segmentation"] == document["annotations"][0]["segmentation"]
    assert records[2]["category_id"] == 7
    assert [r["id"] for r in records[:4]] == [9000, 9007, 9014, 9028]  # 9021 dropped
    assert records[-1] == {
        "id": 9078,
        "image_id": 101,
        "category_id": 3,
        "bbox": [1.0, 2.0, 10.0, 20.0],
        "area": 200.0,
        "iscrowd": 0,
    }
    for before, after in zip(document["annotations"][4:], records[3:-1], strict=True):
        assert before == after
    assert {k: v for k, v in written.items() if k != "annotations"} == {
        k: v for k, v in document.items() if k != "annotations"
    }


def test_coco_area_of_a_segmentation_is_left_alone(tmp_path):
    document = coco_document()
    document["annotations"][0]["area"] = 123.0  # a mask area, not the box's w*h
    annotations = read_annotations(write_coco(tmp_path / "a.json", document))
    changes = Changes.none(annotations)
    changes.boxes[0] += 1.0
    assert json.loads(render(annotations, changes))["annotations"][0]["area"] == 123.0


def test_voc_round_trip_is_byte_identical(tmp_path):
    folder = write_voc(tmp_path / "Annotations")
    annotations = read_annotations(folder)
    assert (annotations.format, len(annotations), annotations.num_images) == ("voc", 6, 3)
    assert sorted(annotations.categories.values()) == ["horse", "person"]
    out = tmp_path / "copy"
    write_annotations(annotations, Changes.none(annotations), out)
    for file in folder.iterdir():
        assert (out / file.name).read_bytes() == file.read_bytes()


def test_voc_edit_keeps_the_rest_of_the_file(tmp_path):
    folder = write_voc(tmp_path / "Annotations")
    annotations = read_annotations(folder)
    changes = Changes.none(annotations)
    changes.boxes[0] = [1.0, 2.0, 30.0, 40.0]
    changes.keep[1] = False
    changes.added_image, changes.added_category = np.array([0]), np.array([0])
    changes.added_boxes = np.array([[5.0, 6.0, 50.0, 60.0]])
    text = render(annotations, changes)["000000.xml"].decode()
    original = (folder / "000000.xml").read_text()
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<annotation>')
    assert "<!-- a comment that must survive -->" in text and "<custom_field>keep me" in text
    assert "<xmin>1</xmin>" in text and "<ymax>40</ymax>" in text
    assert text.count("<object>") == original.count("<object>")  # one dropped, one added
    assert "<xmin>5</xmin>" in text and "<name>horse</name>" in text
    reread = read_annotations(_write_single(tmp_path, text))
    np.testing.assert_array_equal(reread.boxes, [[1, 2, 30, 40], [5, 6, 50, 60]])


def _write_single(tmp_path, text):
    path = tmp_path / "single.xml"
    path.write_text(text)
    return path


def test_yolo_round_trip_is_byte_identical(tmp_path):
    folder = write_yolo(tmp_path / "labels")
    annotations = read_annotations(folder)
    assert (annotations.format, annotations.units, len(annotations)) == ("yolo", "normalized", 9)
    assert annotations.categories == {0: "person", 1: "bicycle", 2: "car"}
    out = tmp_path / "copy"
    write_annotations(annotations, Changes.none(annotations), out)
    for file in folder.rglob("*.txt"):
        assert (out / file.relative_to(folder)).read_bytes() == file.read_bytes()


def test_yolo_edit_keeps_line_endings_and_other_lines(tmp_path):
    folder = write_yolo(tmp_path / "labels")
    annotations = read_annotations(folder)
    changes = Changes.none(annotations)
    changes.boxes[0] = [0.1, 0.2, 0.3, 0.6]
    changes.category[0] = 2
    written = render(annotations, changes)["train/img0.txt"]
    original = (folder / "train/img0.txt").read_bytes().splitlines(keepends=True)
    lines = written.splitlines(keepends=True)
    assert lines[0] == b"2 0.200000 0.400000 0.200000 0.400000\r\n"
    assert lines[1:] == original[1:]


@pytest.mark.parametrize(
    ("name", "expected"), [("a.json", "coco"), ("a.xml", "voc"), ("voc", "voc"), ("yolo", "yolo")]
)
def test_format_detection(tmp_path, name, expected):
    path = tmp_path / name
    if name == "voc":
        write_voc(path)
    elif name == "yolo":
        write_yolo(path)
    else:
        path.write_text("{}")
    assert detect_format(path) == expected


@pytest.mark.parametrize("dataset", ["raccoon", "bccd"])
def test_real_voc_datasets_round_trip(tmp_path, dataset):
    folder = SHARED / dataset / "annotations"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the shared real datasets are not on this machine")
    annotations = read_annotations(folder, on_invalid="keep")
    files = render(annotations, Changes.none(annotations))
    assert len(files) == len(list(folder.glob("*.xml")))
    for name, data in files.items():
        assert data == (folder / name).read_bytes()


def test_voc_image_set_lists(tmp_path):
    folder = write_voc(tmp_path / "Annotations", files=4)
    listed = tmp_path / "val.txt"
    listed.write_text("000003\n000001\n")
    annotations = read_annotations(folder, split=listed)
    assert annotations.image_name == ["000003.jpg", "000001.jpg"]
    listed.write_text("000001\n000009\n")
    with pytest.raises(NoisyboxError, match="1 listed images have no annotation file"):
        read_annotations(folder, split=listed)
    with pytest.raises(NoisyboxError, match="VOC folders only"):
        read_annotations(write_coco(tmp_path / "a.json"), split=listed)


def test_coco_fast_and_record_by_record_parsers_agree():
    """Regular files take the vectorized path; it must read exactly what the careful one does."""
    from noisybox.formats.coco import _parse_annotations, _parse_regular_annotations
    from noisybox.keys import integer_keys

    document = coco_document(images=5, boxes_per_image=4, seed=9)
    image_row = {image["id"]: i for i, image in enumerate(document["images"])}
    categories = {c["id"]: c["name"] for c in document["categories"]}
    fast = _parse_regular_annotations(document["annotations"], image_row, categories)
    issues = []
    careful = _parse_annotations("f.json", document["annotations"], image_row, categories, issues)
    assert fast is not None and not issues
    ids, boxes, image, category, crowd = fast
    expected = (boxes, image, category, integer_keys(ids), crowd, np.ones(len(ids), bool))
    for a, b in zip(expected, careful, strict=True):
        np.testing.assert_array_equal(a, b)
    document["annotations"][3]["image_id"] = True  # JSON true: the fast path must step aside
    assert _parse_regular_annotations(document["annotations"], image_row, categories) is None


def test_formats_are_one_table_and_a_labelme_file_is_not_taken_for_coco(tmp_path):
    from noisybox.errors import NoisyboxError
    from noisybox.formats import FORMATS, detect_format
    from noisybox.formats.base import Format

    assert list(FORMATS) == ["coco", "voc", "yolo"]
    assert all(isinstance(f, Format) and f.name == name for name, f in FORMATS.items())
    labelme = tmp_path / "photo.json"
    labelme.write_text('{"version": "5.0", "shapes": [], "imagePath": "photo.jpg"}')
    with pytest.raises(NoisyboxError, match="not a format noisybox reads"):
        detect_format(labelme)
    coco = tmp_path / "train.json"
    coco.write_text('{"images": [], "annotations": [], "categories": []}')
    assert detect_format(coco) == "coco"


def test_an_invalid_box_is_described_with_its_own_images_size(tmp_path):
    """The message gives the size of the box's image, not of the image whose row number
    equals the box's image row (a fuzzed YOLO folder of one box and three files crashed on
    that)."""
    from noisybox.formats import read_annotations

    from .datasets import coco_document, write_coco

    document = coco_document(images=3, boxes_per_image=2)
    document["images"][2].update(width=50, height=40)
    for record in document["annotations"][4:]:  # the third image's boxes: inside it, but
        record["bbox"] = [5, 5, 10, 10]
    document["annotations"][5]["bbox"] = [45, 5, 20, 10]  # the last one sticks out
    annotations = read_annotations(write_coco(tmp_path / "a.json", document), on_invalid="keep")
    (issue,) = annotations.issues
    assert "box lies outside its image" in issue.message and "image 50x40" in issue.message
