"""The lazy COCO reading: the structural scan of a JSON file (noisybox.formats.json_layout)
against a real JSON parser, and lazy reading/writing against the whole-file path."""

from __future__ import annotations

import json
import os
from itertools import pairwise
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noisybox.annotations import Changes
from noisybox.errors import NoisyboxError
from noisybox.formats import coco, read_annotations, render
from noisybox.formats.json_layout import array_items, read_items
from noisybox.noise import NoiseConfig, corrupt

from .datasets import coco_document, write_coco

#: strings that a scan for structure must not be fooled by
TRICKY = [
    'a "quoted" {brace} [bracket], comma',
    "ends with a backslash \\",
    '\\"',
    "\\\\",
    "]}],{[",
    "ünïcödé ✓ \u2028",
    "",
]


def _tricky_document(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    document = coco_document(images=6, boxes_per_image=4, seed=seed)
    for k, record in enumerate(document["annotations"]):
        text = TRICKY[k % len(TRICKY)]
        record["note"] = text
        record[text] = [text, {"nested": [[k, text]], text: None}]
        record["segmentation"] = [rng.uniform(0, 100, 6).round(2).tolist()]
    document["images"][0]["tricky"] = {"annotations": [1, 2, {"x": "]"}]}  # not top level
    document["info"][TRICKY[1]] = TRICKY[0]
    return document


def _encodings(document: dict) -> dict[str, bytes]:
    return {
        "orjson": orjson.dumps(document),
        "orjson-indented": orjson.dumps(document, option=orjson.OPT_INDENT_2),
        "json-ascii": json.dumps(document).encode(),
        "json-indented-4": json.dumps(document, indent=4, ensure_ascii=False).encode(),
        "json-spaced": json.dumps(document, separators=(" , ", " : ")).encode(),
    }


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 22])
def test_the_scan_finds_each_record_as_a_json_parser_does(tmp_path, block):
    """Reference: json.loads of the whole file; each span must parse to its record. Blocks
    of a few bytes put every quote, escape and bracket at a block's edge somewhere."""
    for seed in (0, 1) if block > 2 else (0,):
        document = _tricky_document(seed)
        encodings = _encodings(document)
        for name, data in encodings.items() if block > 2 else list(encodings.items())[::2]:
            path = tmp_path / f"{name}.json"
            path.write_bytes(data)
            items = array_items(path, "annotations", block=block)
            assert items is not None, name
            expected = json.loads(data)["annotations"]
            assert len(items.spans) == len(expected)
            assert data[items.start : items.start + 1] == b"["
            assert data[items.end - 1 : items.end] == b"]"
            for (start, end), record in zip(items.spans.tolist(), expected, strict=True):
                assert orjson.loads(data[start:end]) == record
            chunks = list(read_items(path, items, rows=5))
            assert [r for chunk in chunks for r in chunk] == expected
            assert [len(c) for c in chunks][:-1] == [5] * (len(chunks) - 1)


@pytest.mark.parametrize(
    "text",
    [
        '[{"annotations": []}]',  # not an object at the top
        '{"images": []}',  # no such key
        '{"annotations": {"a": 1}}',  # not an array
        '{"annotations": [[1, 2]]}',  # an array among the records
        '{"annotations": [{"id": 1}], "annotations": [{"id": 2}]}',  # the key twice
        '{"annotations": [{"id": 1}]',  # never closed
        '"{\\"annotations\\": [{}]}"',  # a string
    ],
)
def test_the_scan_declines_what_it_cannot_lay_out(tmp_path, text):
    path = tmp_path / "f.json"
    path.write_text(text)
    assert array_items(path, "annotations") is None


@pytest.mark.parametrize(
    "text",
    [
        '{"annotations": [{"id": 1}, 5, {"id": 2}]}',  # a number among the records
        '{"annotations": [{"id": 1} {"id": 2}]}',  # no comma
        '{"annotations": [{"id": 1},, {"id": 2}]}',  # two commas
        '{"annotations": [{"id": 1}, {"id": 2},]}',  # a trailing comma
        '{"annotations": [null, {"id": 1}]}',
    ],
)
def test_reading_the_records_refuses_what_a_parser_refuses(tmp_path, text):
    path = tmp_path / "f.json"
    path.write_text(text)
    items = array_items(path, "annotations")
    assert items is not None
    for rows in (1, 2, 10):
        with pytest.raises(ValueError):
            list(read_items(path, items, rows))


def _changes(annotations):
    changes, _ = corrupt(annotations, NoiseConfig(eta=0.2, drop=0.1, spurious=0.2), seed=3)
    changes.keep_image[1] = False
    return changes


@pytest.mark.parametrize("indent", [None, 2])
def test_lazy_and_whole_readings_agree_and_write_the_same_bytes(tmp_path, monkeypatch, indent):
    """The whole-file path (parse everything, as noisybox did before) is the reference for
    the lazy one, read and written in chunks of 3 records."""
    monkeypatch.setattr(coco, "RECORDS_PER_CHUNK", 3)
    monkeypatch.setattr(coco, "LAZY_FROM_BYTES", 0)
    path = write_coco(tmp_path / "a.json", _tricky_document(2), indent=indent)
    lazy, whole = coco.read_coco(path), coco._read_whole(path)
    assert lazy.source.items is not None and lazy.source.head["annotations"] == []
    assert whole.source.items is None
    for field in ("boxes", "image", "category", "key", "crowd", "record", "image_size"):
        np.testing.assert_array_equal(getattr(lazy, field), getattr(whole, field))
    assert lazy.image_name == whole.image_name and lazy.categories == whole.categories
    assert lazy.source.document() == whole.source.document() == json.loads(path.read_bytes())
    changes = _changes(whole)
    written = render(lazy, changes)
    assert written == render(whole, changes)
    assert written == render(whole, _changes(lazy))  # the noise is the same too
    document = json.loads(written)
    assert len(document["images"]) == len(whole.source.head["images"]) - 1
    assert written.startswith(b"{\n") == (indent is not None)
    unchanged = render(lazy, Changes.none(lazy))
    assert unchanged == path.read_bytes()


@pytest.mark.parametrize("indented", [False, True])
def test_the_record_pieces_are_what_orjson_writes_whole(indented):
    """Reference: orjson.dumps of the whole document, for any chunking of the records."""
    document = _tricky_document(4)
    records = document["annotations"]
    option = orjson.OPT_INDENT_2 if indented else 0
    head = {**document, "annotations": []}
    for cuts in ([], [0], [1, 1, 5], [len(records)], list(range(len(records)))):
        bounds = [0, *cuts, len(records)]
        chunks = [records[a:b] for a, b in pairwise(bounds)]
        written = b"".join(coco._orjson_pieces(head, iter(chunks), indented, Path("t.json")))
        assert written == orjson.dumps(document, option=option)
    empty = b"".join(coco._orjson_pieces(head, iter([[]]), indented, Path("t.json")))
    assert empty == orjson.dumps(head, option=option)


def test_only_large_files_are_read_lazily(tmp_path, monkeypatch):
    path = write_coco(tmp_path / "a.json", coco_document(images=5))
    assert coco.read_coco(path).source.items is None  # small: parsed whole, faster
    monkeypatch.setattr(coco, "LAZY_FROM_BYTES", path.stat().st_size)
    assert coco.read_coco(path).source.items is not None


def test_a_file_changed_after_reading_is_refused_when_written(tmp_path, monkeypatch):
    monkeypatch.setattr(coco, "LAZY_FROM_BYTES", 0)
    path = write_coco(tmp_path / "a.json", coco_document(images=5))
    annotations = read_annotations(path)
    changes, _ = corrupt(annotations, NoiseConfig(eta=0.2), seed=0)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"iscrowd": 0', b'"iscrowd":  0', 1))
    os.utime(path, ns=(1, 1))
    with pytest.raises(NoisyboxError, match="changed while noisybox was using it"):
        render(annotations, changes)


IM = (
    '"images":[{"id":1,"file_name":"a","width":100,"height":100},'
    '{"id":2,"file_name":"b","width":50,"height":60}]'
)
CA = '"categories":[{"id":1,"name":"c"}]'
R1 = '{"id":1,"image_id":1,"category_id":1,"bbox":[1,2,3,4]}'
R2 = '{"id":2,"image_id":2,"category_id":1,"bbox":[5,6,7,8],"area":56}'
DEEP_R2 = R2[:-1] + ',"x":' + "[" * 300 + "]" * 300 + "}"
ANN = '"annotations":'


def _doc(*parts: str) -> str:
    return "{" + ",".join(parts) + "}"


#: files on which the lazy reading once disagreed with the whole-file one (a differential
#: fuzz of the two found them)
DISAGREED = {
    "array closed by a brace": _doc(IM, ANN + "[" + R1 + "}", CA),
    "form feed before a record": _doc(IM, ANN + "[\f" + R1 + "]", CA),
    "vertical tab between records": _doc(IM, ANN + "[" + R1 + ",\v" + R2 + "]", CA),
    "a later scalar annotations": _doc(IM, ANN + "[" + R1 + "]", CA, ANN + "5"),
    "a key longer than the look-back": _doc(IM, CA, '"' + "X" * 5000 + '\\"' + ANN + f"[{R1}]"),
    "a second array far from its key": _doc(IM, ANN + f"[{R1}]", CA, ANN + " " * 5000 + f"[{R2}]"),
    "invalid JSON and no images": _doc('"images":[]', ANN + '[{"id":1,,}]', CA),
    "a number among records, no images": _doc('"images":[]', ANN + f"[5,{R1}]", CA),
    "indented after the records": _doc(ANN + f"[\n {R1},\n {R2}\n]", IM, CA),
    "records nested deeper than orjson writes": _doc(IM, ANN + f"[{R1},{DEEP_R2}]", CA),
    "a huge integer": _doc(IM, ANN + f"[{R1},{R2}]", CA, '"big":123456789012345678901234567890'),
    "a non-object image": _doc(
        '"images":[{"id":1,"file_name":"a","width":100,"height":100},7]', ANN + f"[{R1}]", CA
    ),
}


def _outcome(read, path, on_invalid, changes_from=None):
    from noisybox.formats import apply_on_invalid

    try:
        annotations = apply_on_invalid(read(path), on_invalid)
    except NoisyboxError as error:
        return ("error", str(error)), None
    source = changes_from or annotations
    changes, _ = corrupt(source, NoiseConfig(eta=0.2, spurious=1.0), seed=0)
    arrays = tuple(
        getattr(annotations, f).tolist() for f in ("boxes", "image", "category", "key", "crowd")
    )
    issues = [(i.file, i.record, i.message) for i in annotations.issues]
    try:
        written = render(annotations, changes)
    except NoisyboxError as error:
        written = ("error", str(error))
    return (arrays, issues, written), annotations


@pytest.mark.parametrize("name", list(DISAGREED))
@pytest.mark.parametrize("on_invalid", ["keep", "skip"])
def test_the_lazy_reading_agrees_with_the_whole_file_on_odd_files(
    tmp_path, monkeypatch, name, on_invalid
):
    """Reference: the whole-file parse (coco._read_whole); the lazy one must read, refuse
    and write exactly as it does, with chunks of one record."""
    monkeypatch.setattr(coco, "RECORDS_PER_CHUNK", 1)
    monkeypatch.setattr(coco, "LAZY_FROM_BYTES", 0)
    path = tmp_path / "odd.json"
    path.write_text(DISAGREED[name])
    whole, annotations = _outcome(coco._read_whole, path, on_invalid)
    lazy, _ = _outcome(coco.read_coco, path, on_invalid, annotations)
    assert lazy == whole
    if name == "a huge integer":
        assert b"123456789012345678901234567890" in whole[2]  # written back exactly


def test_leading_whitespace_is_read_at_any_block_size(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("  \n " + _doc(IM, ANN + f"[{R1},{R2}]", CA))
    spans = [array_items(path, "annotations", block).spans.tolist() for block in (1, 2, 3, 64)]
    assert spans[0] == spans[1] == spans[2] == spans[3] and len(spans[0]) == 2


def test_a_long_integer_declines_the_scan_at_any_block_size(tmp_path):
    """An integer of 19 digits (one orjson may read inexactly) sends the file to the whole
    parse, also when its digits straddle blocks of one byte; long fractions do not."""
    path = tmp_path / "a.json"
    for text, declined in (
        ('"x":12345678901234567890123', True),
        ('"x":[-1234567890123456789]', True),
        ('"x":0.0012345678901234567', False),
        ('"x":1234567890123456789.5', False),
        ('"x":"1234567890123456789"', True),  # in a string: declined too, harmlessly
    ):
        path.write_text(_doc(IM, ANN + f"[{R1}]", CA, text))
        found = [array_items(path, "annotations", block) is None for block in (1, 2, 7, 1 << 22)]
        assert found == [declined] * 4, text


def test_an_empty_array_has_no_spans(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"images": [], "annotations": [ ], "categories": []}')
    items = array_items(path, "annotations")
    assert items.spans.shape == (0, 2) and items.spans.dtype == np.int64
    text = path.read_bytes()
    assert text[items.start : items.end] == b"[ ]"
    assert list(read_items(path, items, rows=4)) == []


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["1", "0", "9", ".", "e", "E", "-", ",", " ", "[", '"']),
                max_size=80),
       st.sampled_from([1, 5, 17, 18, 19, 20, 40]))  # fmt: skip
def test_find_long_integer_equals_the_regular_expression(pieces, run):
    """Reference: the regular expression ``(?<![0-9.])[0-9]{19,}(?![0-9.eE])`` (an integer
    of 19 digits or more, not a fraction's digits)."""
    import re

    from noisybox.formats.json_layout import find_long_integer

    text = "".join(pieces)
    middle = len(text) // 2
    data = (text[:middle] + "7" * run + text[middle:]).encode()
    expected = re.search(rb"(?<![0-9.])[0-9]{19,}(?![0-9.eE])", data)
    found = find_long_integer(data)
    assert found == (None if expected is None else expected.span())
