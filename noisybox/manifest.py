"""Provenance manifests: everything needed to know how an output was made, and to remake it."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__


def checksum(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (relative paths and contents, in order)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file != path:
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def manifest_path(output: Path) -> Path:
    """Where the manifest of ``output`` goes: beside it, ``OUTPUT.manifest.json``."""
    return output.with_name(output.name + ".manifest.json")


def command_line() -> str | None:
    """This process's command line, quoted for a shell (``None`` when there is none)."""
    return shlex.join(sys.argv) if sys.argv and sys.argv[0] else None


def build_manifest(
    command: str,
    input_path: Path,
    output: Path,
    *,
    argv: str | None = None,
    timestamp: bool = True,
    **details: Any,
) -> dict[str, Any]:
    """The common header of a manifest plus the command's own ``details``: ``argv`` is the
    command line that made it (the caller's to give), ``timestamp`` adds the time made."""
    header = {
        "tool": "noisybox",
        "version": __version__,
        "command": command,
        "argv": argv,
    }
    if timestamp:
        header["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        **header,
        "python": platform.python_version(),
        "input": {"path": os.fspath(input_path), "checksum": checksum(input_path)},
        "output": os.fspath(output),
        **details,
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """A manifest as the bytes of its file."""
    return json.dumps(manifest, indent=2, sort_keys=False).encode() + b"\n"
