"""``noisybox eval`` against pycocotools, end to end, on a 3,000-image set.

Both read the same ground-truth and detection files and compute the same numbers (checked
here); timed from the JSON files to the metrics, median of ``--repeats``:

- pycocotools: ``COCO(gt)``, ``loadRes(dt)``, ``evaluate``, ``accumulate``, ``summarize``;
- noisybox: ``evaluate_detections`` with the default faster-coco-eval backend.

    python benchmarks/bench_eval.py                   # 300,000 detections
    python benchmarks/bench_eval.py --per-image 20    # ~60,000 detections
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from noisybox.evaluate import evaluate_detections
from noisybox.formats.coco import load_json


def make_set(folder: Path, images: int, per_image: int = 100, seed: int = 0) -> tuple[Path, Path]:
    """COCO-like ground truth (~7 boxes per image, 80 classes) and ``per_image`` detections
    per image (at least 3 per box: jittered copies of it)."""
    rng = np.random.default_rng(seed)
    gt = {
        "images": [],
        "annotations": [],
        "categories": [{"id": c, "name": str(c)} for c in range(1, 81)],
    }
    detections = []
    for image in range(images):
        gt["images"].append({"id": image, "width": 640, "height": 480, "file_name": f"{image}.jpg"})
        for _ in range(rng.integers(1, 14)):
            w, h = rng.uniform(8, 300), rng.uniform(8, 300)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            category = int(rng.integers(1, 81))
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": image,
                    "category_id": category,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
            for _ in range(3):
                j = rng.normal(0, 0.1, 4) * [w, h, w, h]
                detections.append(
                    {
                        "image_id": image,
                        "category_id": category,
                        "bbox": [x + j[0], y + j[1], max(1, w + j[2]), max(1, h + j[3])],
                        "score": float(rng.random()),
                    }
                )
        while len(detections) < (image + 1) * per_image:  # background false positives
            w, h = rng.uniform(8, 200, 2)
            detections.append(
                {
                    "image_id": image,
                    "category_id": int(rng.integers(1, 81)),
                    "bbox": [float(rng.uniform(0, 600)), float(rng.uniform(0, 440)), w, h],
                    "score": float(rng.random() * 0.5),
                }
            )
    gt_path, dt_path = folder / "gt.json", folder / "dt.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps(detections))
    return gt_path, dt_path


def run_pycocotools(gt_path: Path, dt_path: Path) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        evaluator = COCOeval(gt, gt.loadRes(str(dt_path)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def run_noisybox(gt_path: Path, dt_path: Path):
    return evaluate_detections(load_json(gt_path)[0], load_json(dt_path)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--per-image", type=int, default=100, help="detections an image")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        gt_path, dt_path = make_set(Path(folder), args.images, args.per_image)
        times: dict[str, list[float]] = {"pycocotools": [], "noisybox": []}
        for _ in range(args.repeats):
            start = time.perf_counter()
            stats = run_pycocotools(gt_path, dt_path)
            times["pycocotools"].append(time.perf_counter() - start)
            start = time.perf_counter()
            ours = run_noisybox(gt_path, dt_path)
            times["noisybox"].append(time.perf_counter() - start)
        assert abs(ours.metrics["mAP"] - stats[0] * 100) < 1e-6, (ours.metrics["mAP"], stats[0])
        reference, fast = (statistics.median(times[k]) for k in ("pycocotools", "noisybox"))
        print(
            f"{args.images:,} images, {ours.ground_truths:,} boxes, "
            f"{ours.detections:,} detections; mAP {ours.metrics['mAP']:.3f} from both"
        )
        print(f"pycocotools:   {reference:.2f} s")
        print(f"noisybox eval: {fast:.2f} s  ({reference / fast:.1f}x faster)")


if __name__ == "__main__":
    main()
