"""The results store of a grid: ``RESULTS_DIR/results/*.jsonl``, one JSON line per finished run.

Each process appends to its own file (``results.jsonl``, or ``shard-K-of-N.jsonl`` for a
shard), so shards that share a folder never write to the same file, and results directories
of several machines merge by copying their ``results/`` files together. A line is appended
with one ``write`` and flushed to disk; a line cut short by a crash does not parse and is
never read as a result (:func:`read_records` skips it and says so), and the next append
starts on a fresh line.

No torch here: reports read the store without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import NoisyboxError

#: keys every record has; a line without them is not a result
REQUIRED = ("run_id", "settings", "fraction", "eta", "seed", "loss", "metrics")


def results_file(results_dir: Path, shard: tuple[int, int] | None = None) -> Path:
    """The file this process appends to."""
    name = "results.jsonl" if shard is None else f"shard-{shard[0]}-of-{shard[1]}.jsonl"
    return results_dir / "results" / name


def append_record(path: Path, record: dict) -> None:
    """Append ``record`` as one line, durably (written and fsynced before returning)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True).encode() + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a line cut short by a crash must not swallow this one
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def is_number(value: object) -> bool:
    """A number a report can compute with: not a boolean, not beyond a float's range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def record_problem(record: object) -> str | None:
    """Why ``record`` is not a run record a report can use, or ``None``. Metric values are
    numbers or ``null`` (n/a)."""
    if not isinstance(record, dict):
        return "not an object"
    missing = [key for key in REQUIRED if key not in record]
    if missing:
        return f"no {', '.join(missing)}"
    if not all(isinstance(record[k], str) for k in ("run_id", "settings", "loss")):
        return "run_id, settings and loss must be text"
    if not (is_number(record["fraction"]) and is_number(record["eta"])):
        return "fraction and eta must be numbers"
    if not (0 < record["fraction"] <= 1 and 0 <= record["eta"] < float("inf")):
        return "fraction must be in (0, 1] and eta >= 0"
    if not isinstance(record["seed"], int) or isinstance(record["seed"], bool):
        return "seed must be an integer"
    metrics = record["metrics"]
    if not isinstance(metrics, dict) or not all(
        value is None or is_number(value) for value in metrics.values()
    ):
        return "metrics must map names to numbers or null"
    return None


def read_records(results_dir: Path) -> tuple[list[dict], list[str]]:
    """Every finished run in ``results_dir`` (first record of each run id and settings) and a
    list of problems met (unreadable lines), each naming its file and line."""
    folder = results_dir / "results"
    if not folder.is_dir():
        raise NoisyboxError(f"{results_dir}: no results/ folder (made by noisybox bench)")
    records, problems, seen = [], [], set()
    for path in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                problems.append(f"{path}:{number}: an incomplete record, ignored")
                continue
            why = record_problem(record)
            if why is not None:
                problems.append(f"{path}:{number}: not a run record ({why}), ignored")
                continue
            identity = (record["run_id"], record["settings"])
            if identity not in seen:
                seen.add(identity)
                records.append(record)
    return records, problems


def time_outside_training(records: list[dict]) -> tuple[float, float]:
    """``(seconds, total)``: how much of ``records``' run time a grid spent outside the
    training steps and the evaluation (deriving the noisy data, reading it and checking the
    images, building the model, writing the record), and their whole run time. Records
    written before ``setup_s`` existed count their setup as training (a lower bound)."""
    outside = total = 0.0
    for record in records:
        if not all(is_number(record.get(k)) for k in ("run_s", "train_s", "eval_s")):
            continue
        steps = record["train_s"] - (record.get("setup_s") or 0.0)
        outside += max(0.0, record["run_s"] - steps - record["eval_s"])
        total += record["run_s"]
    return outside, total
