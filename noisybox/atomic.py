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
from collections.abc import Iterator
from pathlib import Path
from typing import IO


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
    staging = Path(tempfile.mkdtemp(prefix=_prefix(target), dir=target.parent))
    try:
        yield staging
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=_prefix(target) + "old-", dir=target.parent))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
