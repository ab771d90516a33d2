"""YOLO labels, line by line: what reading holds and what writing changes, worked by hand."""

import numpy as np
import pytest

from noisybox.annotations import Changes
from noisybox.errors import NoisyboxError
from noisybox.formats import read_annotations, render
from noisybox.formats.yolo import read_yolo
from noisybox.keys import text_key

EXPECTED_LINE = "expected 'class cx cy w h' with an integer class in [0, 2^31) and 4 numbers"


@pytest.fixture
def labels(tmp_path):
    """Two label files; classes.txt one level up (read, not copied), one name not UTF-8."""
    (tmp_path / "classes.txt").write_bytes(b"cat\n\xff dog\n\n")
    root = tmp_path / "labels"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"\n0 0.5 0.5 0.2 0.4\nbad line here\n3 0.1 0.1 0.1 0.1\r\n")
    (root / "sub" / "b.txt").write_bytes(
        b"2147483648 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1\n-1 0.5 0.5 0.1 0.1\n1.5 0.5 0.5 0.1 0.1\n"
        b"2147483647 0.5 0.5 0.1 0.1\n\xff\xfe 1\n0 0.5 0.5 0.2 0.2"
    )
    return root


def test_every_line_becomes_a_row_and_every_bad_line_an_issue_naming_it(labels):
    annotations = read_yolo(labels)
    a, b = str(labels / "a.txt"), str(labels / "sub" / "b.txt")
    # rows in file order, blank lines skipped but counted in the line numbers
    assert annotations.image.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert annotations.image_name == ["a.txt", "sub/b.txt"]
    assert annotations.record.tolist() == list(range(10))
    lines = [("a.txt", n) for n in (1, 2, 3)] + [("sub/b.txt", n) for n in range(7)]
    assert annotations.key.dtype == np.uint64 and annotations.image_key.dtype == np.uint64
    assert annotations.key.tolist() == [text_key(f"{file}#{n}") for file, n in lines]
    assert annotations.image_key.tolist() == [text_key("a.txt"), text_key("sub/b.txt")]
    assert annotations.category.tolist() == [0, -1, 3, -1, -1, -1, -1, 2**31 - 1, -1, 0]
    boxes = annotations.boxes
    assert boxes[0].tolist() == pytest.approx([0.4, 0.3, 0.6, 0.7])
    assert boxes[9].tolist() == pytest.approx([0.4, 0.4, 0.6, 0.6])
    assert np.isnan(boxes[[1, 3, 4, 5, 6, 8]]).all() and not np.isnan(boxes[[0, 2, 7, 9]]).any()
    assert annotations.valid.all() and not annotations.crowd.any()
    assert annotations.units == "normalized" and annotations.image_size.tolist() == [[1, 1]] * 2
    # names from the parent's classes.txt (an undecodable byte replaced), the rest by number
    assert annotations.categories == {0: "cat", 1: "\ufffd dog", 3: "3", 2**31 - 1: "2147483647"}
    assert annotations.source.extra_files == {}  # not below the labels folder: not copied
    issues = [(i.file, i.record, i.message, i.row, i.image) for i in annotations.issues]
    got = f"{EXPECTED_LINE}; got "
    assert issues == [
        (a, "line 3", got + "'bad line here'", 1, 0),
        (b, "line 1", got + "'2147483648 0.5 0.5 0.1 0.1'", 3, 1),
        (b, "line 2", got + "'1 0.5 0.5 0.1'", 4, 1),
        (b, "line 3", got + "'-1 0.5 0.5 0.1 0.1'", 5, 1),
        (b, "line 4", got + "'1.5 0.5 0.5 0.1 0.1'", 6, 1),
        (b, "line 6", got + "'\ufffd\ufffd 1'", 8, 1),
    ]


def test_classes_without_a_name_are_named_by_their_number_class_0_too(tmp_path):
    (tmp_path / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n4 0.5 0.5 0.2 0.2\n")
    annotations = read_yolo(tmp_path)
    assert annotations.categories == {0: "0", 4: "4"}
    (tmp_path / "classes.txt").write_text("zero\n")
    annotations = read_yolo(tmp_path)
    assert annotations.categories == {0: "zero", 4: "4"}
    assert annotations.source.extra_files == {"classes.txt": b"zero\n"}  # copied along


def test_a_box_sticking_out_of_the_image_is_an_issue_naming_its_line(tmp_path):
    (tmp_path / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.95 0.5 0.2 0.2\n")
    issues = read_yolo(tmp_path).issues
    assert [(i.record, i.row, i.image) for i in issues] == [("line 2", 1, 0)]
    assert issues[0].file == str(tmp_path / "x.txt")


def test_a_labels_folder_without_boxes_or_a_file_is_refused_by_name(tmp_path):
    (tmp_path / "a.txt").write_text("\n\n")
    (tmp_path / "b.txt").write_text("")
    with pytest.raises(NoisyboxError, match=r"^.*: the dataset is empty \(no boxes in 2 label"):
        read_yolo(tmp_path)
    with pytest.raises(NoisyboxError, match=r"a\.txt: YOLO labels are a folder of \.txt files$"):
        read_yolo(tmp_path / "a.txt")


def test_writing_drops_rewrites_and_appends_lines_as_told(tmp_path):
    """Kept lines byte for byte; a left-out box's line emptied; a changed line rewritten
    with its own line ending (a line without one gets ``\\n``); added boxes after the file's
    lines, a newline put first where its last line had none; a left-out image not written."""
    (tmp_path / "a.txt").write_bytes(
        b"0 0.5 0.5 0.2 0.4\r\n1 0.1 0.1 0.1 0.1\r\nbad\r\n2 0.3 0.3 0.2 0.2"
    )
    (tmp_path / "b.txt").write_bytes(b"0 0.5 0.5 0.5 0.5\n0 0.4 0.4 0.2 0.2\n1 0.5 0.5 0.2 0.2")
    (tmp_path / "c.txt").write_bytes(b"1 0.5 0.5 0.5 0.5\n")
    (tmp_path / "d.txt").write_bytes(b"1 0.25 0.5 0.5 0.5")
    annotations = read_annotations(tmp_path, on_invalid="skip")  # "bad" left out
    assert annotations.record.tolist() == [0, 1, 3, 4, 5, 6, 7, 8]
    changes = Changes.none(annotations)
    changes.keep[0] = changes.keep[1] = False  # a.txt's "0 0.5 …" and "1 0.1 …"
    changes.boxes[2] = [0.1, 0.2, 0.3, 0.6]  # a.txt's last line, no line ending
    changes.category[3] = 2  # b.txt's first line
    changes.keep_image[2] = False  # c.txt
    changes.added_image = np.array([0, 0, 1])
    changes.added_category = np.array([5, 6, 0])
    changes.added_boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0, 0, 1, 1.0]])
    written = render(annotations, changes)
    assert sorted(written) == ["a.txt", "b.txt", "d.txt"]
    assert written["a.txt"] == (
        b"2 0.200000 0.400000 0.200000 0.400000\n"
        b"5 0.250000 0.250000 0.500000 0.500000\n"
        b"6 0.750000 0.750000 0.500000 0.500000\n"
    )
    assert written["b.txt"] == (
        b"2 0.500000 0.500000 0.500000 0.500000\n0 0.4 0.4 0.2 0.2\n1 0.5 0.5 0.2 0.2\n"
        b"0 0.500000 0.500000 1.000000 1.000000\n"
    )
    assert written["d.txt"] == b"1 0.25 0.5 0.5 0.5"  # nothing added: left as it was


def test_a_labels_folder_without_label_files_or_with_an_image_list_is_refused(tmp_path):
    (tmp_path / "classes.txt").write_text("cat\n")
    with pytest.raises(NoisyboxError) as raised:
        read_yolo(tmp_path)
    assert str(raised.value) == f"{tmp_path}: no .txt label files below this folder"
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(NoisyboxError) as raised:
        read_annotations(tmp_path, split=tmp_path / "a.txt")
    assert str(raised.value) == f"{tmp_path}: an image list applies to VOC folders only"
