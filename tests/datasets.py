"""Tiny datasets in every format, written by the tests themselves."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from noisybox.shapes import ShapesConfig

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def coco_document(images: int = 4, boxes_per_image: int = 3, seed: int = 0) -> dict:
    """A COCO dict with extras a tool must keep: unknown keys, segmentation, crowd, odd ids."""
    rng = np.random.default_rng(seed)
    document = {
        "info": {"description": "noisybox test", "version": "1"},
        "licenses": [{"id": 1, "name": "CC"}],
        "images": [
            {"id": 100 + i, "file_name": f"img{i}.jpg", "width": 640, "height": 480, "license": 1}
            for i in range(images)
        ],
        "categories": [
            {"id": 1, "name": "cat", "supercategory": "animal"},
            {"id": 3, "name": "dog", "supercategory": "animal"},
            {"id": 7, "name": "car", "supercategory": "vehicle"},
        ],
        "annotations": [],
        "custom_top_level": {"kept": True},
    }
    next_id = 9000
    for i in range(images):
        for _ in range(boxes_per_image):
            w, h = rng.uniform(20, 200), rng.uniform(20, 200)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            document["annotations"].append(
                {
                    "id": next_id,
                    "image_id": 100 + i,
                    "category_id": int(rng.choice([1, 3, 7])),
                    "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                    "area": round(w, 2) * round(h, 2),
                    "iscrowd": 0,
                    "segmentation": [[x, y, x + w, y, x + w, y + h]],
                    "score_from_labeller": 0.9,
                }
            )
            next_id += 7
    document["annotations"][1]["iscrowd"] = 1
    return document


#: the toy shapes dataset of the training tests (the ``shapes`` fixture): 24 images of 64 px
TOY = ShapesConfig(images=24, image_size=64, min_size=10, max_size=28, max_shapes=3)


def write_coco(path: Path, document: dict | None = None, indent: int | None = 2) -> Path:
    path.write_text(json.dumps(document or coco_document(), indent=indent))
    return path


VOC_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<annotation>
\t<folder>VOC2007</folder>
\t<filename>{name}.jpg</filename>
\t<!-- a comment that must survive -->
\t<size>
\t\t<width>{width}</width>
\t\t<height>{height}</height>
\t\t<depth>3</depth>
\t</size>
{objects}</annotation>
"""
VOC_OBJECT = """\t<object>
\t\t<name>{label}</name>
\t\t<pose>Left</pose>
\t\t<truncated>0</truncated>
\t\t<difficult>0</difficult>
\t\t<custom_field>keep me</custom_field>
\t\t<bndbox>
\t\t\t<xmin>{x1}</xmin>
\t\t\t<ymin>{y1}</ymin>
\t\t\t<xmax>{x2}</xmax>
\t\t\t<ymax>{y2}</ymax>
\t\t</bndbox>
\t</object>
"""


def write_voc(
    folder: Path, files: int = 3, seed: int = 0, size: tuple[int, int] = (500, 375)
) -> Path:
    """A VOC Annotations folder with integer corners."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        objects = ""
        for _ in range(2):
            x1, y1 = int(rng.integers(0, size[0] - 60)), int(rng.integers(0, size[1] - 60))
            x2, y2 = x1 + int(rng.integers(20, 60)), y1 + int(rng.integers(20, 60))
            label = str(rng.choice(["person", "horse"]))
            objects += VOC_OBJECT.format(label=label, x1=x1, y1=y1, x2=x2, y2=y2)
        text = VOC_TEMPLATE.format(name=f"{i:06d}", width=size[0], height=size[1], objects=objects)
        (folder / f"{i:06d}.xml").write_text(text)
    return folder


def write_yolo(folder: Path, files: int = 3, seed: int = 0) -> Path:
    """A YOLO labels folder with classes.txt, a blank line and CRLF endings in one file."""
    rng = np.random.default_rng(seed)
    (folder / "train").mkdir(parents=True, exist_ok=True)
    (folder / "classes.txt").write_text("person\nbicycle\ncar\n")
    for i in range(files):
        lines = []
        for _ in range(3):
            w, h = rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4)
            cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(h / 2, 1 - h / 2)
            lines.append(f"{rng.integers(0, 3)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
        ending = "\r\n" if i == 0 else "\n"
        (folder / "train" / f"img{i}.txt").write_bytes(
            (ending.join(lines) + ending + ending).encode()
        )
    return folder


def digest(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with a SHA-256 of its bytes."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def make_voc_year(voc: Path) -> Path:
    """A VOC devkit year: 6 images of 96x80 px, 2 boxes each; train 000000-000003, val the rest."""
    from PIL import Image

    write_voc(voc / "Annotations", files=6, size=(96, 80))
    (voc / "JPEGImages").mkdir()
    for index in range(6):
        Image.new("RGB", (96, 80), (index * 30, 80, 120)).save(
            voc / "JPEGImages" / f"{index:06d}.jpg"
        )
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "ImageSets/Main/train.txt").write_text("000000\n000001\n000002\n000003\n")
    (voc / "ImageSets/Main/val.txt").write_text("000004\n000005\n")
    return voc


def make_yolo_dataset(yolo: Path) -> Path:
    """A YOLO dataset: images/{train,val}/ (3 and 2 images of 80x60 px) beside labels/."""
    from PIL import Image

    for split, files in (("train", 3), ("val", 2)):
        write_yolo(yolo / "labels" / split, files=files)
        (yolo / "images" / split).mkdir(parents=True)
        for index in range(files):
            Image.new("RGB", (80, 60)).save(yolo / "images" / split / f"img{index}.png")
    return yolo


def pycocotools_eval(truth: dict, found: list, summarize: bool = False):
    """pycocotools' own COCOeval of ``found`` against ``truth``, evaluated (and accumulated
    and summarized with ``summarize``), quietly: the reference in tests."""
    import contextlib
    import copy
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(truth)
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(found)), iouType="bbox")
        evaluator.evaluate()
        if summarize:
            evaluator.accumulate()
            evaluator.summarize()
    return evaluator


def voc_with_images(root: Path, files: int = 2) -> tuple[Path, Path]:
    """A VOC ``Annotations`` folder of ``files`` files and ``JPEGImages`` with their
    500x375 images; both paths."""
    from PIL import Image

    annotations = write_voc(root / "Annotations", files=files)
    images = root / "JPEGImages"
    images.mkdir()
    for i in range(files):
        Image.new("RGB", (500, 375), (40 * i, 90, 160)).save(images / f"{i:06d}.jpg")
    return annotations, images


def toy_config(shapes: Path, out: Path, **overrides):
    """A ``TrainConfig`` of a few seconds on the toy shapes dataset, on the CPU."""
    from noisybox.config import TrainConfig
    from noisybox.training.trainer import data_from_folder

    settings = dict(
        **data_from_folder(shapes),
        device="cpu",
        image_size=64,
        batch_size=4,
        max_steps=6,
        warmup_steps=2,
        lr=2e-3,
        deterministic=True,
        log_every=1,
        checkpoint_every=3,
        out=str(out),
    )
    settings.update(overrides)
    return TrainConfig(**settings)
