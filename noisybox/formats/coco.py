"""COCO detection JSON: read into :class:`Annotations`, write back with only the changes applied."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..annotations import Annotations, Changes, Issue
from ..errors import NoisyboxError
from ..keys import integer_keys, text_key
from ._common import as_number, box_issues, whole_or_float
from .base import Format, ReadOptions
from .json_layout import ArrayItems, array_items, find_long_integer, read_items, read_span

#: How far (pixels) a COCO box may stick out of its image before it is invalid; COCO's own
#: files have boxes a fraction of a pixel past the edge.
TOLERANCE_PX = 1.0


#: boxes, image rows, categories, keys, crowd marks, and which rows parsed
Parsed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

#: files from this size on are read lazily (parsed whole, a file takes about 12 times its
#: size in memory; lazily, about 3 times, and about 1.8 times as long)
LAZY_FROM_BYTES = 1 << 26

#: annotation records parsed at a time from a file read lazily
RECORDS_PER_CHUNK = 1 << 13


@dataclass
class CocoSource:
    """A COCO document as read, and how it was written (to write it back the same way).

    The annotation records of a well-formed file stay in the file: ``head`` is the document
    with ``"annotations": []`` and ``items`` where each record lies, so that reading and
    writing hold arrays, not one Python dict per box; ``record_chunks`` parses them a chunk
    at a time. A file that needs the record-by-record reading (to name its invalid records)
    is held whole: ``head`` is the document, ``items`` None.
    """

    head: dict[str, Any]
    indented: bool
    standard_json: bool  # False when it needed Python's json (NaN, Infinity)
    path: Path
    items: ArrayItems | None = None
    stat: tuple[int, int] = (0, 0)  # size and mtime (ns) of the file when read lazily

    def record_chunks(self) -> Iterator[tuple[int, list]]:
        """``(index of the first record, records)``, a chunk at a time, in order."""
        if self.items is None:
            yield 0, self.head["annotations"]
            return
        if _file_stat(self.path) != self.stat:
            raise NoisyboxError(f"{self.path}: changed while noisybox was using it; run again")
        try:
            first = 0
            for records in read_items(self.path, self.items, RECORDS_PER_CHUNK):
                yield first, records
                first += len(records)
        except (OSError, ValueError) as error:
            raise NoisyboxError(f"{self.path}: could not be read again: {error}") from None

    def records(self) -> Iterator[Any]:
        """The annotation records one by one, in order (parsed a chunk at a time)."""
        for _, chunk in self.record_chunks():
            yield from chunk

    def record(self, index: int) -> Any:
        """The annotation record at ``index``."""
        if self.items is None:
            return self.head["annotations"][index]
        start, end = self.items.spans[index].tolist()
        with open(self.path, "rb") as handle:
            return orjson.loads(read_span(handle.fileno(), start, end))

    def document(self) -> dict[str, Any]:
        """The whole document, its records parsed (for small files: a validation set)."""
        if self.items is None:
            return self.head
        return {**self.head, "annotations": list(self.records())}


def _file_stat(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def load_json(path: Path) -> tuple[Any, bool, bool]:
    """Parse a JSON file: ``(value, indented, standard_json)``; one-line errors."""
    return parse_json(path, path.read_bytes())


def _indented(start: bytes) -> bool:
    """Whether a JSON file whose first bytes are ``start`` is indented (written back so)."""
    return b"\n " in start[:4096]


def parse_json(path: Path, data: bytes) -> tuple[Any, bool, bool]:
    """:func:`load_json` of ``data``, the bytes of the file ``path``. Python's json reads
    a file orjson refuses (NaN, Infinity) or may read inexactly (integers beyond 64 bits:
    any integer of 19 digits or more)."""
    indented = _indented(data)
    if not find_long_integer(data):
        try:
            return orjson.loads(data), indented, True
        except orjson.JSONDecodeError:
            pass
    try:  # Python's parser also accepts NaN and Infinity, which we then report per record
        return json.loads(data), indented, False
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise NoisyboxError(f"{path}: not valid JSON: {error}") from None
    except ValueError as error:  # an integer of thousands of digits
        raise NoisyboxError(f"{path}: a number too long to read ({error})") from None
    except RecursionError:
        raise NoisyboxError(f"{path}: nested too deeply to be a dataset") from None


def _id_key(value: object) -> object:
    """A hashable id; ``1`` and ``1.0`` are the same id, ``True`` is not an id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, (int, str)) else None


def read_coco(path: Path) -> Annotations:
    """Read a COCO detection file; problems with records are collected as issues.

    A well-formed file of :data:`LAZY_FROM_BYTES` or more is read lazily: its annotation
    records are parsed a chunk at a time into the arrays and left in the file
    (:class:`CocoSource`), so memory grows by a few hundred bytes a box, not the kilobyte
    and more of a parsed Python document; the records are parsed again when written, so
    this takes longer. A smaller file, or one with an irregular record, is parsed whole
    (record by record where needed, which names every invalid record). Both read and write
    the same (tested).
    """
    lazily = path.stat().st_size >= LAZY_FROM_BYTES
    return (_read_lazily(path) if lazily else None) or _read_whole(path)


def _read_lazily(path: Path) -> Annotations | None:
    """:func:`read_coco` of a well-formed file, or None for :func:`_read_whole` to read."""
    items = array_items(path, "annotations")
    if items is None or not len(items.spans):
        return None
    stat = _file_stat(path)
    with open(path, "rb") as handle:
        fd = handle.fileno()
        indented = _indented(read_span(fd, 0, 4096))
        head_bytes = read_span(fd, 0, items.start) + b"[]" + read_span(fd, items.end, stat[0])
    try:
        head = orjson.loads(head_bytes)
    except orjson.JSONDecodeError:
        return None
    del head_bytes
    if not isinstance(head, dict) or head.get("annotations") != []:
        return None  # another "annotations" (a number, null) after the array: it wins
    source = CocoSource(head, indented, True, path, items, stat)
    count = len(items.spans)
    try:
        known = _read_head(str(path), head, count)
    except NoisyboxError:  # the whole-file parse says what is wrong, as it always did
        return None
    # the arrays filled in place, a chunk at a time
    ids, image, category = (np.empty(count, np.int64) for _ in range(3))
    boxes, crowd = np.empty((count, 4)), np.empty(count, bool)
    try:
        for first, records in source.record_chunks():
            part = _parse_regular_annotations(records, known.image_row, known.categories)
            if part is None:
                return None
            rows = slice(first, first + len(records))
            ids[rows], boxes[rows], image[rows], category[rows], crowd[rows] = part
    except NoisyboxError:  # not valid JSON after all: the whole-file parse says where
        return None
    if len(np.unique(ids)) != count:
        return None
    parsed = (boxes, image, category, integer_keys(ids), crowd, np.ones(len(ids), bool))
    return _annotations(path, source, known, parsed)


def _read_whole(path: Path) -> Annotations:
    """:func:`read_coco` of the document parsed whole, record by record where needed."""
    data = path.read_bytes()
    document, indented, standard = parse_json(path, data)
    del data
    file = str(path)
    known = _read_head(file, document)
    records = document["annotations"]
    regular = _parse_regular_annotations(records, known.image_row, known.categories)
    if regular is not None and len(np.unique(regular[0])) == len(records):
        ids, boxes, image, category, crowd = regular
        parsed = (boxes, image, category, integer_keys(ids), crowd, np.ones(len(ids), bool))
    else:
        parsed = _parse_annotations(file, records, known.image_row, known.categories, known.issues)
    source = CocoSource(document, indented, standard, path)
    return _annotations(path, source, known, parsed)


@dataclass
class _Head:
    """What the images and categories of a COCO document say."""

    categories: dict[int, str]
    image_row: dict[object, int]
    image_size: np.ndarray
    image_name: list[str]
    image_keys: np.ndarray
    issues: list[Issue]


def _read_head(file: str, document: object, count: int | None = None) -> _Head:
    """The categories and images of ``document``, their problems as issues; a document
    that is not an object with lists of images and annotations, or without images or
    records, is refused. ``count``: how many annotation records it has, where they are not
    in ``document["annotations"]`` (a file read lazily)."""
    if not isinstance(document, dict):
        raise NoisyboxError(
            f"{file}: a COCO file is a JSON object with 'images', 'annotations' and "
            f"'categories'; found a JSON {type(document).__name__}"
        )
    for name in ("images", "annotations"):
        if not isinstance(document.get(name), list):
            raise NoisyboxError(f"{file}: '{name}' must be a list of records")
    if not isinstance(document.get("categories", []), list):
        raise NoisyboxError(f"{file}: 'categories' must be a list of records")
    images = document["images"]
    count = len(document["annotations"]) if count is None else count
    if not images or not count:
        raise NoisyboxError(
            f"{file}: the dataset is empty ({len(images)} images, {count} annotations)"
        )
    issues: list[Issue] = []

    categories: dict[int, str] = {}
    for index, category in enumerate(document.get("categories", [])):
        cid = _id_key(category.get("id")) if isinstance(category, dict) else None
        if not isinstance(cid, int):
            issues.append(Issue(file, f"categories[{index}]", "category has no integer 'id'"))
        elif not -(2**63) <= cid < 2**63:
            issues.append(Issue(file, f"categories[{index}]", "category id beyond 64 bits"))
        elif cid in categories:
            issues.append(Issue(file, f"category id {cid}", "duplicate category id"))
        else:
            categories[cid] = str(category.get("name", cid))

    image_row: dict[object, int] = {}
    image_size = np.full((len(images), 2), np.nan)
    image_name, image_ids = [], []
    for index, image in enumerate(images):
        iid = _id_key(image.get("id")) if isinstance(image, dict) else None
        record = f"image id {iid}" if iid is not None else f"images[{index}]"
        image_name.append(str(image.get("file_name", iid)) if isinstance(image, dict) else "")
        problem = _id_problem(iid, image_row, "image")
        if problem:
            issues.append(Issue(file, record, problem, image=index))
            continue
        image_row[iid] = index
        image_ids.append((index, iid))
        width, height = as_number(image.get("width")), as_number(image.get("height"))
        if width is None or height is None or not (0 < width < np.inf and 0 < height < np.inf):
            issues.append(
                Issue(
                    file, record, "image has no positive, finite 'width' and 'height'", image=index
                )
            )
        else:
            image_size[index] = width, height

    image_keys = np.zeros(len(images), np.uint64)
    integer_ids = [(index, iid) for index, iid in image_ids if isinstance(iid, int)]
    if integer_ids:
        rows, values = zip(*integer_ids, strict=True)
        image_keys[list(rows)] = integer_keys(values)
    for index, iid in image_ids:
        if isinstance(iid, str):
            image_keys[index] = text_key(iid)
    return _Head(categories, image_row, image_size, image_name, image_keys, issues)


def _annotations(path: Path, source: CocoSource, head: _Head, parsed: Parsed) -> Annotations:
    """The :class:`Annotations` of a parsed COCO file, with its boxes' issues."""
    boxes, image, category, keys, crowd, ok = parsed
    file = str(path)

    def describe(row: int) -> tuple[str, str]:
        record = source.record(row)
        return file, f"annotation id {record.get('id') if isinstance(record, dict) else None}"

    issues = head.issues + box_issues(boxes, head.image_size, describe, ok, image, TOLERANCE_PX)
    return Annotations(
        format="coco",
        path=path,
        units="pixels",
        boxes=boxes,
        image=image,
        category=category,
        key=keys,
        crowd=crowd,
        valid=np.ones(len(boxes), bool),
        record=np.arange(len(boxes)),
        image_size=head.image_size,
        image_name=head.image_name,
        image_key=head.image_keys,
        categories=head.categories,
        source=source,
        issues=issues,
    )


def _parse_regular_annotations(
    records: list, image_row: dict[object, int], categories: dict[int, str]
) -> tuple[np.ndarray, ...] | None:
    """Vectorized parse of well-formed annotations (integer ids, known image and category
    ids, numeric 4-value boxes, no JSON true/false among them): ``(ids, boxes, image,
    category, crowd)``; ``None`` at the first irregularity, for :func:`_parse_annotations`
    to find and name it. Whether the ids are unique is the caller's to check."""
    try:
        id_values = [record["id"] for record in records]
        image_ids = [record["image_id"] for record in records]
        category = [record["category_id"] for record in records]
        bbox_values = [record["bbox"] for record in records]
        crowd_values = [record.get("iscrowd", 0) for record in records]
        types = {*map(type, id_values), *map(type, image_ids), *map(type, category)}
        types.update(map(type, chain.from_iterable(bbox_values)))
        ids = np.asarray(id_values)
        bboxes = np.asarray(bbox_values)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if bool in types:  # true/false: numpy would read them as 1 and 0
        return None
    if not (set(map(type, crowd_values)) <= {int} and set(crowd_values) <= {0, 1}):
        return None  # iscrowd "0", 1.0 or 2: named by the record-by-record parse
    image = [image_row.get(iid) for iid in image_ids]
    count = len(records)
    if (
        ids.dtype.kind != "i"
        or None in image
        or not set(category) <= categories.keys()
        or bboxes.shape != (count, 4)
        or bboxes.dtype.kind not in "iuf"
    ):
        return None
    x, y, w, h = bboxes.astype(np.float64).T
    return (
        ids.astype(np.int64),
        np.stack([x, y, x + w, y + h], axis=1),
        np.asarray(image, np.int64),
        np.asarray(category, np.int64),
        np.asarray(crowd_values, dtype=bool),
    )


def _parse_annotations(
    file: str,
    records: list,
    image_row: dict[object, int],
    categories: dict[int, str],
    issues: list[Issue],
) -> Parsed:
    """Record-by-record parse that names every invalid record in ``issues``."""
    count = len(records)
    boxes = np.full((count, 4), np.nan)
    image = np.zeros(count, np.int64)
    category = np.full(count, -1, np.int64)
    keys = np.zeros(count, np.uint64)
    crowd = np.zeros(count, bool)
    parsed = np.zeros(count, bool)
    seen_ids: set[object] = set()
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            issues.append(
                Issue(file, f"annotations[{row}]", "annotation is not a JSON object", row=row)
            )
            continue
        aid = _id_key(record.get("id"))
        name = f"annotation id {aid}" if aid is not None else f"annotations[{row}]"
        problem = _id_problem(aid, seen_ids, "annotation")
        if problem:
            issues.append(Issue(file, name, problem, row=row))
            continue
        seen_ids.add(aid)
        keys[row] = integer_keys([aid])[0] if isinstance(aid, int) else text_key(str(aid))
        iid = _id_key(record.get("image_id"))
        if iid not in image_row:
            issues.append(
                Issue(file, name, f"unknown image_id {record.get('image_id')!r}", row=row)
            )
            continue
        image[row] = image_row[iid]
        cid = _id_key(record.get("category_id"))
        if cid not in categories:
            issues.append(
                Issue(file, name, f"unknown category_id {record.get('category_id')!r}", row=row)
            )
            continue
        category[row] = cid
        iscrowd = record.get("iscrowd", 0)
        if type(iscrowd) is not int or iscrowd not in (0, 1):
            issues.append(Issue(file, name, f"iscrowd must be 0 or 1; got {iscrowd!r}", row=row))
            continue
        crowd[row] = bool(iscrowd)
        bbox = record.get("bbox")
        values = [as_number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
        if values is None or None in values:
            issues.append(
                Issue(
                    file,
                    name,
                    f"bbox must be 4 numbers [x, y, width, height]; got {bbox!r}",
                    row=row,
                )
            )
            continue
        x, y, w, h = values
        boxes[row] = x, y, x + w, y + h
        parsed[row] = True
    return boxes, image, category, keys, crowd, parsed


def _valid_categories(records: list) -> list:
    """The category records with an integer id not seen before, in order."""
    seen: set[int] = set()
    kept = []
    for category in records:
        cid = _id_key(category.get("id")) if isinstance(category, dict) else None
        if isinstance(cid, int) and cid not in seen:
            seen.add(cid)
            kept.append(category)
    return kept


def write_coco(annotations: Annotations, changes: Changes) -> Iterator[bytes]:
    """The COCO file with ``changes`` applied, in pieces; every other value as it was read.

    A changed box gets a new ``bbox``, and a new ``area`` where the old ``area`` was the old
    box's ``w * h`` (to 0.1%; a segmentation's area is left alone, as is ``segmentation``).
    Spurious boxes are appended with new ids above the largest integer id. The records are
    written a chunk at a time, as orjson writes the whole document (Python's json for a
    file that needed it: NaN, Infinity, integers beyond 64 bits).
    """
    source: CocoSource = annotations.source
    unchanged = (
        changes.keep.all()
        and changes.keep_image.all()
        and not len(changes.added_boxes)
        and not annotations.skip_invalid
        and not changes.changed_rows(annotations).any()
    )
    if unchanged:  # nothing to change (η = 0): the file as it is, byte for byte
        return _file_blocks(annotations.path)
    head = dict(source.head)
    if annotations.skip_invalid:  # category records without a usable id, or repeated
        head["categories"] = _valid_categories(head.get("categories", []))
    keep_image = changes.keep_image
    if not keep_image.all():
        head["images"] = [im for im, keep in zip(head["images"], keep_image, strict=True) if keep]
    records = _output_records(annotations, changes)
    if not source.standard_json:
        head["annotations"] = [record for chunk in records for record in chunk]
        try:
            return iter([json.dumps(head, indent=2 if source.indented else None).encode()])
        except RecursionError:
            raise NoisyboxError(f"{annotations.path}: nested too deeply to write") from None
    return _orjson_pieces(head, records, source.indented, annotations.path)


def _file_blocks(path: Path, block: int = 1 << 24) -> Iterator[bytes]:
    """The bytes of ``path``, ``block`` at a time."""
    with open(path, "rb") as handle:
        while data := handle.read(block):
            yield data


def _output_records(annotations: Annotations, changes: Changes) -> Iterator[list[dict]]:
    """The output's annotation records, a chunk at a time: the source's records kept, with
    their changes, then the spurious boxes."""
    source: CocoSource = annotations.source
    count = len(source.items.spans) if source.items else len(source.head["annotations"])
    row_of_record = np.full(count, -1, np.int64)
    row_of_record[annotations.record] = np.arange(len(annotations))
    keep_row = changes.keep & changes.keep_image[annotations.image]
    changed = changes.changed_rows(annotations)
    old = annotations.boxes
    old_area = (old[:, 2] - old[:, 0]) * (old[:, 3] - old[:, 1])
    largest_id = None
    for first, records in source.record_chunks():
        rows = row_of_record[first : first + len(records)]
        kept = rows >= 0
        kept[kept] = keep_row[rows[kept]]
        output = [record for record, keep in zip(records, kept.tolist(), strict=True) if keep]
        kept_rows = rows[kept]
        positions = np.flatnonzero(changed[kept_rows])
        if len(positions):
            changed_rows = kept_rows[positions]
            x1, y1, x2, y2 = changes.boxes[changed_rows].T
            was = _areas([output[p] for p in positions.tolist()])
            previous = old_area[changed_rows]
            # the area is the box's (to 0.1%), not a segmentation's: it follows the box
            follows = np.abs(was - previous) <= 1e-3 * np.maximum(previous, 1e-9)
            for position, bbox, area, category, follow in zip(
                positions.tolist(),
                np.stack([x1, y1, x2 - x1, y2 - y1], axis=1).tolist(),
                ((x2 - x1) * (y2 - y1)).tolist(),
                changes.category[changed_rows].tolist(),
                follows.tolist(),
                strict=True,
            ):
                record = {**output[position], "bbox": bbox, "category_id": category}
                if follow:
                    record["area"] = area
                output[position] = record
        if len(changes.added_boxes):
            ids = [_id_key(r.get("id")) for r in records if isinstance(r, dict)]
            ids = [i for i in ids if isinstance(i, int)]
            if ids:
                largest_id = max(ids) if largest_id is None else max(largest_id, *ids)
        yield output
    if len(changes.added_boxes):
        yield _spurious_records(annotations, changes, (largest_id or 0) + 1)


def _areas(records: list[dict]) -> np.ndarray:
    """The records' ``area`` values as float64, NaN where one is not a number."""
    values = [record.get("area") for record in records]
    if {*map(type, values)} <= {int, float}:  # the usual case, at once
        try:
            return np.asarray(values, np.float64)
        except OverflowError:  # an integer beyond a float's range: not a number here
            pass
    numbers = [as_number(value) for value in values]
    return np.asarray([np.nan if n is None else n for n in numbers], np.float64)


def _spurious_records(annotations: Annotations, changes: Changes, next_id: int) -> list[dict]:
    """The records of the boxes ``changes`` adds, numbered from ``next_id``."""
    images = annotations.source.head["images"]
    image_ids = [image.get("id") if isinstance(image, dict) else None for image in images]
    output = []
    for offset, (img, cat, box) in enumerate(
        zip(
            changes.added_image.tolist(),
            changes.added_category.tolist(),
            changes.added_boxes.tolist(),
            strict=True,
        )
    ):
        if not changes.keep_image[img]:
            continue
        x1, y1, x2, y2 = box
        output.append(
            {
                "id": next_id + offset,
                "image_id": image_ids[img],
                "category_id": cat,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1),
                "iscrowd": 0,
            }
        )
    return output


#: stands for the annotation records while the rest of a document is written
_RECORDS = "\u0000noisybox: the annotation records\u0000"


def _dumps(value: Any, indented: bool, path: Path) -> bytes:
    """``value`` as orjson writes it (indented by 2, or compact); Python's json, in the same
    layout, for what orjson does not write (an integer beyond 64 bits, 255 levels deep)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indented else 0)
    except TypeError:
        separators = (",", ": ") if indented else (",", ":")
        try:
            return json.dumps(value, indent=2 if indented else None, separators=separators).encode()
        except RecursionError:
            raise NoisyboxError(f"{path}: nested too deeply to write") from None


def _orjson_pieces(
    head: dict, chunks: Iterator[list[dict]], indented: bool, path: Path
) -> Iterator[bytes]:
    """The bytes of ``orjson.dumps(head with its "annotations" = the chunks' records)``
    (indented by 2 or compact), a chunk of records at a time."""
    placeholder = orjson.dumps(_RECORDS)
    text = _dumps({**head, "annotations": _RECORDS}, indented, path)
    if text.count(placeholder) != 1:  # the file itself holds that text: write it whole
        records = [record for chunk in chunks for record in chunk]
        yield _dumps({**head, "annotations": records}, indented, path)
        return
    before, after = text.split(placeholder)
    yield before
    separator, opening = (b",\n", b"[\n") if indented else (b",", b"[")
    written = 0
    for chunk in chunks:
        if not chunk:
            continue
        text = _dumps(chunk, indented, path)  # "[…]" at the top: its items moved in one level
        body = b"  " + text[2:-2].replace(b"\n", b"\n  ") if indented else text[1:-1]
        yield (separator if written else opening) + body
        written += len(chunk)
    yield (b"\n  ]" if indented else b"]") if written else b"[]"
    yield after


def create_coco(annotations: Annotations) -> bytes:
    """A new COCO document (indented) from the arrays: images numbered from 1 in their order
    with ``file_name``, ``width`` and ``height``; a record per box (``bbox`` as xywh in
    pixels, ``area`` = w·h, ``iscrowd``); the categories with their ids and names."""
    sizes = annotations.image_size
    images = [
        {
            "id": index + 1,
            "file_name": name,
            "width": whole_or_float(w),
            "height": whole_or_float(h),
        }
        for index, (name, (w, h)) in enumerate(zip(annotations.image_name, sizes, strict=True))
    ]
    x1, y1, x2, y2 = annotations.boxes.T
    records = [
        {
            "id": row + 1,
            "image_id": int(image) + 1,
            "category_id": int(category),
            "bbox": [whole_or_float(v) for v in (left, top, right - left, bottom - top)],
            "area": whole_or_float((right - left) * (bottom - top)),
            "iscrowd": int(crowd),
        }
        for row, (image, category, crowd, left, top, right, bottom) in enumerate(
            zip(
                annotations.image.tolist(),
                annotations.category.tolist(),
                annotations.crowd.tolist(),
                x1.tolist(),
                y1.tolist(),
                x2.tolist(),
                y2.tolist(),
                strict=True,
            )
        )
    ]
    categories = [{"id": cid, "name": name} for cid, name in annotations.categories.items()]
    document = {"images": images, "annotations": records, "categories": categories}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


#: the keys of each COCO record that the arrays hold
HELD_KEYS = {
    "document": {"images", "annotations", "categories"},
    "images": {"id", "file_name", "width", "height"},
    "annotations": {"id", "image_id", "category_id", "bbox", "area", "iscrowd"},
    "categories": {"id", "name"},
}


def coco_beyond(annotations: Annotations) -> list[str]:
    """The keys of the COCO document and its records that the arrays do not hold."""
    source: CocoSource = annotations.source
    found = [f"{k}" for k in sorted(set(source.head) - HELD_KEYS["document"])]
    for part in ("images", "annotations", "categories"):
        records = source.records() if part == "annotations" else source.head.get(part, [])
        keys: set[str] = set()
        for record in records:
            if isinstance(record, dict):
                keys.update(record)
        found += [f"{part}[].{k}" for k in sorted(keys - HELD_KEYS[part])]
    return found


def _id_problem(record_id: object, seen, what: str) -> str | None:
    """Why ``record_id`` (of an image or annotation record) cannot identify it, or ``None``."""
    if record_id is None:
        return f"{what} has no 'id'"
    if record_id in seen:
        return f"duplicate {what} id"
    return None


def _looks_like_coco(path: Path) -> bool:
    """A .json file that is not a LabelMe or Labelbox-style file (those name ``shapes`` and
    ``imagePath`` near the top, where a COCO file has ``images`` and ``annotations``)."""
    if not (path.is_file() and path.suffix.lower() == ".json"):
        return False
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    return not (b'"shapes"' in head and b'"imagePath"' in head)


def _read(path: Path, options: ReadOptions) -> Annotations:
    if not path.is_file():
        raise NoisyboxError(f"{path}: a COCO dataset is a .json file")
    return read_coco(path)


FORMAT = Format(
    name="coco",
    detect=_looks_like_coco,
    read=_read,
    write=write_coco,
    quantize=lambda annotations, boxes: boxes,  # JSON holds float64 exactly
    is_folder=lambda annotations: False,
    create=create_coco,
    beyond=coco_beyond,
    image_ids=lambda annotations: [image["id"] for image in annotations.source.head["images"]],
)
