"""One process per run: a lock file per run of a grid, so that two ``noisybox bench``
processes on one folder (or shards on a shared file system) never train a run twice or
delete each other's work.

A lock is ``OUT/runs/RUN_ID.lock``, created with ``O_EXCL`` (atomic on local and NFS file
systems) and holding ``HOST PID``. A lock left by a dead process of this host is taken
over; one of another host is respected (it may still be running there) until removed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..atomic import _alive, _host_tag


def lock_path(run_dir: Path) -> Path:
    """The lock file of a run folder: ``runs/RUN_ID.lock``, beside the folder."""
    return run_dir.with_name(run_dir.name + ".lock")


def acquire(run_dir: Path) -> bool:
    """Take the run's lock; ``False`` if another live process holds it."""
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = f"{_host_tag()} {os.getpid()}"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if not _stale(path):
                return False
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(me + "\n")
        return True
    return False


def release(run_dir: Path) -> None:
    """Remove the run's lock if this process holds it."""
    path = lock_path(run_dir)
    with contextlib.suppress(OSError):
        if path.read_text().split() == [_host_tag(), str(os.getpid())]:
            path.unlink()


def _stale(path: Path) -> bool:
    """A lock whose holder was a process of this host that is gone."""
    try:
        host, pid = path.read_text().split()
    except (OSError, ValueError):
        return False  # being written, or not ours to judge
    return host == _host_tag() and pid.isdigit() and not _alive(int(pid))
