"""COCO detection JSON: read into :class:`Annotations`, write back with only the changes applied."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..annotations import Annotations, Changes, Issue
from ..errors import NoisyboxError
from ..keys import integer_keys, text_key
from ._common import as_number, box_issues, whole_or_float
from .base import Format, ReadOptions

#: How far (pixels) a COCO box may stick out of its image before it is invalid; COCO's own
#: files have boxes a fraction of a pixel past the edge.
TOLERANCE_PX = 1.0


@dataclass
class CocoSource:
    """The parsed document, and how it was written (to write it back the same way)."""

    document: dict[str, Any]
    indented: bool
    standard_json: bool  # False when it needed Python's json (NaN, Infinity)


def load_json(path: Path) -> tuple[Any, bool, bool]:
    """Parse a JSON file: ``(value, indented, standard_json)``; one-line errors."""
    return parse_json(path, path.read_bytes())


def parse_json(path: Path, data: bytes) -> tuple[Any, bool, bool]:
    """:func:`load_json` of ``data``, the bytes of the file ``path``."""
    indented = b"\n " in data[:4096]
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
    """Read a COCO detection file; problems with records are collected as issues."""
    data = path.read_bytes()
    document, indented, standard = parse_json(path, data)
    # JSON true/false anywhere: the vectorized parse would read them as 1 and 0
    literals = b"true" in data or b"false" in data
    file = str(path)
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
    images, records = document["images"], document["annotations"]
    if not images or not records:
        raise NoisyboxError(
            f"{file}: the dataset is empty ({len(images)} images, {len(records)} annotations)"
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
    parsed = None if literals else _parse_regular_annotations(records, image_row, categories)
    if parsed is None:
        parsed = _parse_annotations(file, records, image_row, categories, issues)
    boxes, image, category, keys, crowd, ok = parsed
    count = len(records)

    def describe(row: int) -> tuple[str, str]:
        return file, f"annotation id {records[row].get('id')}"

    issues += box_issues(boxes, image_size, describe, ok, image, TOLERANCE_PX)
    return Annotations(
        format="coco",
        path=path,
        units="pixels",
        boxes=boxes,
        image=image,
        category=category,
        key=keys,
        crowd=crowd,
        valid=np.ones(count, bool),
        record=np.arange(count),
        image_size=image_size,
        image_name=image_name,
        image_key=image_keys,
        categories=categories,
        source=CocoSource(document, indented, standard),
        issues=issues,
    )


Parsed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _parse_regular_annotations(
    records: list, image_row: dict[object, int], categories: dict[int, str]
) -> Parsed | None:
    """Vectorized parse of well-formed annotations (integer unique ids, known image and
    category ids, numeric 4-value boxes); ``None`` at the first irregularity, for
    :func:`_parse_annotations` to find and name it."""
    try:
        ids = np.asarray([record["id"] for record in records])
        image = [image_row.get(record["image_id"]) for record in records]
        category = [record["category_id"] for record in records]
        bboxes = np.asarray([record["bbox"] for record in records])
        crowd_values = [record.get("iscrowd", 0) for record in records]
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    count = len(records)
    if not (set(map(type, crowd_values)) <= {int} and set(crowd_values) <= {0, 1}):
        return None  # iscrowd "0", 1.0 or 2: named by the record-by-record parse
    crowd = np.asarray(crowd_values, dtype=bool)
    if (
        ids.dtype.kind != "i"
        or len(np.unique(ids)) != count
        or None in image
        or not set(category) <= categories.keys()
        or bboxes.shape != (count, 4)
        or bboxes.dtype.kind not in "iuf"
    ):
        return None
    x, y, w, h = bboxes.astype(np.float64).T
    boxes = np.stack([x, y, x + w, y + h], axis=1)
    return (
        boxes,
        np.asarray(image, np.int64),
        np.asarray(category, np.int64),
        integer_keys(ids),
        crowd,
        np.ones(count, bool),
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


def write_coco(annotations: Annotations, changes: Changes) -> bytes:
    """The COCO file with ``changes`` applied; every other value as it was read.

    A changed box gets a new ``bbox``, and a new ``area`` where the old ``area`` was the old
    box's ``w * h`` (to 0.1%; a segmentation's area is left alone, as is ``segmentation``).
    Spurious boxes are appended with new ids above the largest integer id.
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
        return annotations.path.read_bytes()
    document = dict(source.document)
    records = document["annotations"]
    keep_image = changes.keep_image
    row_of_record = np.full(len(records), -1, np.int64)
    row_of_record[annotations.record] = np.arange(len(annotations))
    keep_row = (changes.keep & keep_image[annotations.image]).tolist()
    changed = changes.changed_rows(annotations).tolist()
    x1, y1, x2, y2 = changes.boxes.T
    new_bbox = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1).tolist()
    new_area = ((x2 - x1) * (y2 - y1)).tolist()
    old = annotations.boxes
    old_area = ((old[:, 2] - old[:, 0]) * (old[:, 3] - old[:, 1])).tolist()
    new_category = changes.category.tolist()

    output = []
    for index, row in enumerate(row_of_record.tolist()):
        if row < 0 or not keep_row[row]:
            continue
        record = records[index]
        if changed[row]:
            area = as_number(record.get("area"))
            was_box_area = area is not None and abs(area - old_area[row]) <= 1e-3 * max(
                old_area[row], 1e-9
            )
            record = {**record, "bbox": new_bbox[row], "category_id": new_category[row]}
            if was_box_area:
                record["area"] = new_area[row]
        output.append(record)

    if len(changes.added_boxes):
        ids = [_id_key(r.get("id")) for r in records if isinstance(r, dict)]
        next_id = max([i for i in ids if isinstance(i, int)], default=0) + 1
        image_ids = [image.get("id") for image in document["images"]]
        for offset, (img, cat, box) in enumerate(
            zip(
                changes.added_image.tolist(),
                changes.added_category.tolist(),
                changes.added_boxes.tolist(),
                strict=True,
            )
        ):
            if not keep_image[img]:
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
    document["annotations"] = output
    if annotations.skip_invalid:  # category records without a usable id, or repeated
        document["categories"] = _valid_categories(document.get("categories", []))
    if not keep_image.all():
        document["images"] = [
            im for im, keep in zip(document["images"], keep_image, strict=True) if keep
        ]
    if source.standard_json:
        try:
            return orjson.dumps(document, option=orjson.OPT_INDENT_2 if source.indented else 0)
        except TypeError:  # an integer beyond 64 bits: Python's json writes it
            pass
    return json.dumps(document, indent=2 if source.indented else None).encode()


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
    document = annotations.source.document
    found = [f"{k}" for k in sorted(set(document) - HELD_KEYS["document"])]
    for part in ("images", "annotations", "categories"):
        keys = set().union(*(r.keys() for r in document.get(part, []) if isinstance(r, dict)))
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
    if options.split is not None:
        raise NoisyboxError(f"{path}: an image list applies to VOC folders only")
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
)
