"""End-to-end ``noisybox corrupt`` on a large COCO file, against the JSON floor.

Builds a COCO file of ``--boxes`` annotations (600,000 by default, ~6 per image, with
segmentation polygons like real COCO files), then times, median of ``--repeats``:

- the floor: stdlib ``json.load`` of the file and ``json.dump`` of the result, nothing else;
- ``noisybox corrupt FILE --eta 0.2 -o OUT`` as a fresh process, start-up included;
- the same with ``--per-box`` (the per-box CSV table beside the output too).

    python benchmarks/bench_corrupt.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


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
    path.write_text(json.dumps(document))


def json_floor(source: Path, target: Path) -> None:
    with source.open() as handle:
        document = json.load(handle)
    with target.open("w") as handle:
        json.dump(document, handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=600_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "instances.json"
        make_coco(source, args.boxes)
        print(f"{args.boxes:,} boxes, {source.stat().st_size / 1e6:.1f} MB COCO JSON")
        floor, ours, per_box = [], [], []
        for repeat in range(args.repeats):  # interleaved: the machine's drift hits all alike
            start = time.perf_counter()
            json_floor(source, Path(folder) / "floor.json")
            floor.append(time.perf_counter() - start)
            for extra, times in (([], ours), (["--per-box"], per_box)):
                output = Path(folder) / f"noisy{repeat}{'-boxes' if extra else ''}.json"
                command = [sys.executable, "-m", "noisybox", "corrupt", str(source)]
                command += ["--eta", "0.2", "-o", str(output), *extra]
                start = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - start)
        floor_s = statistics.median(floor)
        print(f"json.load + json.dump (floor):     {floor_s:.2f} s")
        for label, times in (("", ours), (" --per-box", per_box)):
            median = statistics.median(times)
            print(
                f"noisybox corrupt --eta 0.2{label:10s} {median:.2f} s  "
                f"({median / floor_s:.2f}x the floor)"
            )


if __name__ == "__main__":
    main()
