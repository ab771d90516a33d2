"""End-to-end ``noisybox corrupt`` on a large COCO file, against the JSON floor; and how
time and peak memory grow with the file.

Builds a COCO file of ``--boxes`` annotations (600,000 by default, ~6 per image, with
segmentation polygons like real COCO files), then times, median of ``--repeats``, each as a
fresh process (start-up included) whose peak resident memory is read from the kernel:

- the floor: stdlib ``json.load`` of the file and ``json.dump`` of the result, nothing else;
- ``noisybox corrupt FILE --eta 0.2 -o OUT``;
- the same with ``--per-box`` (the per-box CSV table beside the output too).

``--scaling N N ...`` instead runs ``corrupt --eta 0.2``, ``inspect`` and ``subsample
--fraction 0.5`` once on a file of each size and prints seconds, peak memory and bytes a box.

    python benchmarks/bench_corrupt.py
    python benchmarks/bench_corrupt.py --scaling 60000 600000 2400000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

FLOOR = (
    "import json, sys\n"
    "with open(sys.argv[1]) as handle: document = json.load(handle)\n"
    "with open(sys.argv[2], 'w') as handle: json.dump(document, handle)\n"
)


def make_coco(path: Path, boxes: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    images = boxes // 6
    widths, heights = rng.integers(320, 1024, images), rng.integers(240, 768, images)
    image_of = rng.integers(0, images, boxes)
    w = rng.uniform(0.02, 0.6, boxes) * widths[image_of]
    h = rng.uniform(0.02, 0.6, boxes) * heights[image_of]
    x = rng.uniform(0, 1, boxes) * (widths[image_of] - w)
    y = rng.uniform(0, 1, boxes) * (heights[image_of] - h)
    document = {
        "info": {"description": "noisybox benchmark"},
        "images": [
            {
                "id": i,
                "file_name": f"{i:012d}.jpg",
                "width": int(widths[i]),
                "height": int(heights[i]),
            }
            for i in range(images)
        ],
        "categories": [{"id": c, "name": f"class{c}"} for c in range(1, 81)],
        "annotations": [
            {
                "id": a,
                "image_id": int(image_of[a]),
                "category_id": int(a % 80 + 1),
                "bbox": [round(x[a], 2), round(y[a], 2), round(w[a], 2), round(h[a], 2)],
                "area": round(w[a] * h[a] * 0.7, 2),
                "iscrowd": 0,
                "segmentation": [
                    [
                        round(x[a], 2),
                        round(y[a], 2),
                        round(x[a] + w[a], 2),
                        round(y[a], 2),
                        round(x[a] + w[a], 2),
                        round(y[a] + h[a], 2),
                    ]
                ],
            }
            for a in range(boxes)
        ],
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY))


def make_coco_in_child(path: Path, boxes: int) -> None:
    """:func:`make_coco` in a child process: a parent that built the document would pass
    its peak memory on to every process it starts (a forked child's peak starts at its
    parent's), and the measurements below would read it."""
    code = "import sys; sys.path.insert(0, sys.argv[1]); from bench_corrupt import make_coco; "
    code += "from pathlib import Path; make_coco(Path(sys.argv[2]), int(sys.argv[3]))"
    folder = str(Path(__file__).resolve().parent)
    subprocess.run([sys.executable, "-c", code, folder, str(path), str(boxes)], check=True)


def measure(command: list[str]) -> tuple[float, float]:
    """Run ``command``; its wall time (s) and peak resident memory (bytes)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return seconds, usage.ru_maxrss * 1024.0


def noisybox(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "noisybox", *arguments]


def compare(folder: Path, boxes: int, repeats: int) -> None:
    """The floor, corrupt and corrupt --per-box, interleaved, median of ``repeats``."""
    source = folder / "instances.json"
    make_coco_in_child(source, boxes)
    print(f"{boxes:,} boxes, {source.stat().st_size / 1e6:.1f} MB COCO JSON")
    runs: dict[str, list[tuple[float, float]]] = {"floor": [], "": [], " --per-box": []}
    for repeat in range(repeats):  # interleaved: the machine's drift hits all alike
        floor = [sys.executable, "-c", FLOOR, str(source), str(folder / "floor.json")]
        runs["floor"].append(measure(floor))
        for label in ("", " --per-box"):
            output = folder / f"noisy{repeat}{'-boxes' if label else ''}.json"
            command = noisybox("corrupt", str(source), "--eta", "0.2", "-o", str(output))
            runs[label].append(measure(command + label.split()))
    floor_s = statistics.median(s for s, _ in runs["floor"])
    print("| | seconds | ratio | peak memory |\n|---|---:|---:|---:|")
    for label, results in runs.items():
        seconds = statistics.median(s for s, _ in results)
        peak = max(m for _, m in results)
        name = (
            "`json.load` + `json.dump` (the floor)"
            if label == "floor"
            else (f"`noisybox corrupt --eta 0.2{label}`")
        )
        print(f"| {name} | {seconds:.2f} | {seconds / floor_s:.2f}x | {peak / 2**20:,.0f} MiB |")


def scaling(folder: Path, sizes: list[int]) -> None:
    """corrupt, inspect and subsample once on a file of each size: seconds, peak memory."""
    print("| boxes | file | command | seconds | peak memory | bytes a box |")
    print("|---:|---:|---|---:|---:|---:|")
    for boxes in sizes:
        source = folder / f"instances-{boxes}.json"
        make_coco_in_child(source, boxes)
        commands = {
            "corrupt --eta 0.2": noisybox(
                "corrupt",
                str(source),
                "--eta",
                "0.2",
                "-o",
                str(folder / "noisy.json"),
                "--overwrite",
            ),
            "inspect": noisybox("inspect", str(source)),
            "subsample --fraction 0.5": noisybox(
                "subsample",
                str(source),
                "--fraction",
                "0.5",
                "-o",
                str(folder / "half.json"),
                "--overwrite",
            ),
        }
        for name, command in commands.items():
            seconds, peak = measure(command)
            print(
                f"| {boxes:,} | {source.stat().st_size / 1e6:,.0f} MB | `{name}` | {seconds:.1f} "
                f"| {peak / 2**20:,.0f} MiB | {peak / boxes:,.0f} |",
                flush=True,
            )
        source.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=600_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scaling", type=int, nargs="+", metavar="BOXES")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.scaling:
            scaling(Path(folder), args.scaling)
        else:
            compare(Path(folder), args.boxes, args.repeats)


if __name__ == "__main__":
    main()
