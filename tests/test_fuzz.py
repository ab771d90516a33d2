"""Fuzzing the command line with malformed inputs: COCO JSON, PASCAL VOC XML (a file and a
folder), YOLO label folders, COCO detection results and a bench's results store.

Each input starts as a small valid document; hypothesis then applies structural mutations (a
key deleted; a value replaced by null, a string, a bool, a list, NaN, 10**400, 2**64 + 1,
5000 nested lists; duplicate ids; a DTD; YOLO lines with too few fields or a class id of
2**63) and, for some, a byte-level one (truncated, random or non-UTF-8 bytes). Whatever the
input, ``main`` must:

* return 0 or 2, and never raise;
* on 2, print exactly one line ``noisybox: error: ...`` on stderr (no traceback) and write
  nothing at all;
* leave every input file byte-identical.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from noisybox.cli import main

from .datasets import VOC_OBJECT, VOC_TEMPLATE, coco_document

#: No shrinking: a falsifying example is already small (a few mutations of a small document),
#: its input bytes and command are shown with it (``note``), and shrinking the failures of a
#: single test can take minutes.
FUZZ = settings(
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- running main


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path below ``folder``: a file's bytes, None for a folder."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def _show(data: bytes, limit: int = 600) -> str:
    return repr(data if len(data) <= limit else data[:limit] + b"...")


def _note(text: str) -> None:
    """Shown with a falsifying example (a no-op outside hypothesis)."""
    with contextlib.suppress(InvalidArgument):
        note(text)


def run_checked(folder: Path, args: list) -> tuple[int, str, str]:
    """Run ``main(args)`` and check the contract; ``folder`` holds the inputs (and outputs)."""
    args = [str(a) for a in args]
    before = _snapshot(folder)
    for name, data in before.items():
        if data is not None:
            _note(f"input {name}: {_show(data)}")
    _note(f"command: noisybox {' '.join(args)}")
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(args)
    except KeyboardInterrupt:
        raise
    except BaseException:  # SystemExit too: main returns its status, never exits
        pytest.fail(
            f"main({args!r}) raised instead of returning a status:\n"
            + traceback.format_exc(limit=-8),
            pytrace=False,
        )
    err = stderr.getvalue()
    after = _snapshot(folder)
    changed = sorted(
        name for name, data in before.items() if name not in after or after[name] != data
    )
    assert not changed, f"exit {code}: inputs changed or removed: {changed}"
    assert code in (0, 2), f"exit status {code!r} (expected 0 or 2); stderr: {err!r}"
    if code == 2:
        lines = err.splitlines()
        assert (
            len(lines) == 1 and lines[0].startswith("noisybox: error: ") and "Traceback" not in err
        ), f"exit 2 without a one-line error; stderr: {err!r}"
        written = sorted(set(after) - set(before))
        assert not written, f"exit 2 but wrote {written}; stderr: {err!r}"
    return code, stdout.getvalue(), err


# --------------------------------------------------------------------------- JSON mutations


@dataclass(frozen=True)
class Raw:
    """A JSON token that ``json.dumps`` cannot write, spliced into the serialised text."""

    name: str
    text: str

    def __repr__(self) -> str:
        return f"Raw({self.name})"


RAW_TOKENS = [
    Raw("NaN", "NaN"),
    Raw("Infinity", "Infinity"),
    Raw("-Infinity", "-Infinity"),
    Raw("1e309", "1e309"),
    Raw("-1e309", "-1e309"),
    Raw("1e-400", "1e-400"),
    Raw("10**400", "1" + "0" * 400),
    Raw("-10**400", "-1" + "0" * 400),
    Raw("2**64+1", str(2**64 + 1)),
    Raw("2**63", str(2**63)),
    Raw("-2**63-1", str(-(2**63) - 1)),
    Raw("5000 nested lists", "[" * 5000 + "]" * 5000),
    Raw("5000 nested objects", '{"a":' * 5000 + "0" + "}" * 5000),
    Raw("lone surrogate", '"\\ud800"'),
    Raw("NUL in a string", '"a\\u0000b"'),
]
PLAIN_VALUES = [
    None,
    True,
    False,
    "",
    "x",
    "12",
    "nan",
    -1,
    0,
    -0.5,
    1.5,
    10**6,
    [],
    {},
    [1, 2, 3, 4],
    {"id": 1},
    ["x"],
]
VALUES = st.sampled_from(PLAIN_VALUES + RAW_TOKENS)

_MISSING = object()


def _walk(value, path):
    for key in path:
        if isinstance(value, dict) and isinstance(key, str) and key in value:
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            return _MISSING
    return value


def json_mutations(paths, sections=("images", "annotations", "categories")):
    """Mutations of a JSON document: ``(op, path[, value])`` tuples."""
    options = [st.tuples(st.just("delete"), paths), st.tuples(st.just("set"), paths, VALUES)]
    if sections:
        options.append(st.tuples(st.just("duplicate-id"), st.sampled_from(sections)))
    return st.one_of(options)


def apply_json(document, mutations):
    holder = [copy.deepcopy(document)]
    for mutation in mutations:
        op = mutation[0]
        if op == "duplicate-id":
            records = _walk(holder[0], (mutation[1],))
            if isinstance(records, list) and len(records) > 1:
                first, second = records[0], records[1]
                if isinstance(first, dict) and isinstance(second, dict) and "id" in first:
                    second["id"] = copy.deepcopy(first["id"])
            continue
        path = (0, *mutation[1])
        parent = _walk(holder, path[:-1])
        key = path[-1]
        if isinstance(parent, dict) and isinstance(key, str):
            if op == "delete":
                parent.pop(key, None)
            else:
                parent[key] = mutation[2]
        elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
            if op == "delete":
                if parent is not holder:
                    del parent[key]
            else:
                parent[key] = mutation[2]
    return holder[0]


def dumps(value, indent: int | None = None) -> bytes:
    raws: list[Raw] = []

    def encode(item):
        if isinstance(item, Raw):
            raws.append(item)
            return f"@@RAW{len(raws) - 1}@@"
        raise TypeError(type(item).__name__)

    text = json.dumps(value, indent=indent, default=encode)
    for index, raw in enumerate(raws):
        text = text.replace(f'"@@RAW{index}@@"', raw.text, 1)
    return text.encode()


# --------------------------------------------------------------------------- byte mutations

POSITION = st.integers(0, 10**6)
BYTE_MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), POSITION),
    st.tuples(st.just("insert"), POSITION, st.binary(min_size=1, max_size=8)),
    st.tuples(
        st.just("insert"), POSITION, st.sampled_from([b"\xff", b"\xc3(", b"\x00", b"\xed\xa0\x80"])
    ),
    st.tuples(st.just("replace"), st.binary(max_size=64)),
    st.tuples(st.just("encode"), st.sampled_from(["utf-8-sig", "utf-16", "utf-32"])),
)
MAYBE_BYTES = st.one_of(st.none(), BYTE_MUTATIONS)


def apply_bytes(data: bytes, mutation) -> bytes:
    if mutation is None:
        return data
    op = mutation[0]
    if op == "truncate":
        return data[: mutation[1] % (len(data) + 1)]
    if op == "insert":
        at = mutation[1] % (len(data) + 1)
        return data[:at] + mutation[2] + data[at:]
    if op == "replace":
        return mutation[1]
    try:
        return data.decode("utf-8").encode(mutation[1])
    except UnicodeError:
        return data


# --------------------------------------------------------------------------- annotation commands

ANNOTATION_COMMANDS = ["corrupt", "subsample", "inspect"]
ON_INVALID = st.sampled_from([None, "error", "skip", "keep"])


def annotation_args(command: str, source: Path, out: Path, on_invalid, as_json: bool) -> list:
    if command == "inspect":
        return ["inspect", source, *(["--json"] if as_json else [])]
    extra = [] if on_invalid is None else ["--on-invalid", on_invalid]
    if command == "corrupt":
        return ["corrupt", source, "--eta", "0.2", "-o", out, *extra]
    return ["subsample", source, "--fraction", "0.5", "-o", out, *extra]


# --------------------------------------------------------------------------- COCO

COCO_BASE = coco_document(images=2, boxes_per_image=2)
IMAGE_KEYS = ["id", "width", "height", "file_name"]
ANNOTATION_KEYS = ["id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation"]
COCO_PATHS = st.one_of(
    st.just(()),
    st.tuples(st.sampled_from(["images", "annotations", "categories", "info"])),
    st.tuples(st.just("images"), st.integers(0, 1)),
    st.tuples(st.just("images"), st.integers(0, 1), st.sampled_from(IMAGE_KEYS)),
    st.tuples(st.just("annotations"), st.integers(0, 3)),
    st.tuples(st.just("annotations"), st.integers(0, 3), st.sampled_from(ANNOTATION_KEYS)),
    st.tuples(st.just("annotations"), st.integers(0, 3), st.just("bbox"), st.integers(0, 3)),
    st.tuples(st.just("categories"), st.integers(0, 2)),
    st.tuples(st.just("categories"), st.integers(0, 2), st.sampled_from(["id", "name"])),
)
COCO_MUTATIONS = st.lists(json_mutations(COCO_PATHS), min_size=1, max_size=3)


@pytest.mark.parametrize("command", ANNOTATION_COMMANDS)
@FUZZ
@given(
    mutations=COCO_MUTATIONS,
    raw=MAYBE_BYTES,
    indent=st.sampled_from([None, 2]),
    on_invalid=ON_INVALID,
    as_json=st.booleans(),
)
def test_malformed_coco(command, mutations, raw, indent, on_invalid, as_json):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / "train.json"
        source.write_bytes(apply_bytes(dumps(apply_json(COCO_BASE, mutations), indent), raw))
        args = annotation_args(command, source, folder / "out.json", on_invalid, as_json)
        run_checked(folder, args)


# --------------------------------------------------------------------------- PASCAL VOC


def voc_text(index: int) -> str:
    objects = VOC_OBJECT.format(label="person", x1=10 + index, y1=20, x2=110, y2=90)
    objects += VOC_OBJECT.format(label="horse", x1=200, y1=100 + index, x2=260, y2=300)
    return VOC_TEMPLATE.format(name=f"{index:06d}", width=500, height=375, objects=objects)


VOC_ELEMENTS = [
    "filename",
    "size",
    "size/width",
    "size/height",
    "size/depth",
    "object",
    "object/name",
    "object/difficult",
    "object/bndbox",
    "object/bndbox/xmin",
    "object/bndbox/ymin",
    "object/bndbox/xmax",
    "object/bndbox/ymax",
]
VOC_TEXTS = [
    "",
    "abc",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "-1e309",
    "-5",
    "0",
    "1" + "0" * 400,
    "9223372036854775808",
    " 12 ",
    "1_000",
    "\u0661\u0662",
    "0x10",
    "12.5",
    "1e-400",
    "true",
    "../../../../etc/passwd",
    "a\x00b",
]
VOC_MUTATION = st.one_of(
    st.tuples(st.just("delete"), st.sampled_from(VOC_ELEMENTS), st.integers(0, 1)),
    st.tuples(
        st.just("text"),
        st.sampled_from(VOC_ELEMENTS),
        st.integers(0, 1),
        st.sampled_from(VOC_TEXTS),
    ),
    st.tuples(st.just("duplicate"), st.sampled_from(VOC_ELEMENTS), st.integers(0, 1)),
    st.tuples(st.just("root"), st.sampled_from(["voc", "Annotation", "html"])),
)
VOC_SOURCE_MUTATIONS = [
    None,
    "internal entity",
    "billion laughs",
    "external entity",
    "doctype only",
    "undeclared entity",
    "5000 nested elements",
    "declared utf-16",
    "declared bogus encoding",
    "latin-1 byte in filename",
    "no XML declaration",
]
BILLION_LAUGHS = (
    '<!DOCTYPE annotation [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    + "]>"
)


def _voc_find(root: ET.Element, path: str, index: int):
    """``(parent, element)`` for ``path``; paths below ``object`` pick object ``index``."""
    parts = path.split("/")
    parent = root
    if parts[0] == "object":
        objects = root.findall("object")
        if not objects:
            return None
        if len(parts) == 1:
            return root, objects[index % len(objects)]
        parent, parts = objects[index % len(objects)], parts[1:]
    for part in parts[:-1]:
        parent = parent.find(part)
        if parent is None:
            return None
    element = parent.find(parts[-1])
    return None if element is None else (parent, element)


def voc_bytes(text: str, mutations, source_mutation, raw) -> bytes:
    root = ET.fromstring(text)
    for mutation in mutations:
        if mutation[0] == "root":
            root.tag = mutation[1]
            continue
        found = _voc_find(root, mutation[1], mutation[2])
        if found is None:
            continue
        parent, element = found
        if mutation[0] == "delete":
            parent.remove(element)
        elif mutation[0] == "text":
            element.text = mutation[3]
        else:
            parent.append(copy.deepcopy(element))
    body = ET.tostring(root, encoding="unicode")
    declaration = '<?xml version="1.0" encoding="utf-8"?>\n'
    prefix = ""
    if source_mutation == "internal entity":
        prefix = '<!DOCTYPE annotation [<!ENTITY e "500">]>\n'
        body = body.replace("<width>500", "<width>&e;", 1)
    elif source_mutation == "billion laughs":
        prefix = BILLION_LAUGHS + "\n"
        body = body.replace("<folder>VOC2007", "<folder>&i;", 1)
    elif source_mutation == "external entity":
        prefix = '<!DOCTYPE annotation [<!ENTITY e SYSTEM "file:///etc/hostname">]>\n'
        body = body.replace("<folder>VOC2007", "<folder>&e;", 1)
    elif source_mutation == "doctype only":
        prefix = "<!DOCTYPE annotation>\n"
    elif source_mutation == "undeclared entity":
        body = body.replace("<width>500", "<width>&e;", 1)
    elif source_mutation == "5000 nested elements":
        body = body.replace("</folder>", "</folder>" + "<a>" * 5000 + "</a>" * 5000, 1)
    elif source_mutation == "declared utf-16":
        declaration = declaration.replace("utf-8", "utf-16")
    elif source_mutation == "declared bogus encoding":
        declaration = declaration.replace("utf-8", "no-such-codec")
    elif source_mutation == "no XML declaration":
        declaration = ""
    data = (declaration + prefix + body + "\n").encode("utf-8", "surrogatepass")
    if source_mutation == "latin-1 byte in filename":
        data = data.replace(b".jpg</filename>", b"\xe9.jpg</filename>", 1)
    return apply_bytes(data, raw)


VOC_MUTATIONS = st.lists(VOC_MUTATION, min_size=0, max_size=3)


@pytest.mark.parametrize("command", ANNOTATION_COMMANDS)
@FUZZ
@given(
    mutations=VOC_MUTATIONS,
    source_mutation=st.sampled_from(VOC_SOURCE_MUTATIONS),
    raw=MAYBE_BYTES,
    on_invalid=ON_INVALID,
    as_json=st.booleans(),
)
def test_malformed_voc_file(command, mutations, source_mutation, raw, on_invalid, as_json):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / "000000.xml"
        source.write_bytes(voc_bytes(voc_text(0), mutations, source_mutation, raw))
        args = annotation_args(command, source, folder / "out.xml", on_invalid, as_json)
        run_checked(folder, args)


VOC_FOLDER_EXTRAS = [None, "empty .xml file", "folder named .xml", "a .txt file", "other root"]


@pytest.mark.parametrize("command", ANNOTATION_COMMANDS)
@FUZZ
@given(
    target=st.integers(0, 2),
    mutations=VOC_MUTATIONS,
    source_mutation=st.sampled_from(VOC_SOURCE_MUTATIONS),
    raw=MAYBE_BYTES,
    extra=st.sampled_from(VOC_FOLDER_EXTRAS),
    on_invalid=ON_INVALID,
    as_json=st.booleans(),
)
def test_malformed_voc_folder(
    command, target, mutations, source_mutation, raw, extra, on_invalid, as_json
):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / "Annotations"
        source.mkdir()
        for index in range(3):
            text = voc_text(index)
            data = (
                voc_bytes(text, mutations, source_mutation, raw)
                if index == target
                else text.encode()
            )
            (source / f"{index:06d}.xml").write_bytes(data)
        if extra == "empty .xml file":
            (source / "empty.xml").write_bytes(b"")
        elif extra == "folder named .xml":
            (source / "folder.xml").mkdir()
        elif extra == "a .txt file":
            (source / "notes.txt").write_bytes(b"0 0.5 0.5 0.1 0.1\n")
        elif extra == "other root":
            (source / "zzz.xml").write_bytes(b"<html><body/></html>")
        args = annotation_args(command, source, folder / "out", on_invalid, as_json)
        run_checked(folder, args)


# --------------------------------------------------------------------------- YOLO

YOLO_BASE = [
    [
        ["0", "0.500000", "0.500000", "0.200000", "0.300000"],
        ["1", "0.250000", "0.300000", "0.100000", "0.100000"],
    ],
    [
        ["2", "0.600000", "0.400000", "0.300000", "0.200000"],
        ["0", "0.700000", "0.700000", "0.200000", "0.200000"],
    ],
    [["1", "0.300000", "0.600000", "0.250000", "0.150000"]],
]
YOLO_FIELDS = [
    "9223372036854775808",
    "18446744073709551616",
    "-1",
    "1e309",
    "-1e309",
    "nan",
    "inf",
    "-inf",
    "1.5",
    "1.0",
    "0x1",
    "1e-400",
    "abc",
    "1" + "0" * 400,
    "-0",
    "0.5",
    "3",
    "1_0",
    "+1",
    "1e3",
    "1e18",
]
YOLO_CLASSES = [
    b"",
    b"\n\n\n",
    b"\xff\xfe\x00\x01",
    b"person\x00\nbicycle\n",
    b"person\r\nbicycle\r\ncar\r\n",
    b"only-one\n",
    b"\xe9t\xe9\n",
]
FILE, LINE = st.integers(0, 2), st.integers(0, 2)
YOLO_MUTATION = st.one_of(
    st.tuples(st.just("field"), FILE, LINE, st.integers(0, 4), st.sampled_from(YOLO_FIELDS)),
    st.tuples(st.just("drop-field"), FILE, LINE, st.integers(0, 4)),
    st.tuples(st.just("add-field"), FILE, LINE, st.sampled_from(YOLO_FIELDS)),
    st.tuples(st.just("drop-line"), FILE, LINE),
    st.tuples(st.just("empty-file"), FILE),
    st.tuples(st.just("separator"), FILE, st.sampled_from(["\t", ",", "\x0c", "  "])),
    st.tuples(st.just("ending"), FILE, st.sampled_from(["\r", "\r\n", "", "\n\n"])),
    st.tuples(st.just("classes"), st.sampled_from(YOLO_CLASSES)),
    st.just(("no-classes",)),
    st.tuples(st.just("bytes"), FILE, BYTE_MUTATIONS),
)


@pytest.mark.parametrize("command", ANNOTATION_COMMANDS)
@FUZZ
@given(
    mutations=st.lists(YOLO_MUTATION, min_size=1, max_size=4),
    on_invalid=ON_INVALID,
    as_json=st.booleans(),
)
@example(  # found by this test: describing an invalid box took another image's size
    mutations=[("empty-file", 0), ("empty-file", 1), ("empty-file", 0), ("field", 2, 2, 1, "nan")],
    on_invalid="skip",
    as_json=False,
)
def test_malformed_yolo(command, mutations, on_invalid, as_json):
    files = copy.deepcopy(YOLO_BASE)
    separator, ending, raw = [" "] * 3, ["\n"] * 3, [None] * 3
    classes: bytes | None = b"person\nbicycle\ncar\n"
    for mutation in mutations:
        op = mutation[0]
        lines = files[mutation[1]] if op not in ("classes", "no-classes") else None
        line = (
            lines[mutation[2] % len(lines)]
            if lines and op in ("field", "drop-field", "add-field", "drop-line")
            else None
        )
        if op == "field" and line is not None and mutation[3] < len(line):
            line[mutation[3]] = mutation[4]
        elif op == "drop-field" and line is not None and mutation[3] < len(line):
            del line[mutation[3]]
        elif op == "add-field" and line is not None:
            line.append(mutation[3])
        elif op == "drop-line" and line is not None:
            lines.remove(line)
        elif op == "empty-file":
            lines.clear()
        elif op == "separator":
            separator[mutation[1]] = mutation[2]
        elif op == "ending":
            ending[mutation[1]] = mutation[2]
        elif op == "classes":
            classes = mutation[1]
        elif op == "no-classes":
            classes = None
        elif op == "bytes":
            raw[mutation[1]] = mutation[2]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / "labels"
        (source / "train").mkdir(parents=True)
        if classes is not None:
            (source / "classes.txt").write_bytes(classes)
        for index, lines in enumerate(files):
            text = "".join(separator[index].join(line) + ending[index] for line in lines)
            (source / "train" / f"img{index}.txt").write_bytes(
                apply_bytes(text.encode(), raw[index])
            )
        args = annotation_args(command, source, folder / "out", on_invalid, as_json)
        run_checked(folder, args)


# --------------------------------------------------------------------------- eval

DETECTIONS_BASE = [
    {
        "image_id": record["image_id"],
        "category_id": record["category_id"],
        "bbox": [value + 1.5 for value in record["bbox"]],
        "score": 0.9 - 0.1 * index,
    }
    for index, record in enumerate(COCO_BASE["annotations"])
]
DT_PATHS = st.one_of(
    st.just(()),
    st.tuples(st.integers(0, 3)),
    st.tuples(st.integers(0, 3), st.sampled_from(["image_id", "category_id", "bbox", "score"])),
    st.tuples(st.integers(0, 3), st.just("bbox"), st.integers(0, 3)),
)


@FUZZ
@given(
    gt_mutations=st.lists(json_mutations(COCO_PATHS), max_size=2),
    dt_mutations=st.lists(json_mutations(DT_PATHS, sections=()), max_size=3),
    gt_raw=MAYBE_BYTES,
    dt_raw=st.one_of(st.none(), st.none(), BYTE_MUTATIONS),
    as_json=st.booleans(),
)
def test_malformed_eval_inputs(gt_mutations, dt_mutations, gt_raw, dt_raw, as_json):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        gt, dt = folder / "gt.json", folder / "dt.json"
        gt.write_bytes(apply_bytes(dumps(apply_json(COCO_BASE, gt_mutations), 2), gt_raw))
        dt.write_bytes(apply_bytes(dumps(apply_json(DETECTIONS_BASE, dt_mutations)), dt_raw))
        run_checked(folder, ["eval", "--gt", gt, "--dt", dt, *(["--json"] if as_json else [])])


# --------------------------------------------------------------------------- report

METRICS = [f"AP{t}" for t in range(50, 100, 5)] + ["mAP", "mAP75:95"]
RECORD_KEYS = ["run_id", "settings", "fraction", "eta", "seed", "loss", "metrics"]
OPTIONAL_KEYS = ["alpha", "run_s", "diagnostics"]


def results_record(index: int) -> dict:
    loss = ["iou", "alpha-iou"][index % 2]
    return {
        "run_id": f"run-{index}",
        "settings": "0123abcd",
        "fraction": 1.0,
        "eta": 0.2,
        "seed": index // 2,
        "loss": loss,
        "alpha": 3.0 if loss == "alpha-iou" else None,
        "run_s": 12.5,
        "metrics": {metric: 60.0 - 3 * rank - index for rank, metric in enumerate(METRICS)},
        "diagnostics": {"positive_iou": {"p10": 0.3, "p50": 0.5, "p90": 0.8}, "matched_iou": 0.7},
    }


RESULTS_BASE = [results_record(index) for index in range(4)]
RECORD = st.integers(0, 3)
RESULTS_PATHS = st.one_of(
    st.tuples(RECORD),
    st.tuples(RECORD, st.sampled_from(RECORD_KEYS + OPTIONAL_KEYS)),
    st.tuples(RECORD, st.just("metrics"), st.sampled_from(METRICS)),
    st.tuples(RECORD, st.just("diagnostics"), st.sampled_from(["positive_iou", "matched_iou"])),
    st.tuples(
        RECORD,
        st.just("diagnostics"),
        st.just("positive_iou"),
        st.sampled_from(["p10", "p50", "p90"]),
    ),
)
JUNK_LINES = [
    b"{",
    b"null",
    b"[]",
    b"{}",
    b"\xff\xfe",
    b"NaN",
    b'{"run_id": 1}',
    b"1" * 5000,
    b"\x00",
]
LINE_MUTATION = st.one_of(
    st.tuples(st.just("truncate"), RECORD, POSITION),
    st.tuples(st.just("insert"), st.integers(0, 4), st.sampled_from(JUNK_LINES)),
    st.tuples(st.just("bytes"), RECORD, BYTE_MUTATIONS),
)


@FUZZ
@given(
    mutations=st.lists(json_mutations(RESULTS_PATHS, sections=()), min_size=1, max_size=4),
    line_mutations=st.lists(LINE_MUTATION, max_size=2),
    format=st.sampled_from([None, "csv", "latex", "html"]),
)
def test_malformed_results_store(mutations, line_mutations, format):
    lines = [dumps(record) for record in apply_json(RESULTS_BASE, mutations)]
    for mutation in line_mutations:
        if mutation[0] == "insert":
            lines.insert(mutation[1], mutation[2])
        elif mutation[1] < len(lines):
            line = lines[mutation[1]]
            lines[mutation[1]] = (
                line[: mutation[2] % (len(line) + 1)]
                if mutation[0] == "truncate"
                else apply_bytes(line, mutation[2])
            )
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "results").mkdir()
        (folder / "results" / "results.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
        run_checked(folder, ["report", folder, *(["--format", format] if format else [])])


def test_the_unmutated_inputs_pass():
    """The fuzz bases themselves are valid: every command exits 0 on them."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        coco = folder / "train.json"
        coco.write_bytes(dumps(COCO_BASE, 2))
        voc = folder / "voc.xml"
        voc.write_bytes(voc_bytes(voc_text(0), [], None, None))
        annotations = folder / "Annotations"
        annotations.mkdir()
        for index in range(3):
            (annotations / f"{index:06d}.xml").write_text(voc_text(index))
        yolo = folder / "labels" / "train"
        yolo.mkdir(parents=True)
        (folder / "labels" / "classes.txt").write_text("person\nbicycle\ncar\n")
        for index, lines in enumerate(YOLO_BASE):
            (yolo / f"img{index}.txt").write_text("".join(" ".join(line) + "\n" for line in lines))
        for number, source in enumerate((coco, voc, annotations, folder / "labels")):
            suffix = source.suffix
            for command in ANNOTATION_COMMANDS:
                out = folder / f"out-{number}-{command}{suffix}"
                assert (
                    run_checked(folder, annotation_args(command, source, out, None, True))[0] == 0
                )
        dt = folder / "dt.json"
        dt.write_bytes(dumps(DETECTIONS_BASE))
        assert run_checked(folder, ["eval", "--gt", coco, "--dt", dt])[0] == 0
        store = folder / "bench"
        (store / "results").mkdir(parents=True)
        (store / "results" / "results.jsonl").write_bytes(
            b"".join(dumps(record) + b"\n" for record in RESULTS_BASE)
        )
        assert run_checked(store, ["report", store])[0] == 0
