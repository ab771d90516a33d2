"""Reading and writing COCO, VOC and YOLO: lossless round trips and faithful edits."""

import json
import math

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


def test_what_each_format_holds_beyond_the_arrays_is_named(tmp_path):
    """VOC: every element path the arrays do not hold, a comment in the way or not; COCO:
    every key of every record, the annotations' too; YOLO: nothing."""
    from noisybox.formats import FORMATS

    voc = read_annotations(write_voc(tmp_path / "voc", files=2))
    assert FORMATS["voc"].beyond(voc) == [
        "<folder>", "<object/custom_field>", "<object/pose>", "<object/truncated>",
        "<size/depth>",
    ]  # fmt: skip
    coco = read_annotations(write_coco(tmp_path / "a.json"))
    assert FORMATS["coco"].beyond(coco) == [
        "custom_top_level", "info", "licenses", "images[].license",
        "annotations[].score_from_labeller", "annotations[].segmentation",
        "categories[].supercategory",
    ]  # fmt: skip
    yolo = read_annotations(write_yolo(tmp_path / "labels"))
    assert FORMATS["yolo"].beyond(yolo) == []


def test_skipped_category_records_are_left_out_of_the_written_file(tmp_path):
    """With ``on_invalid="skip"`` a category without an integer id, or with one already
    seen, is an issue and is not written back; the others keep their order and values."""
    document = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}, "junk", {"id": 1, "name": "dup"}, {"id": "x"},
                       {"name": "noid"}, {"id": 2, "name": "b"}, {"id": 3.0, "name": "f"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}],
    }  # fmt: skip
    path = tmp_path / "a.json"
    path.write_text(json.dumps(document))
    annotations = read_annotations(path, on_invalid="skip")
    assert annotations.categories == {1: "a", 2: "b", 3: "f"}
    assert [f"{i.record}: {i.message}" for i in annotations.issues] == [
        "categories[1]: category has no integer 'id'",
        "category id 1: duplicate category id",
        "categories[3]: category has no integer 'id'",
        "categories[4]: category has no integer 'id'",
    ]
    changes = Changes.none(annotations)
    changes.boxes[0] = [1, 1, 5, 5]
    written = json.loads(render(annotations, changes))
    assert written["categories"] == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"},
                                     {"id": 3.0, "name": "f"}]  # fmt: skip


def test_a_lazily_read_file_names_a_bad_box_by_its_record_id(tmp_path, monkeypatch):
    """Read lazily, a record is parsed again from its span to name it: the same issue as
    the whole-file reading gives."""
    from noisybox.formats import coco

    document = coco_document(images=2, boxes_per_image=2, seed=3)
    document["annotations"][2]["bbox"] = [600, 10, 100, 50]  # past the 640 px edge
    path = write_coco(tmp_path / "a.json", document)
    monkeypatch.setattr(coco, "LAZY_FROM_BYTES", 0)
    lazy = coco.read_coco(path)
    assert lazy.source.items is not None
    expected = (f"{path}: annotation id {document['annotations'][2]['id']}: box lies outside "
                "its image (x1=600, y1=10, x2=700, y2=60; image 640x480)")  # fmt: skip
    assert [str(issue) for issue in lazy.issues] == [expected]
    assert [str(issue) for issue in coco._read_whole(path).issues] == [expected]
    assert lazy.source.record(2) == document["annotations"][2]
    from noisybox.formats import FORMATS

    beyond = FORMATS["coco"].beyond(lazy)  # the records' keys read from the file
    assert "annotations[].segmentation" in beyond
    assert beyond == FORMATS["coco"].beyond(coco._read_whole(path))


def test_a_nan_corner_is_named_in_the_issue(tmp_path):
    path = tmp_path / "a.json"
    document = coco_document(images=1, boxes_per_image=2)
    document["annotations"][0]["bbox"] = [1, float("nan"), 3, 4]
    path.write_text(json.dumps(document))
    (issue,) = read_annotations(path, on_invalid="keep").issues
    assert issue.message == (
        "box has a NaN or infinite coordinate (x1=1, y1=nan, x2=4, y2=nan; image 640x480)"
    )


def test_whole_numbers_are_written_as_integers_while_floats_hold_them_exactly():
    from noisybox.formats._common import number_text, whole_or_float

    assert [type(whole_or_float(v)) for v in (48.0, 200.0, 2.0**53 - 1, -(2.0**53) + 1)] == [
        int
    ] * 4
    assert whole_or_float(200.0) == 200 and whole_or_float(2.0**53 - 1) == 2**53 - 1
    for beyond in (2.0**53, 2.0**53 + 2, -(2.0**53), 1e300, 40.5):
        assert type(whole_or_float(beyond)) is float and whole_or_float(beyond) == beyond
    assert [number_text(v) for v in (48.0, 40.5, 0.1, 2.0**53)] == [
        "48", "40.5", "0.1", "9007199254740992.0",
    ]  # fmt: skip


def test_writing_over_an_existing_output_needs_overwrite(tmp_path):
    source = write_coco(tmp_path / "in.json")
    annotations = read_annotations(source)
    out = tmp_path / "out.json"
    out.write_text("mine")
    with pytest.raises(NoisyboxError, match="exists"):
        write_annotations(annotations, Changes.none(annotations), out)
    assert out.read_text() == "mine"
    write_annotations(annotations, Changes.none(annotations), out, overwrite=True)
    assert out.read_bytes() == source.read_bytes()


def test_each_bad_coco_record_is_named_and_the_good_ones_read_around_it(tmp_path):
    """The record-by-record parse: every problem an issue naming the record (by id where it
    has one) and its row; the rows after a bad one still read."""
    from noisybox.keys import integer_keys, text_key

    good = {"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]}
    records = [
        "not a record",
        dict(good),  # no id
        dict(good, id=5),  # iscrowd left out: 0
        dict(good, id=5.0),  # 5.0 is 5
        dict(good, id="t7", image_id=99),
        dict(good, id=8, category_id=42),
        dict(good, id=9, iscrowd=2),
        dict(good, id=10, bbox=[1, 2, 3]),
        dict(good, id="t11", iscrowd=1, bbox=[0, 0, 10, 20]),
        dict(good, id=12, image_id=2),
    ]
    document = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in (1, 2)],
        "categories": [{"id": 3, "name": "c"}],
        "annotations": records,
    }
    path = tmp_path / "a.json"
    path.write_text(json.dumps(document))
    annotations = read_annotations(path, on_invalid="keep")
    assert [(i.file, i.record, i.message, i.row) for i in annotations.issues] == [
        (str(path), "annotations[0]", "annotation is not a JSON object", 0),
        (str(path), "annotations[1]", "annotation has no 'id'", 1),
        (str(path), "annotation id 5", "duplicate annotation id", 3),
        (str(path), "annotation id t7", "unknown image_id 99", 4),
        (str(path), "annotation id 8", "unknown category_id 42", 5),
        (str(path), "annotation id 9", "iscrowd must be 0 or 1; got 2", 6),
        (str(path), "annotation id 10", "bbox must be 4 numbers [x, y, width, height]; got "
         "[1, 2, 3]", 7),
    ]  # fmt: skip
    assert annotations.valid.tolist() == [False] * 2 + [True] + [False] * 5 + [True] * 2
    assert annotations.category.tolist() == [-1, -1, 3, -1, -1, -1, 3, 3, 3, 3]
    assert annotations.image.tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert annotations.crowd.tolist() == [False] * 8 + [True, False]
    keys = annotations.key
    assert keys.dtype == np.uint64 and keys[[0, 1, 3]].tolist() == [0, 0, 0]
    assert keys[[2, 5, 6, 7, 9]].tolist() == integer_keys([5, 8, 9, 10, 12]).tolist()
    assert keys[[4, 8]].tolist() == [text_key("t7"), text_key("t11")]
    assert annotations.boxes[[2, 8]].tolist() == [[1, 2, 4, 6], [0, 0, 10, 20]]
    assert np.isnan(annotations.boxes[[0, 1, 3, 4, 5, 6, 7]]).all()


def test_voc_writes_new_objects_in_the_file_s_layout_and_encoding(tmp_path):
    """A spurious box is a whole ``<object>`` indented as its siblings; a changed box of a
    dataset with fractional corners gets two decimals; a file is written back in the
    encoding it declares, or without a declaration when it had none."""
    object_ = ("\t<object>\n\t\t<name>{}</name>\n\t\t<bndbox>\n\t\t\t<xmin>{}</xmin>\n"
               "\t\t\t<ymin>10</ymin>\n\t\t\t<xmax>20</xmax>\n\t\t\t<ymax>20</ymax>\n"
               "\t\t</bndbox>\n\t</object>\n")  # fmt: skip
    head = "<annotation>\n\t<filename>{}.jpg</filename>\n\t<size><width>100</width>" \
        "<height>80</height></size>\n"  # fmt: skip
    (tmp_path / "a.xml").write_text(
        head.format("a") + object_.format("cat", 10) + "</annotation>\n"
    )
    (tmp_path / "b.xml").write_bytes(
        ("<?xml version='1.0' encoding='iso-8859-1'?>\n" + head.format("b")
         + object_.format("chèvre", 10.5) + "</annotation>\n").encode("latin-1")
    )  # fmt: skip
    annotations = read_annotations(tmp_path)
    assert annotations.categories == {0: "cat", 1: "chèvre"}
    changes = Changes.none(annotations)
    changes.added_image, changes.added_category = np.array([0]), np.array([1])
    changes.added_boxes = np.array([[30.0, 40.0, 50.25, 60.0]])
    changes.boxes[1] = [1.234, 2.5, 3.0, 4.999]
    written = render(annotations, changes)
    assert written["a.xml"] == (
        head.format("a") + object_.format("cat", 10)
        + "\t<object>\n\t\t<name>chèvre</name>\n\t\t<pose>Unspecified</pose>\n"
        "\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
        "\t\t\t<xmin>30</xmin>\n\t\t\t<ymin>40</ymin>\n\t\t\t<xmax>50.25</xmax>\n"
        "\t\t\t<ymax>60</ymax>\n\t\t</bndbox>\n\t</object>\n</annotation>\n"
    ).encode()  # fmt: skip
    assert written["b.xml"] == (
        "<?xml version='1.0' encoding='iso-8859-1'?>\n" + head.format("b")
        + object_.format("chèvre", 1.23).replace("<ymin>10<", "<ymin>2.5<")
        .replace("<xmax>20<", "<xmax>3<").replace("<ymax>20<", "<ymax>5<")
        + "</annotation>\n"
    ).encode("latin-1")  # fmt: skip


@pytest.mark.parametrize(
    ("integer", "boxes", "expected"),
    [
        (True, [[1.4, 2.6, 1.45, 2.4]], [[1, 3, 2, 4]]),  # at least one pixel each way
        (True, [[10.5, 20.2, 30.7, 40.0]], [[10, 20, 31, 40]]),  # numpy rounds half to even
        (False, [[1.234, 2.5, 1.3, 2.666]], [[1.23, 2.5, 1.3, 2.67]]),
    ],
)
def test_voc_boxes_quantize_to_what_the_file_can_hold(integer, boxes, expected):
    from types import SimpleNamespace

    from noisybox.formats.voc import quantize_voc

    annotations = SimpleNamespace(source=SimpleNamespace(integer_coordinates=integer))
    assert quantize_voc(annotations, np.array(boxes)).tolist() == expected


def test_spurious_coco_records_follow_the_largest_id_on_kept_images_only(tmp_path):
    document = coco_document(images=3, boxes_per_image=1, seed=2)
    for record in document["annotations"]:
        record["iscrowd"] = 0
    path = write_coco(tmp_path / "a.json", document)
    annotations = read_annotations(path)
    changes = Changes.none(annotations)
    changes.keep_image[1] = False
    changes.added_image, changes.added_category = np.array([1, 2]), np.array([3, 7])
    changes.added_boxes = np.array([[1.0, 2.0, 4.0, 8.0], [10.0, 20.0, 15.5, 30.0]])
    written = json.loads(render(annotations, changes))
    largest = max(record["id"] for record in document["annotations"])
    assert written["annotations"][-1] == {
        "id": largest + 2, "image_id": 102, "category_id": 7, "bbox": [10.0, 20.0, 5.5, 10.0],
        "area": 55.0, "iscrowd": 0,
    }  # fmt: skip
    assert [r["image_id"] for r in written["annotations"]] == [100, 102, 102]


def test_a_json_file_that_does_not_parse_is_named(tmp_path):
    from noisybox.formats.coco import load_json

    path = tmp_path / "broken.json"
    path.write_text('{"images": [')
    with pytest.raises(NoisyboxError, match=r"broken\.json: not valid JSON: "):
        load_json(path)


def test_voc_new_objects_fit_compact_and_single_child_files(tmp_path):
    """Without whitespace between elements a new object starts a line of its own; after a
    lone child it takes the indentation before that child."""
    box = "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>"
    (tmp_path / "a.xml").write_text(
        f"<annotation><filename>a.jpg</filename><size><width>20</width><height>20</height>"
        f"</size><object><name>cat</name>{box}</object></annotation>"
    )
    (tmp_path / "b.xml").write_text(
        f"<annotation>\n  <object><name>cat</name>{box}</object>\n</annotation>\n"
    )
    (tmp_path / "c.xml").write_text(  # two children, indented differently
        f"<annotation>\n <filename>c.jpg</filename>\n   <object><name>cat</name>{box}</object>"
        "\n</annotation>\n"
    )
    annotations = read_annotations(tmp_path, images_dir=None, on_invalid="keep")
    changes = Changes.none(annotations)
    changes.added_image, changes.added_category = np.array([0, 1, 2]), np.array([0, 0, 0])
    changes.added_boxes = np.array([[2.0, 2.0, 5.0, 5.0]] * 3)
    written = render(annotations, changes)
    new = ("<object>\n\t\t<name>cat</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0"
           "</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>2</xmin>\n"
           "\t\t\t<ymin>2</ymin>\n\t\t\t<xmax>5</xmax>\n\t\t\t<ymax>5</ymax>\n\t\t</bndbox>\n"
           "\t</object>")  # fmt: skip
    assert written["a.xml"].decode().endswith(f"{box}</object>\n{new}</annotation>\n")
    assert written["b.xml"].decode() == (
        f"<annotation>\n  <object><name>cat</name>{box}</object>\n  {new}\n</annotation>\n"
    )
    assert written["c.xml"].decode().endswith(f"{box}</object>\n   {new}\n</annotation>\n")


def test_voc_files_are_rewritten_only_where_something_changed(tmp_path):
    """A file with nothing to change is copied byte for byte (its quoting, its spacing);
    one that lost an invalid object (``on_invalid="skip"``) is rewritten without it; an
    integer dataset's corners are whole pixels, rounded."""
    obj = ("<object><name>cat</name><bndbox><xmin>{}</xmin><ymin>1</ymin><xmax>{}</xmax>"
           "<ymax>9</ymax></bndbox></object>")  # fmt: skip
    head = "<annotation verified='yes'><filename>{}.jpg</filename><size><width>20</width>" \
        "<height>20</height></size>"  # fmt: skip
    (tmp_path / "a.xml").write_text(head.format("a") + obj.format(1, 9) + "</annotation>")
    (tmp_path / "b.xml").write_text(
        head.format("b") + obj.format(1, 9) + obj.format(5, 5) + "</annotation>"
    )  # the second object of b has no width: invalid
    (tmp_path / "c.xml").write_text(head.format("c") + obj.format(2, 8) + "</annotation>")
    annotations = read_annotations(tmp_path, on_invalid="skip")
    assert annotations.record.tolist() == [0, 1, 3]
    changes = Changes.none(annotations)
    changes.boxes[2] = [1.4, 1.0, 8.6, 9.0]  # c's box, not quantized
    written = render(annotations, changes)
    assert written["a.xml"] == (tmp_path / "a.xml").read_bytes()
    assert (
        written["b.xml"]
        == (
            head.format("b").replace("'yes'", '"yes"') + obj.format(1, 9) + "</annotation>\n"
        ).encode()
    )
    assert b"<xmin>1</xmin>" in written["c.xml"] and b"<xmax>9</xmax>" in written["c.xml"]


def test_what_stands_before_a_voc_file_s_root_is_written_back_as_it_was(tmp_path):
    """Declaration, processing instructions, comments, a byte order mark and the line
    breaks between them (the XML parser keeps none of them); the encoding is the
    declaration's, not a processing instruction's."""
    body = ("<annotation><filename>a.jpg</filename><size><width>20</width><height>20</height>"
            "</size><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax>"
            "<ymax>9</ymax></bndbox></object></annotation>")  # fmt: skip
    cases = {
        "plain": b"",
        "pi": b"<?xml-stylesheet href='a.xsl' encoding='latin-1'?>\n",
        "all": b"\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>\r\n<!-- made by hand <a> -->"
               b"\n<?xml-stylesheet href='a.xsl'?>\n",
        "latin": b"<?xml version='1.0' encoding='iso-8859-1'?>",
    }  # fmt: skip
    for name, prolog in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "a.xml").write_bytes(prolog + body.replace("cat", "chèvre").encode(
            "latin-1" if name == "latin" else "utf-8"))  # fmt: skip
        annotations = read_annotations(folder)
        changes = Changes.none(annotations)
        changes.boxes[0] = [2.0, 2.0, 8.0, 8.0]
        written = render(annotations, changes)["a.xml"]
        expected = body.replace("cat", "chèvre").replace(">1<", ">2<").replace(">9<", ">8<")
        assert written == prolog + expected.encode(
            "latin-1" if name == "latin" else "utf-8") + b"\n", name  # fmt: skip


def test_image_lists_are_for_voc_folders_and_formats_are_named(tmp_path):
    path = write_coco(tmp_path / "a.json")
    listed = tmp_path / "train.txt"
    listed.write_text("img0\n")
    with pytest.raises(NoisyboxError) as raised:
        read_annotations(path, split=listed)
    assert str(raised.value) == f"{path}: an image list applies to VOC folders only"
    voc = write_voc(tmp_path / "voc", files=2)
    listed.write_text("000001\n")
    assert read_annotations(voc, split=listed).image_name == ["000001.jpg"]
    with pytest.raises(NoisyboxError, match=r"^format must be one of coco, voc, yolo; got 'x'"):
        read_annotations(path, "x")


def test_each_bad_voc_object_and_size_is_named_and_the_rest_read(tmp_path):
    """VOC reading, worked by hand: names, difficult marks, the image name defaulting to
    the file's, integer or fractional corners, and an issue for each bad size and object."""
    from noisybox.keys import text_key

    def obj(name, box, difficult=None):
        mark = "" if difficult is None else f"<difficult> {difficult} </difficult>"
        named = zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True)
        corners = "".join(f"<{c}>{v}</{c}>" for c, v in named if v is not None)
        name = "" if name is None else f"<name> {name} </name>"
        return f"<object>{name}{mark}<bndbox>{corners}</bndbox></object>"

    def write(file, size, *objects, filename="<filename>x.png</filename>"):
        (tmp_path / file).write_text(f"<annotation>{filename}{size}{''.join(objects)}</annotation>")

    write("a.xml", "<size><width>100</width><height>50</height></size>",
          obj("dog", (10, 5, 20, 15)), obj("cat", (1, 2, 3, 4), difficult=1),
          obj(None, (4, 4, 8, 8)), obj("cat", ("x", 1, None, 9)), obj("cat", (90, 10, 140, 20)),
          filename="")  # fmt: skip
    write("b.xml", "<size><width>0</width><height>50</height></size>", obj("dog", (1, 1, 5, 5)))
    write("c.xml", "<size><width>60</width><height>inf</height></size>",
          obj("cow", (1.5, 1, 5, 5), difficult=0))  # fmt: skip
    annotations = read_annotations(tmp_path, on_invalid="keep")
    a, b, c = (str(tmp_path / f"{name}.xml") for name in "abc")
    assert [(i.file, i.record, i.message, i.row, i.image) for i in annotations.issues] == [
        (a, "object 3 (no name)", "object has no <name>", 2, 0),
        (a, "object 4 (cat)", "bndbox lacks a numeric xmin, xmax", 3, 0),
        (b, "<size>", "missing, non-positive or infinite image width/height (pass "
         "`images_dir=DIR` to read it from the image)", None, 1),
        (c, "<size>", "missing, non-positive or infinite image width/height (pass "
         "`images_dir=DIR` to read it from the image)", None, 2),
        (a, "object 5 (cat)", "box lies outside its image (x1=90, y1=10, x2=140, y2=20; "
         "image 100x50)", 4, 0),
    ]  # fmt: skip
    assert annotations.image_name == ["a.jpg", "x.png", "x.png"]  # a.xml names none
    assert annotations.image_key.tolist() == [text_key(f"{n}.xml") for n in "abc"]
    assert annotations.key.tolist() == [text_key(f"a.xml#{i}") for i in range(5)] + [
        text_key("b.xml#0"), text_key("c.xml#0"),
    ]  # fmt: skip
    assert annotations.categories == {0: "cat", 1: "cow", 2: "dog"}
    assert annotations.category.tolist() == [2, 0, -1, 0, 0, 2, 1]
    assert annotations.crowd.tolist() == [False, True, False, False, False, False, False]
    assert annotations.image.tolist() == [0, 0, 0, 0, 0, 1, 2]
    assert np.isnan(annotations.boxes[3]).all() and annotations.boxes[6].tolist() == [1.5, 1, 5, 5]
    assert annotations.image_size[0].tolist() == [100, 50]
    assert np.isnan(annotations.image_size[1:]).all()
    assert annotations.source.integer_coordinates is False  # c.xml's 1.5
    write("d.xml", "<size><width>60</width><height>60</height></size>", obj("dog", (-1, 1, 5, 5)))
    assert read_annotations(tmp_path, on_invalid="keep").source.integer_coordinates is False
    (tmp_path / "c.xml").unlink()  # d's -1 is a whole number too
    assert read_annotations(tmp_path, on_invalid="keep").source.integer_coordinates is True
    images = tmp_path / "images"
    images.mkdir()
    read = read_annotations(tmp_path / "b.xml", images_dir=images, on_invalid="keep")
    (issue,) = read.issues
    assert (issue.file, issue.record, issue.image) == (b, "<size>", 0)
    assert issue.message.startswith("no <size>, and ")
    assert read_annotations(tmp_path / "a.xml", on_invalid="keep").source.single_file


def test_a_voc_class_flip_renames_the_object_and_leaves_the_source_tree_alone(tmp_path):
    folder = write_voc(tmp_path / "voc", files=1)
    annotations = read_annotations(folder)
    names = [annotations.categories[int(c)] for c in annotations.category]
    other = {v: k for k, v in annotations.categories.items()}
    flipped = "horse" if names[0] == "person" else "person"
    changes = Changes.none(annotations)
    changes.category[0] = other[flipped]
    first = render(annotations, changes)["000000.xml"].decode()
    assert first.count(f"<name>{flipped}</name>") == 1 + names[1:].count(flipped)
    assert (
        render(annotations, Changes.none(annotations))["000000.xml"]
        == (folder / "000000.xml").read_bytes()
    )  # the first write changed a copy of the tree, not the source's
    changes = Changes.none(annotations)
    changes.boxes[0] += 1
    text = render(annotations, changes)["000000.xml"].decode()
    assert text.count(f"<name>{names[0]}</name>") == names.count(names[0])  # name kept
    changes = Changes.none(annotations)
    changes.keep[0] = False
    assert render(annotations, changes)["000000.xml"].decode().count("<object>") == 1
    changes = Changes.none(annotations)
    changes.boxes[1] += 1
    assert render(annotations, changes)["000000.xml"].decode().count("<object>") == 2


def test_voc_xml_is_parsed_safely_and_its_failures_named(tmp_path):
    """A bare DTD is refused as entities are (defusedxml); broken XML and an empty folder
    are named; a processing instruction inside the file survives a rewrite."""
    box = "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>"
    body = (f"<annotation><?app keep?><size><width>20</width><height>20</height></size>"
            f"<object><name>cat</name>{box}</object></annotation>")  # fmt: skip
    cases = {
        "dtd.xml": ("<!DOCTYPE annotation>" + body,
                    "refusing XML with a DTD or entities (DTDForbidden); VOC files need neither"),
        "broken.xml": ("<annotation><object>", "not well-formed XML: "),
    }  # fmt: skip
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(NoisyboxError) as raised:
            read_annotations(tmp_path / name)
        assert str(raised.value).startswith(f"{tmp_path / name}: {message}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoisyboxError) as raised:
        read_annotations(empty, "voc")
    assert str(raised.value) == f"{empty}: no .xml annotation files in this folder"
    (tmp_path / "one.xml").write_text(body)
    annotations = read_annotations(tmp_path / "one.xml")
    changes = Changes.none(annotations)
    changes.boxes[0] = [2.0, 2.0, 8.0, 8.0]
    written = render(annotations, changes)  # a single file: its bytes
    assert written.startswith(b"<annotation><?app keep?><size>") and b"<xmin>2</xmin>" in written
    changes.keep_image[0] = False
    with pytest.raises(NoisyboxError) as raised:
        render(annotations, changes)
    assert str(raised.value) == f"{tmp_path / 'one.xml'}: nothing valid is left to write"


@pytest.mark.parametrize("indent", [None, 2])
def test_a_coco_file_orjson_cannot_write_is_written_by_python_s_json(tmp_path, indent):
    """NaN (and integers beyond 64 bits) are read by Python's json; such a file is written
    back by it too, in its own layout (indented or not), NaN as NaN, never as null."""
    document = coco_document(images=2, boxes_per_image=2, seed=4)
    document["info"]["score"] = float("nan")
    document["info"]["big"] = 2**70
    path = tmp_path / "a.json"
    path.write_text(json.dumps(document, indent=indent))
    annotations = read_annotations(path)
    assert not annotations.source.standard_json
    changes = Changes.none(annotations)
    changes.boxes[0] = [1.0, 2.0, 11.0, 22.0]
    written = render(annotations, changes)
    assert written.startswith(b"{\n  ") == (indent is not None)
    expected = json.loads(path.read_text())
    expected["annotations"][0]["bbox"] = [1.0, 2.0, 10.0, 20.0]
    expected["annotations"][0]["area"] = 200.0
    back = json.loads(written)
    assert math.isnan(back["info"].pop("score")) and back["info"]["big"] == 2**70
    expected["info"].pop("score")
    assert back == expected


def test_each_bad_coco_image_and_category_is_named_and_the_rest_read(tmp_path):
    """COCO's images and categories, worked by hand: ids to the last of 64 bits, names
    defaulting to ids, sizes that must be positive and finite, records without ids."""
    from noisybox.keys import integer_keys, text_key

    images = [
        {"id": 1, "file_name": "a.jpg", "width": 10, "height": 10},
        {"id": 2, "file_name": "b.jpg", "width": 0, "height": 10},
        {"id": 3, "file_name": "c.jpg", "width": 10, "height": 0},
        {"id": 4, "width": 0.5, "height": float("inf")},
        {"file_name": "e.jpg", "width": 10, "height": 10},
        "not a record",
        {"id": "t", "file_name": "t.jpg", "width": 0.5, "height": 0.5},
    ]
    categories = [{"id": -(2**63), "name": "low"}, {"id": 2**63 - 1}, {"id": 2**63},
                  {"id": -(2**63) - 1}, {"id": 7, "name": "seven"}]  # fmt: skip
    document = {"images": images, "categories": categories, "annotations": [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 1, 2, 2]}]}  # fmt: skip
    path = tmp_path / "a.json"
    path.write_text(json.dumps(document))
    read = read_annotations(path, on_invalid="keep")
    issues = [(i.record, i.message, i.image) for i in read.issues]
    sizes = "image has no positive, finite 'width' and 'height'"
    assert issues == [
        ("categories[2]", "category id beyond 64 bits", None),
        ("categories[3]", "category id beyond 64 bits", None),
        ("image id 2", sizes, 1), ("image id 3", sizes, 2), ("image id 4", sizes, 3),
        ("images[4]", "image has no 'id'", 4), ("images[5]", "image has no 'id'", 5),
    ]  # fmt: skip
    assert read.categories == {-(2**63): "low", 2**63 - 1: str(2**63 - 1), 7: "seven"}
    assert read.image_name == ["a.jpg", "b.jpg", "c.jpg", "4", "e.jpg", "", "t.jpg"]
    assert read.image_size[[0, 6]].tolist() == [[10, 10], [0.5, 0.5]]
    assert np.isnan(read.image_size[1:6]).all()
    assert read.image_key.dtype == np.uint64
    assert read.image_key[:4].tolist() == integer_keys([1, 2, 3, 4]).tolist()
    assert read.image_key[6] == text_key("t") and read.image_key[4] == read.image_key[5] == 0
    del document["categories"]  # optional: then no annotation has a known class
    path.write_text(json.dumps(document))
    assert read_annotations(path, on_invalid="keep").categories == {}
    document["categories"] = {"id": 1}
    path.write_text(json.dumps(document))
    with pytest.raises(NoisyboxError) as raised:
        read_annotations(path)
    assert str(raised.value) == f"{path}: 'categories' must be a list of records"


def test_coco_records_without_iscrowd_are_not_crowd_on_every_reading_path(tmp_path, monkeypatch):
    from noisybox.formats import coco

    document = coco_document(images=2, boxes_per_image=3, seed=1)
    for record in document["annotations"]:
        del record["iscrowd"]
    path = write_coco(tmp_path / "a.json", document)
    assert not read_annotations(path).crowd.any()  # parsed whole, the regular fast path
    monkeypatch.setattr(coco, "LAZY_FROM_BYTES", 0)
    lazy = read_annotations(path)
    assert lazy.source.items is not None and not lazy.crowd.any()


def test_box_issues_at_the_edges_of_the_tolerance():
    """Worked by hand, image 100 × 50 px, tolerance 1 px: a box may reach 1 px past each
    edge, not 1.5; an empty box is one issue (never also 'outside')."""
    from noisybox.formats._common import box_issues

    boxes = np.array([
        [0, 0, 10, 10], [-1, -1, 101, 51],  # inside, at the tolerance
        [-1.5, 0, 10, 10], [0, -1.5, 10, 10], [0, 0, 101.5, 10], [0, 0, 10, 51.5],  # outside
        [0, 0, 10, 0], [0, 10, 5, 5], [200, 0, 200, 10],  # empty (the last one outside too)
        [np.nan, 0, 1, 1],
    ], dtype=float)  # fmt: skip
    found = box_issues(
        boxes, np.array([[100.0, 50.0]]), lambda row: ("f", f"r{row}"),
        np.ones(len(boxes), bool), np.zeros(len(boxes), np.int64), 1.0,
    )  # fmt: skip
    kinds = {i.row: i.message.split(" (")[0] for i in found}
    assert len(found) == len(kinds) == 8
    outside, empty = "box lies outside its image", "box has zero or negative width or height"
    assert kinds == {2: outside, 3: outside, 4: outside, 5: outside, 6: empty, 7: empty,
                     8: empty, 9: "box has a NaN or infinite coordinate"}  # fmt: skip
