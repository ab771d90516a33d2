"""Atomic file writes: a reader sees the old file or the complete new one, never a part.

Temporary files and staging folders sit beside their target, named
``.NAME.nbx-HOST-PID-RANDOM`` (``HOST`` a short hash of the host name). They are removed on
any exception (and on SIGTERM, which the command line turns into an exit); one left by a
process that was killed outright is removed by the next write to the same target on the
same host, once that process is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

#: what a writer makes: the bytes of a file, whole or in pieces (written as they come), or
#: ``{relative path: bytes}`` of a folder
Rendered = bytes | Iterable[bytes] | dict[str, bytes]


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def _prefix(target: Path) -> str:
    """The name prefix of this process's temporaries for ``target``."""
    return f".{target.name}.nbx-{_host_tag()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporaries of ``target`` left by dead processes of this host; return them."""
    removed = []
    host = _host_tag()
    with contextlib.suppress(OSError):
        for leftover in target.parent.glob(f".{glob_escape(target.name)}.nbx-{host}-*"):
            pid_text = leftover.name[len(f".{target.name}.nbx-{host}-") :].split("-", 1)[0]
            if not pid_text.isdigit() or _alive(int(pid_text)):
                continue
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
            removed.append(leftover)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` in one step.

    Parent folders are created. On any exception the temporary file is removed and
    ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; on success it becomes ``path``.

    With ``overwrite``, an existing ``path`` is replaced only once the new folder is
    complete; without it, an existing ``path`` is an error (``FileExistsError``). On any
    exception the staging folder is removed and ``path`` is left as it was.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    staging = _staging_folder(target)
    try:
        yield staging
        _put_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _staging_folder(target: Path) -> Path:
    """An empty folder beside ``target``, with the permissions a new folder gets."""
    staging = Path(tempfile.mkdtemp(prefix=_prefix(target), dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 is for secrets, not datasets
    return staging


def _put_folder(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, replacing an existing folder there."""
    if target.exists():
        retired = Path(tempfile.mkdtemp(prefix=_prefix(target) + "old-", dir=target.parent))
        os.replace(target, retired / target.name)
        os.replace(staging, target)
        shutil.rmtree(retired)
    else:
        os.replace(staging, target)


class AtomicBatch:
    """Several files and folders written beside their places first, then renamed into
    place one after the other by :meth:`commit`: a command killed while writing leaves
    every target as it was (and temporaries the next write removes), and the targets change
    within microseconds of each other. Used as a context manager, an exception discards
    everything staged."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []  # (temporary, target)
        self._removals: list[Path] = []

    def file(self, target: Path, data: bytes | Iterable[bytes]) -> None:
        """Stage ``data`` (bytes, or pieces of bytes written as they come) for the file
        ``target``."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        fd, name = tempfile.mkstemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent)
        self._staged.append((Path(name), target))
        with os.fdopen(fd, "wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                for piece in data:
                    handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, 0o644)

    def folder(self, target: Path, files: dict[str, bytes]) -> None:
        """Stage a folder ``target`` holding ``files`` (``{relative path: bytes}``)."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target)
        staging = _staging_folder(target)
        self._staged.append((staging, target))
        for relative, data in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def put(self, target: Path, rendered: Rendered) -> None:
        """Stage the bytes of a file (whole or in pieces), or ``{relative path: bytes}`` of a
        folder."""
        if isinstance(rendered, dict):
            self.folder(target, rendered)
        else:
            self.file(target, rendered)

    def remove(self, target: Path) -> None:
        """Remove ``target`` (a stale file noisybox wrote) when committing."""
        self._removals.append(Path(target))

    def commit(self) -> None:
        for temporary, target in self._staged:
            if temporary.is_dir():
                _put_folder(temporary, target)
            else:
                os.replace(temporary, target)
        self._staged = []
        for target in self._removals:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()

    def discard(self) -> None:
        for temporary, _ in self._staged:
            if temporary.is_dir():
                shutil.rmtree(temporary, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
        self._staged = []

    def __enter__(self) -> AtomicBatch:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            self.discard()
