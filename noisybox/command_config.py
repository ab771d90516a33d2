"""Command options as TOML files: ``--config FILE`` reads them, and every run or bench folder
keeps the fully resolved options of the command that made it as ``config.toml``, so that
``noisybox bench --config OUT/config.toml`` repeats a study. Torch-free."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .atomic import atomic_write
from .errors import NoisyboxError

#: the file a run or bench folder keeps its command's options in
CONFIG_FILE = "config.toml"
#: options that say how to run a command, not what it computes: never saved
NOT_SAVED = frozenset({"config", "dry_run", "resume", "shard", "overwrite"})


def read_command_config(path: Path, command: str, known: set[str]) -> dict[str, Any]:
    """The options in TOML file ``path`` for ``command``: keys are its options' Python
    names (``img_size``, ``eta``); an unknown key, or a file that is not TOML, is an error
    naming the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise NoisyboxError(f"{path}: not a TOML file ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise NoisyboxError(f"{path}: cannot read it ({error})") from None
    for key, value in data.items():
        if key not in known:
            raise NoisyboxError(
                f"{path}: unknown key {key!r} for noisybox {command}; the keys are its "
                "options, with underscores (img_size = 96, eta = [0, 0.3])"
            )
        if isinstance(value, dict):
            raise NoisyboxError(f"{path}: key {key!r} holds a table; give a value")
    return data


def resolved_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` as TOML can hold them: paths as strings, unset (``None``) and
    how-to-run options (:data:`NOT_SAVED`) left out, in the given order."""
    resolved = {}
    for key, value in options.items():
        if value is None or key in NOT_SAVED:
            continue
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, list | tuple):
            value = [str(v) if isinstance(v, Path) else v for v in value]
        resolved[key] = value
    return resolved


def write_command_config(folder: Path, command: str, options: dict[str, Any]) -> Path:
    """Write ``options`` (already :func:`resolved_options`) to ``folder/config.toml``,
    atomically, with a first line saying how to repeat the command."""
    import tomli_w

    path = folder / CONFIG_FILE
    header = (
        f"# noisybox {command}: every option as resolved (paths relative to where it ran);\n"
        f"# `noisybox {command} --config {path} --out NEW` repeats it\n"
    )
    with atomic_write(path) as handle:
        handle.write((header + tomli_w.dumps(options)).encode())
    return path
