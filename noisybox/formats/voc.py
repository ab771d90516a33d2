"""PASCAL VOC XML (one file or a folder of them), parsed with a hardened parser.

Corners are read as given (``xmin ymin xmax ymax`` in pixels, as torchvision and most
detection libraries use them, with no 1-based shift) and written back the same way.
"""

from __future__ import annotations

import codecs
import copy
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from ..annotations import Annotations, Changes, Issue
from ..errors import NoisyboxError
from ..keys import text_key
from ._common import as_number, box_issues, image_size_from_file, number_text
from .base import Format

CORNERS = ("xmin", "ymin", "xmax", "ymax")
TOLERANCE_PX = 1.0


@dataclass
class VocFile:
    """One parsed annotation file: where it was, its tree, and its ``<object>`` elements."""

    relative: str
    path: Path
    tree: ET.ElementTree
    objects: list[ET.Element]


@dataclass
class VocSource:
    files: list[VocFile]
    single_file: bool
    integer_coordinates: bool  # every corner in the source is written as an integer


def _parse(path: Path) -> ET.ElementTree:
    """Parse with entities and DTDs forbidden (no entity bombs, no external entities)."""
    parser = DefusedXMLParser(
        target=ET.TreeBuilder(insert_comments=True, insert_pis=True),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        return ET.parse(path, parser=parser)
    except DefusedXmlException as error:
        raise NoisyboxError(
            f"{path}: refusing XML with a DTD or entities ({type(error).__name__}); "
            "VOC files need neither"
        ) from None
    except ET.ParseError as error:
        raise NoisyboxError(f"{path}: not well-formed XML: {error}") from None
    except (LookupError, ValueError) as error:  # an unknown or multi-byte encoding
        raise NoisyboxError(f"{path}: {error}") from None
    except RecursionError:
        raise NoisyboxError(f"{path}: elements nested too deeply for a VOC file") from None


def list_voc_files(path: Path, split: Path | None = None) -> list[Path]:
    """The .xml files of a folder (or the file itself); with ``split``, a VOC ``ImageSets``
    list of image ids, only those, in the list's order."""
    if path.is_file():
        return [path]
    if split is not None:
        ids = [line.split()[0] for line in split.read_text().splitlines() if line.strip()]
        files = [path / f"{image_id}.xml" for image_id in ids]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise NoisyboxError(
                f"{split}: {len(missing)} listed images have no annotation file "
                f"in {path} (first: {missing[0]})"
            )
    else:
        files = sorted(p for p in path.glob("*.xml") if p.is_file())
    if not files:
        raise NoisyboxError(f"{path}: no .xml annotation files in this folder")
    root = path.resolve()
    for file in files:
        if not file.resolve().is_relative_to(root):
            raise NoisyboxError(f"{file}: leads outside {path} (a link); not followed")
    return files


def read_voc(path: Path, images_dir: Path | None = None, split: Path | None = None) -> Annotations:
    """Read VOC XML; a missing ``<size>`` is read from the image when ``images_dir`` is given.

    Objects marked ``<difficult>1</difficult>`` are ``crowd`` rows: as in the VOC protocol
    (and COCO's crowd boxes) they are left untouched by noise unless asked, out of training,
    and ignore regions in evaluation.

    ``split``: a VOC ``ImageSets/Main/*.txt`` list; only the images it names are read.
    """
    paths = list_voc_files(path, split)
    files: list[VocFile] = []
    issues: list[Issue] = []
    rows_boxes, rows_image, rows_names, rows_keys, parsed = [], [], [], [], []
    rows_difficult: list[bool] = []
    image_size = np.full((len(paths), 2), np.nan)
    image_name, image_keys = [], np.zeros(len(paths), np.uint64)
    integer = True
    describe_rows: list[tuple[str, str]] = []
    for index, file_path in enumerate(paths):
        tree = _parse(file_path)
        root = tree.getroot()
        relative = file_path.name
        if root.tag != "annotation":
            raise NoisyboxError(f"{file_path}: not a PASCAL VOC file (root element <{root.tag}>)")
        filename = (root.findtext("filename") or "").strip() or file_path.stem + ".jpg"
        image_name.append(filename)
        image_keys[index] = text_key(relative)
        width, height = (
            as_number(root.findtext("size/width")),
            as_number(root.findtext("size/height")),
        )
        if width and height and 0 < width < math.inf and 0 < height < math.inf:
            image_size[index] = width, height
        elif images_dir is not None:
            found = image_size_from_file(images_dir, filename)
            if isinstance(found, str):
                message = f"no <size>, and {found}"
                issues.append(Issue(str(file_path), "<size>", message, image=index))
            else:
                image_size[index] = found
        else:
            issues.append(
                Issue(
                    str(file_path),
                    "<size>",
                    "missing, non-positive or infinite image width/height "
                    "(pass `images_dir=DIR` to read it from the image)",
                    image=index,
                )
            )
        objects = root.findall("object")
        files.append(VocFile(relative, file_path, tree, objects))
        for position, element in enumerate(objects):
            row = len(rows_boxes)
            record = (
                f"object {position + 1} ({(element.findtext('name') or '').strip() or 'no name'})"
            )
            describe_rows.append((str(file_path), record))
            rows_image.append(index)
            rows_keys.append(text_key(f"{relative}#{position}"))
            rows_names.append((element.findtext("name") or "").strip())
            rows_difficult.append((element.findtext("difficult") or "0").strip() == "1")
            texts = [element.findtext(f"bndbox/{corner}") for corner in CORNERS]
            values = [as_number(text) for text in texts]
            if None in values:
                rows_boxes.append([np.nan] * 4)
                parsed.append(False)
                missing = [c for c, v in zip(CORNERS, values, strict=True) if v is None]
                issues.append(
                    Issue(
                        str(file_path),
                        record,
                        f"bndbox lacks a numeric {', '.join(missing)}",
                        row=row,
                        image=index,
                    )
                )
                continue
            integer &= all(t.strip().lstrip("-").isdigit() for t in texts)
            rows_boxes.append(values)
            parsed.append(True)
            if not rows_names[-1]:
                issues.append(
                    Issue(str(file_path), record, "object has no <name>", row=row, image=index)
                )
    names = sorted(set(filter(None, rows_names)))
    category_of = {name: i for i, name in enumerate(names)}
    count = len(rows_boxes)
    boxes = np.asarray(rows_boxes, dtype=np.float64).reshape(count, 4)
    image = np.asarray(rows_image, dtype=np.int64)
    issues += box_issues(
        boxes, image_size, describe_rows.__getitem__, np.asarray(parsed, bool), image, TOLERANCE_PX
    )
    if count == 0:
        raise NoisyboxError(f"{path}: the dataset is empty (no <object> in {len(paths)} files)")
    return Annotations(
        format="voc",
        path=path,
        units="pixels",
        boxes=boxes,
        image=image,
        category=np.asarray([category_of.get(n, -1) for n in rows_names], np.int64),
        key=np.asarray(rows_keys, np.uint64),
        crowd=np.asarray(rows_difficult, dtype=bool).reshape(count),
        valid=np.ones(count, bool),
        record=np.arange(count),
        image_size=image_size,
        image_name=image_name,
        image_key=image_keys,
        categories=dict(enumerate(names)),
        source=VocSource(files, path.is_file(), integer),
        issues=issues,
    )


def _format_coordinate(value: float, integer: bool) -> str:
    """A corner as the file's kind holds it: whole pixels (rounded, as :func:`quantize_voc`)
    or two decimals without trailing zeros."""
    return str(round(value)) if integer else f"{value:.2f}".rstrip("0").rstrip(".")


def quantize_voc(annotations: Annotations, boxes: np.ndarray) -> np.ndarray:
    """Boxes as they will read back from the file: whole pixels where the source used them."""
    if annotations.source.integer_coordinates:
        rounded = np.round(boxes)
        # keep at least one pixel where rounding would collapse a box
        rounded[:, 2] = np.maximum(rounded[:, 2], rounded[:, 0] + 1)
        rounded[:, 3] = np.maximum(rounded[:, 3], rounded[:, 1] + 1)
        return rounded
    return np.round(boxes, 2)


def write_voc(annotations: Annotations, changes: Changes) -> dict[str, bytes]:
    """``{relative file name: bytes}`` for the kept images; untouched files byte for byte."""
    source: VocSource = annotations.source
    integer = source.integer_coordinates
    row_of_record = np.full(sum(len(f.objects) for f in source.files), -1, np.int64)
    row_of_record[annotations.record] = np.arange(len(annotations))
    changed = changes.changed_rows(annotations)
    keep_row = changes.keep
    added_by_image: dict[int, list[int]] = {}
    for added, img in enumerate(changes.added_image.tolist()):
        added_by_image.setdefault(img, []).append(added)
    output: dict[str, bytes] = {}
    first_record = 0
    for index, voc_file in enumerate(source.files):
        records = range(first_record, first_record + len(voc_file.objects))
        first_record += len(voc_file.objects)
        if not changes.keep_image[index]:
            continue
        rows = row_of_record[list(records)]
        untouched = (rows >= 0).all() and not any(changed[r] or not keep_row[r] for r in rows)
        if untouched and index not in added_by_image:
            output[voc_file.relative] = voc_file.path.read_bytes()
            continue
        tree = copy.deepcopy(voc_file.tree)
        root = tree.getroot()
        objects = root.findall("object")
        for element, row in zip(objects, rows.tolist(), strict=True):
            if row < 0 or not keep_row[row]:
                root.remove(element)
            elif changed[row]:
                for corner, value in zip(CORNERS, changes.boxes[row], strict=True):
                    element.find(f"bndbox/{corner}").text = _format_coordinate(value, integer)
                name = annotations.categories.get(int(changes.category[row]))
                if name is not None and element.find("name") is not None:
                    element.find("name").text = name
        for added in added_by_image.get(index, []):
            name = annotations.categories[int(changes.added_category[added])]
            _append_indented(root, _new_object(name, changes.added_boxes[added], integer))
        prolog = _prolog(voc_file.path)
        try:
            body = ET.tostring(root, encoding=_encoding(prolog), xml_declaration=False)
        except RecursionError:
            raise NoisyboxError(
                f"{voc_file.path}: elements nested too deeply to write back"
            ) from None
        output[voc_file.relative] = prolog + body + b"\n"
    return output


def _append_indented(root: ET.Element, element: ET.Element) -> None:
    """Append ``element`` to ``root`` on a line of its own, indented as the child before it
    (the whitespace between the last two children, or before the first)."""
    if len(root):
        last = root[-1]
        between = (root[-2].tail if len(root) > 1 else root.text) or "\n"
        element.tail, last.tail = last.tail, between
    else:
        element.tail = "\n"
    root.append(element)


def _new_object(name: str, box: np.ndarray, integer: bool) -> ET.Element:
    """An ``<object>`` element for a spurious box, in VOC's usual layout."""
    element = ET.Element("object")
    ET.SubElement(element, "name").text = name
    for tag, text in (("pose", "Unspecified"), ("truncated", "0"), ("difficult", "0")):
        ET.SubElement(element, tag).text = text
    bndbox = ET.SubElement(element, "bndbox")
    for corner, value in zip(CORNERS, box, strict=True):
        ET.SubElement(bndbox, corner).text = _format_coordinate(value, integer)
    ET.indent(element, space="\t", level=1)
    return element


def create_voc(annotations: Annotations) -> dict[str, bytes]:
    """A new VOC folder from the arrays: ``STEM.xml`` per image (STEM: the image file's name
    without suffix; the folder is flat, as VOC's), with ``<filename>`` (the image's path as
    given), ``<size>`` (no ``<depth>``: the arrays do not hold
    it) and an ``<object>`` per box (``name``, ``difficult`` from the crowd mark, ``bndbox``
    in pixels, whole numbers as integers, other values lossless)."""
    by_image: dict[int, list[int]] = {}
    for row, image in enumerate(annotations.image.tolist()):
        by_image.setdefault(image, []).append(row)
    output: dict[str, bytes] = {}
    for index, name in enumerate(annotations.image_name):
        relative = Path(name).with_suffix(".xml").name
        if relative in output:
            raise NoisyboxError(
                f"{annotations.path}: two images would share the VOC file {relative} "
                f"(image {name!r}); rename one"
            )
        root = ET.Element("annotation")
        ET.SubElement(root, "filename").text = name
        size = ET.SubElement(root, "size")
        for tag, value in zip(("width", "height"), annotations.image_size[index], strict=True):
            ET.SubElement(size, tag).text = number_text(value)
        for row in by_image.get(index, []):
            element = ET.SubElement(root, "object")
            ET.SubElement(element, "name").text = annotations.categories[
                int(annotations.category[row])
            ]
            ET.SubElement(element, "difficult").text = "1" if annotations.crowd[row] else "0"
            bndbox = ET.SubElement(element, "bndbox")
            for corner, value in zip(CORNERS, annotations.boxes[row], strict=True):
                ET.SubElement(bndbox, corner).text = number_text(value)
        ET.indent(root, space="\t")
        output[relative] = ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
    return output


#: the elements of a VOC file that the arrays hold (paths below <annotation>)
HELD_ELEMENTS = {
    "filename",
    "size",
    "size/width",
    "size/height",
    "object",
    "object/name",
    "object/difficult",
    "object/bndbox",
    *(f"object/bndbox/{corner}" for corner in CORNERS),
}


def voc_beyond(annotations: Annotations) -> list[str]:
    """The elements of the VOC files (``<pose>``, ``<depth>``, …) the arrays do not hold."""
    found: set[str] = set()

    def walk(element: ET.Element, prefix: str) -> None:
        for child in element:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions
            path = f"{prefix}{child.tag}"
            if path not in HELD_ELEMENTS:
                found.add(path)
            walk(child, path + "/")

    for voc_file in annotations.source.files:
        walk(voc_file.tree.getroot(), "")
    return [f"<{path}>" for path in sorted(found)]


def _encoding(prolog: bytes) -> str:
    """The encoding the file's ``<?xml ... encoding="..."?>`` declaration names (UTF-8 by
    default), so a file is written back in the encoding it says it has."""
    prolog = prolog.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
    declaration = prolog[: prolog.find(b"?>")] if re.match(rb"<\?xml\s", prolog) else b""
    found = re.search(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""", declaration)
    if found is None:
        return "utf-8"
    name = found.group(1).decode("ascii")
    try:
        codecs.lookup(name)
    except LookupError:
        return "utf-8"
    return name


#: what may stand before a document's root element: a byte order mark, a declaration or
#: processing instruction, a comment, white space (a DTD is refused on reading)
PROLOG_PART = re.compile(rb"\xef\xbb\xbf|\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)


def _prolog(path: Path) -> bytes:
    """The bytes of the file before its root element (declaration, processing
    instructions, comments), to write them back as they were."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    end = 0
    while found := PROLOG_PART.match(head, end):
        end = found.end()
    return head[:end]


def _detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".xml"
    return path.is_dir() and any(path.glob("*.xml"))


def _render(annotations: Annotations, changes: Changes) -> bytes | dict[str, bytes]:
    """:func:`write_voc`, as the bytes of the one file when the input was one file."""
    files = write_voc(annotations, changes)
    if not annotations.source.single_file:
        return files
    if not files:
        raise NoisyboxError(f"{annotations.path}: nothing valid is left to write")
    return next(iter(files.values()))


FORMAT = Format(
    name="voc",
    detect=_detect,
    read=lambda path, options: read_voc(path, options.images_dir, options.split),
    write=_render,
    quantize=quantize_voc,
    create=create_voc,
    beyond=voc_beyond,
    is_folder=lambda annotations: not annotations.source.single_file,
    split_lists=True,
)
