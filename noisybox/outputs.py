"""Checks every path a command will write, before it writes anything.

The rules, the same for every command and every file it writes (outputs, manifests,
sidecars, figures):

- an output is never an input, never inside an input folder, and never holds an input;
- an existing output is replaced only with ``overwrite``, and then only where noisybox wrote
  it: a file noisybox names itself (a manifest) must be one of its manifests, and a folder
  must be empty or carry noisybox's mark (:data:`MARKER` inside it, or a noisybox manifest
  beside it naming it). A folder someone else wrote is refused, naming what is in it;
- the nearest existing folder above an output must be a folder this process can write to;
- names hold no NUL byte and no part longer than the file system allows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import NoisyboxError

#: the file inside a folder made by noisybox (``make-dataset``) that marks it as noisybox's
MARKER = ".noisybox.json"


@dataclass(frozen=True)
class Output:
    """A path a command will write.

    Attributes:
        path: where.
        folder: whether it is a folder (replaced whole) rather than a file.
        sidecar: whether noisybox names it itself beside the main output (a manifest): an
            existing one is replaced only if it is a noisybox manifest.
        named: whether the user named it; an output noisybox named (the default beside the
            input) is replaced only if its noisybox manifest is beside it.
    """

    path: Path
    folder: bool = False
    sidecar: bool = False
    named: bool = True


#: the longest output name: the file system's 255 bytes less what a temporary beside it adds
OUTPUT_NAME_LIMIT = 200


def check_name(path: Path, limit: int = 255) -> None:
    """Refuse a path with a NUL byte or a part longer than ``limit`` bytes."""
    text = os.fspath(path)
    if "\0" in text:
        raise NoisyboxError(f"{text!r}: a path cannot hold a NUL byte")
    for part in Path(text).parts:
        if len(os.fsencode(part)) > limit:
            raise NoisyboxError(f"{part[:40]}…: a file name longer than {limit} bytes")


#: the keys that make a ``config.json`` a noisybox run's (run folders of earlier versions
#: carry no :data:`MARKER`)
RUN_CONFIG_KEYS = {"train_annotations", "val_annotations", "images", "model", "loss"}


def is_run_folder(path: Path) -> bool:
    """A folder noisybox's trainer or bench wrote: it holds :data:`MARKER`, a run's
    ``config.json``, or a bench's ``results/`` store."""
    if (path / MARKER).is_file():
        return True
    try:
        config = json.loads((path / "config.json").read_bytes())
    except (OSError, ValueError, RecursionError):
        config = None
    if isinstance(config, dict) and RUN_CONFIG_KEYS <= config.keys():
        return True
    return (path / "results").is_dir() and any((path / "results").glob("*.jsonl"))


def check_work_folder(folder: Path, inputs: Iterable[Path | None], what: str) -> None:
    """Refuse to write a run or bench folder where it could hurt: one that is, holds or lies
    inside an input, or an existing folder with files noisybox did not write."""
    check_outputs([Output(folder, folder=True)], inputs, overwrite=True, replace=False)
    if folder.exists() and any(folder.iterdir()) and not is_run_folder(folder):
        raise NoisyboxError(
            f"{folder}: not a {what} folder noisybox wrote (holds {_contents(folder)}); "
            "choose another `out=FOLDER`"
        )


def mark_folder(folder: Path, what: str) -> None:
    """Put noisybox's mark (:data:`MARKER`) in a folder it writes into."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    if not marker.exists():
        marker.write_text(json.dumps({"tool": "noisybox", "folder": what}) + "\n")


def written_by_noisybox(path: Path) -> bool:
    """Whether ``path`` is something noisybox wrote: a manifest (a JSON object with
    ``"tool": "noisybox"``), a per-box table (noisybox's header), or a folder that is empty,
    holds :data:`MARKER`, or has a noisybox manifest beside it."""
    if path.is_dir():
        if not any(path.iterdir()) or (path / MARKER).is_file():
            return True
        return _manifest_names(path)
    if path.suffix == ".csv":
        return _is_box_table(path)
    return _is_manifest(path)


def _is_box_table(path: Path) -> bool:
    """A per-box table noisybox wrote: its header is exactly noisybox's columns."""
    from .provenance import COLUMNS

    try:
        with path.open("rb") as handle:
            return handle.readline().rstrip(b"\r\n") == ",".join(COLUMNS).encode()
    except OSError:
        return False


def _manifest_names(path: Path) -> bool:
    """Whether a noisybox manifest beside ``path`` (``PATH.manifest.json``) names it as its
    output (a manifest copied beside another file does not)."""
    manifest = path.with_name(path.name + ".manifest.json")
    if not _is_manifest(manifest):
        return False
    output = json.loads(manifest.read_bytes()).get("output")
    return isinstance(output, str) and Path(output).name == path.name


def _is_manifest(path: Path) -> bool:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(document, dict) and document.get("tool") == "noisybox"


def _contents(folder: Path, shown: int = 5) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _nearest_existing(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def _same_or_inside(inner: Path, outer: Path) -> bool:
    """Whether ``inner`` is ``outer`` or lies inside it, by path and by file identity (a
    bind mount or another spelling of the same folder)."""
    if inner == outer or inner.is_relative_to(outer):
        return True
    if not outer.exists():
        return False
    for candidate in (inner, *inner.parents):
        try:
            if candidate.exists() and os.path.samefile(candidate, outer):
                return True
        except OSError:
            continue
    return False


def check_output_name(path: Path) -> None:
    """Refuse ``.``, ``/``, the empty path or the working folder as something to write."""
    if not path.name or path.resolve() in (Path.cwd().resolve(), Path("/")):
        raise NoisyboxError(f"{os.fspath(path) or repr('')}: not a name to write to")


def check_outputs(
    outputs: Sequence[Output],
    inputs: Iterable[Path | None],
    overwrite: bool,
    replace: bool = True,
) -> None:
    """Raise :class:`NoisyboxError` (one line) unless every one of ``outputs`` may be written
    under the rules of this module; ``inputs`` are the paths the command reads (``None``
    entries are ignored). ``replace=False`` checks only names, places and inputs (a folder
    that is written into, not replaced)."""
    sources = [Path(p) for p in inputs if p is not None]
    for source in sources:
        check_name(source)
    resolved_sources = [(s, s.resolve()) for s in sources if s.exists()]
    for output in outputs:
        path = output.path
        check_name(path, OUTPUT_NAME_LIMIT)
        check_output_name(path)
        target = path.resolve()
        for source, real in resolved_sources:
            if _same_or_inside(target, real) or _same_or_inside(real, target):
                raise NoisyboxError(
                    f"{path}: an output must not be, contain or lie inside the input {source}"
                )
        if not replace:
            if path.exists() and not path.is_dir():
                raise NoisyboxError(f"{path}: exists and is not a folder")
        elif path.is_symlink() or path.exists():
            if not overwrite:
                raise NoisyboxError(
                    f"{path}: exists already; choose another output or pass `overwrite=True`"
                )
            if path.is_symlink():
                raise NoisyboxError(f"{path}: is a symbolic link; noisybox does not replace one")
            if path.is_dir() != output.folder:
                kind = "folder" if output.folder else "file"
                raise NoisyboxError(f"{path}: the output is a {kind} and this path is not")
            if output.folder and not written_by_noisybox(path):
                raise NoisyboxError(
                    f"{path}: not written by noisybox (holds {_contents(path)}); "
                    "refusing to replace it: choose another output"
                )
            if output.sidecar and not written_by_noisybox(path):
                raise NoisyboxError(
                    f"{path}: exists and is not a noisybox manifest; refusing to replace it"
                )
            if not output.named and not _manifest_names(path):
                raise NoisyboxError(
                    f"{path}: exists and noisybox did not write it (no manifest of it beside "
                    "it); refusing to replace it: name an output with -o"
                )
        parent = _nearest_existing(path)
        if not parent.is_dir():
            raise NoisyboxError(f"{path}: {parent} is not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise NoisyboxError(f"{path}: cannot write in {parent} (permission denied)")
