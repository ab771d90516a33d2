"""Where the records of a large JSON document lie, found without parsing it.

A COCO file of millions of boxes parsed whole becomes millions of Python dicts (about
1.5 KB a box). :func:`array_items` instead scans the file's bytes in blocks, vectorized,
for the structure alone (quotes, escapes, and brackets outside strings) and returns the
byte span of each object in one top-level array, so that the records can be parsed a chunk
at a time (:func:`read_items`) and dropped. Nothing here checks that the JSON is valid:
the chunks are parsed by orjson, which does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

#: bytes read at a time by the scan
BLOCK = 1 << 22

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_DELTA = np.zeros(256, np.int8)  # +1 opens, -1 closes
_DELTA[[ord("{"), ord("[")]] = 1
_DELTA[[ord("}"), ord("]")]] = -1
#: a key and its colon ending a text, the key opened after "{" or "," (so not inside a
#: longer key cut by the look-back window)
_KEY_BEFORE = re.compile(rb'[{,][ \t\n\r]*"((?:[^"\\]|\\.)*)"[ \t\n\r]*:[ \t\n\r]*\Z', re.DOTALL)
#: the only whitespace JSON allows
JSON_WHITESPACE = b" \t\n\r"
#: deeper nesting is left to the whole-file parse: orjson writes at most 255 levels
MAX_DEPTH = 250
#: bytes of the previous block kept for :func:`find_long_integer`'s search across blocks
LONG_TAIL = 64
#: the digits of an integer orjson may read inexactly (beyond 64 bits it reads a float)
LONG_DIGITS = 19
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NOT_ZERO = re.compile(rb"[^0]")


def find_long_integer(data: bytes) -> tuple[int, int] | None:
    """``(start, end)`` of the first integer of :data:`LONG_DIGITS` digits or more in
    ``data``, or ``None``: a run of digits neither preceded by a ``.`` nor followed by ``.``,
    ``e`` or ``E`` (a fraction's digits are no concern: orjson and Python read floats
    alike). A run at the very end counts (it may go on in the next block).

    The digits are mapped to ``0`` and runs found with ``bytes.find``: the regular
    expression ``(?<![0-9.])[0-9]{19,}(?![0-9.eE])`` gives the same (tested) but takes
    seconds on a detection file full of long fractions.
    """
    zeros = data.translate(_DIGITS_AS_ZERO)
    at = zeros.find(b"0" * LONG_DIGITS)
    while at != -1:  # the leftmost match starts a maximal run of digits
        after = _NOT_ZERO.search(zeros, at + LONG_DIGITS)
        end = after.start() if after else len(data)
        if (at == 0 or data[at - 1] != ord(".")) and data[end : end + 1] not in (b".", b"e", b"E"):
            return at, end
        at = zeros.find(b"0" * LONG_DIGITS, end)
    return None


@dataclass(frozen=True)
class ArrayItems:
    """A top-level array of objects in a JSON file.

    Attributes:
        start: offset of the array's ``[``.
        end: offset just after its ``]``.
        spans: ``(N, 2)`` int64, each object's ``[start, end)`` offsets, in order.
    """

    start: int
    end: int
    spans: np.ndarray


@dataclass
class _Scan:
    """What a scan carries from one block to the next."""

    in_string: bool = False
    backslashes: int = 0  # length of the backslash run that ended the previous block
    depth: int = 0
    inside: bool = False  # within the wanted array
    started: bool = False  # the document's first "{" seen
    found: bool = False


def _unescaped_quotes(buf: np.ndarray, carried_backslashes: int) -> np.ndarray:
    """Positions of the quotes of ``buf`` not escaped by an odd run of backslashes."""
    quotes = np.flatnonzero(buf == _QUOTE)
    escaped = np.zeros(len(quotes), bool)
    backslash = np.flatnonzero(buf == _BACKSLASH)
    if backslash.size and quotes.size:
        # runs of consecutive backslashes: their last positions and lengths
        breaks = np.flatnonzero(np.diff(backslash) != 1)
        run_end = np.append(backslash[breaks], backslash[-1])
        run_start = np.insert(backslash[breaks + 1], 0, backslash[0])
        length = run_end - run_start + 1
        length[run_start == 0] += carried_backslashes
        run = np.minimum(np.searchsorted(run_end, quotes - 1), len(run_end) - 1)
        escaped = (run_end[run] == quotes - 1) & (length[run] % 2 == 1)
    if quotes.size and quotes[0] == 0 and carried_backslashes % 2:
        escaped[0] = True  # escaped by the run that ended the previous block
    return quotes[~escaped]


def _trailing_backslashes(buf: np.ndarray, carried: int) -> int:
    """Length of the backslash run that ends ``buf`` (continuing one ``carried`` in)."""
    run = 0
    while run < len(buf) and buf[len(buf) - 1 - run] == _BACKSLASH:
        run += 1
    return carried + run if run == len(buf) else run


def _key_before(fd: int, offset: int) -> bytes | None:
    """The object key just before the value at ``offset``, decoded; None if not found."""
    start = max(0, offset - 4096)
    match = _KEY_BEFORE.search(os.pread(fd, offset - start, start))
    if match is None:
        return None
    try:
        return orjson.loads(b'"' + match.group(1) + b'"').encode()
    except orjson.JSONDecodeError:
        return None


def array_items(path: Path, key: str, block: int = BLOCK) -> ArrayItems | None:
    """The spans of the objects in the array ``document[key]`` of the JSON file ``path``.

    ``None`` when the file is not laid out that way, or might not read back the same in
    pieces: not a JSON object, no such key, the key with an array value twice or a key
    too far from its value to be read, the value not an array, an array among its elements
    (a number, string or null among them is found by :func:`read_items`), nesting deeper
    than :data:`MAX_DEPTH`, or an integer of 19 digits or more (which orjson may not read
    exactly). The scan reads ``block`` bytes at a time; memory is two offsets per object.
    """
    wanted = key.encode()
    state = _Scan()
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    array_start = array_end = -1
    tail = b""  # the previous block's last bytes, for digit runs across blocks
    with open(path, "rb") as handle:
        fd = handle.fileno()
        offset = 0
        while chunk := handle.read(block):
            text = tail + chunk
            long_number = find_long_integer(text)
            if long_number and long_number[1] < len(text):
                return None
            # a run of digits at the end may go on (or turn out a fraction) in the next block
            tail = text[max(long_number[0] - 1, 0) :] if long_number else text[-LONG_TAIL:]
            buf = np.frombuffer(chunk, np.uint8)
            quotes = _unescaped_quotes(buf, state.backslashes if state.in_string else 0)
            marks = np.flatnonzero(_DELTA[buf])
            in_string = (np.searchsorted(quotes, marks) + state.in_string) % 2 == 1
            marks = marks[~in_string]
            step = _DELTA[buf[marks]].astype(np.int64)
            after = state.depth + np.cumsum(step)
            before = after - step
            if not state.started:  # only whitespace before the document's "{"
                head = chunk[: marks[0]] if len(marks) else chunk
                if head.strip(JSON_WHITESPACE) or (len(marks) and buf[marks[0]] != ord("{")):
                    return None
                state.started = bool(len(marks))
            if len(after) and after.max() > MAX_DEPTH:
                return None
            # the wanted array's ranges of marks in this block, from top-level events
            edges = np.flatnonzero(((step == 1) & (before == 1)) | ((step == -1) & (after == 1)))
            lo = 0 if state.inside else None
            ranges = []
            for index in edges.tolist():
                position = offset + int(marks[index])
                if step[index] == 1:
                    name = _key_before(fd, position)
                    if name is None:
                        return None  # a key out of reach: it might be the wanted one
                    if name != wanted:
                        continue
                    if state.found or buf[marks[index]] != ord("["):
                        return None  # the key twice, or its value is not an array
                    state.found = state.inside = True
                    array_start, lo = position, index + 1
                elif state.inside:
                    if buf[marks[index]] != ord("]"):
                        return None
                    state.inside = False
                    array_end = position + 1
                    ranges.append((lo, index))
            if state.inside:
                ranges.append((lo, len(marks)))
            for lo, hi in ranges:
                k, b, a, m = step[lo:hi], before[lo:hi], after[lo:hi], marks[lo:hi]
                opening, closing = m[(k == 1) & (b == 2)], m[(k == -1) & (a == 2)]
                if (buf[opening] != ord("{")).any() or (buf[closing] != ord("}")).any():
                    return None  # an array inside the array, or a mismatched bracket
                starts.append(offset + opening)
                ends.append(offset + closing + 1)
            state.depth = int(after[-1]) if len(after) else state.depth
            state.in_string = bool((state.in_string + len(quotes)) % 2)
            state.backslashes = _trailing_backslashes(buf, state.backslashes)
            offset += len(chunk)
    if not state.found or state.inside or state.depth != 0:
        return None
    spans = np.stack(
        [
            np.concatenate(starts or [np.zeros(0, np.int64)]),
            np.concatenate(ends or [np.zeros(0, np.int64)]),
        ],
        axis=1,
    ).astype(np.int64)
    return ArrayItems(array_start, array_end, spans)


def read_span(fd: int, start: int, end: int) -> bytes:
    """The bytes ``[start, end)`` of the open file ``fd``."""
    return os.pread(fd, end - start, start)


def read_items(path: Path, items: ArrayItems, rows: int) -> Iterator[list]:
    """The array's objects parsed ``rows`` at a time, in order.

    Raises ``ValueError`` where the bytes between two objects are not one comma (and
    whitespace), or around them not whitespace, or a chunk holds more than its objects (a
    number, string or null among them): what a parse of the whole array would refuse, or
    :func:`array_items` could not see.
    """
    spans = items.spans
    with open(path, "rb") as handle:
        fd = handle.fileno()
        previous_end = items.start + 1
        for first in range(0, len(spans), rows):
            last = min(first + rows, len(spans)) - 1
            gap = read_span(fd, previous_end, int(spans[first, 0])).strip(JSON_WHITESPACE)
            if gap != (b"," if first else b""):
                raise ValueError(f"unexpected {gap[:20]!r} between records {first - 1} and {first}")
            data = read_span(fd, int(spans[first, 0]), int(spans[last, 1]))
            parsed = orjson.loads(b"[" + data + b"]")
            if len(parsed) != last - first + 1:
                raise ValueError(f"records {first} to {last} do not parse as {last - first + 1}")
            yield parsed
            previous_end = int(spans[last, 1])
        if read_span(fd, previous_end, items.end - 1).strip(JSON_WHITESPACE):
            raise ValueError("unexpected bytes before the array's end")
