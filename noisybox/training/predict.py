"""Run a trained model on new images (``noisybox predict``): COCO detections and drawn images.

The model is rebuilt from the run folder's ``config.json`` and loaded from its checkpoint
(``torch.load(weights_only=True)``); its classes are those of the run's ``ground_truth.json``
(label order). Images get the validation transform of training (longer side resized to the
run's image size, padded at the bottom right), and boxes are mapped back to the image's
pixels (xyxy in the drawing, COCO ``[x, y, w, h]`` in the JSON).
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig
from ..errors import NoisyboxError
from ..images import IMAGE_SUFFIXES, read_rgb
from .data import build_transform
from .models import build_detector
from .run_folder import RunFolder
from .saved import load_state
from .trainer import build_box_loss, coco_detections, select_device


@dataclass
class RunModel:
    """A run's detector in evaluation mode, its classes and its validation transform."""

    model: torch.nn.Module
    categories: list[dict]  # COCO categories, by model label minus one
    transform: Callable  # the run's validation transform (resize and pad to its input)
    device: torch.device

    @property
    def category_of(self) -> dict[int, int]:
        """Model label (1..K) → category id."""
        return {label: c["id"] for label, c in enumerate(self.categories, start=1)}


def load_run_model(run: Path, device: str = "auto") -> RunModel:
    """The detector of run folder ``run`` with its last checkpoint's weights."""
    files = RunFolder(Path(run))
    for path, what in ((files.config, "config.json"), (files.checkpoint, "checkpoints/last.pt")):
        if not path.is_file():
            raise NoisyboxError(f"{run}: no {what} (not a run folder of noisybox train)")
    if not files.ground_truth.is_file():
        raise NoisyboxError(f"{run}: no ground_truth.json (the run has not finished)")
    saved = json.loads(files.config.read_text())
    known = {field.name for field in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    categories = json.loads(files.ground_truth.read_text())["categories"]
    chosen = select_device(device)
    model = build_detector(
        config.model, config.backbone, len(categories), config.image_size, build_box_loss(config)
    )
    state = load_state(files.checkpoint)
    model.load_state_dict(state.get("model", state))
    transform = build_transform(config.image_size, augment=False)
    return RunModel(model.to(chosen).eval(), categories, transform, chosen)


def list_images(images: Path) -> list[Path]:
    """An image file, or the image files directly in folder ``images`` (sorted); a file (or
    link) that leads out of the folder is refused, never followed."""
    images = Path(images)
    if images.is_file():
        return [images]
    if not images.is_dir():
        raise NoisyboxError(f"{images}: no such image file or folder")
    root = images.resolve()
    found = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for path in found:
        if not path.resolve().is_relative_to(root):
            raise NoisyboxError(f"{path}: leads outside {images} (a link); not followed")
    found = [p for p in found if p.is_file()]
    stems = [p.stem for p in found]
    for stem in {s for s in stems if stems.count(s) > 1}:
        raise NoisyboxError(f"{images}: two images are called {stem!r} (drawn as {stem}.jpg)")
    if not found:
        raise NoisyboxError(f"{images}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return found


@torch.no_grad()
def predict_image(run_model: RunModel, pixels: np.ndarray, score: float) -> list[dict]:
    """Detections scoring at least ``score`` on one ``(H, W, 3)`` uint8 image: dicts with
    ``category_id``, ``bbox`` (COCO xywh, the image's pixels) and ``score``."""
    out = run_model.transform(image=pixels, bboxes=np.zeros((0, 4), np.float32), labels=[])
    scale = max(out["image"].shape[:2]) / max(pixels.shape[:2])
    tensor = torch.from_numpy(np.ascontiguousarray(out["image"])).permute(2, 0, 1).float() / 255
    (output,) = run_model.model([tensor.to(run_model.device)])
    return coco_detections(output, scale, run_model.category_of, score)


def draw_detections(pixels: np.ndarray, detections: list[dict], names: dict) -> bytes:
    """``pixels`` with each detection's box and ``class score`` drawn, as JPEG bytes."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    width = max(1, round(max(image.size) / 300))
    for detection in detections:
        x, y, w, h = detection["bbox"]
        draw.rectangle([x, y, x + w, y + h], outline=(255, 40, 40), width=width)
        label = f"{names.get(detection['category_id'], detection['category_id'])} "
        label += f"{detection['score']:.2f}"
        left, top, right, bottom = draw.textbbox((x, y), label)
        draw.rectangle([left, top - (bottom - top), right, top], fill=(255, 40, 40))
        draw.text((x, top - (bottom - top)), label, fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def predict_folder(
    run: Path,
    paths: list[Path],
    score: float = 0.25,
    device: str = "auto",
    draw: bool = True,
    on_image: Callable[[int], None] | None = None,
) -> dict[str, bytes]:
    """``{relative path: bytes}`` of a prediction folder: ``predictions.json`` (a COCO
    document: the images with their sizes, the run's categories, and a record per detection
    with its ``score``) and, with ``draw``, ``images/NAME.jpg`` with the detections drawn.
    ``paths``: the images, as :func:`list_images` finds them. ``on_image(1)`` is called after
    each image (progress)."""
    if not 0 <= score <= 1:
        raise NoisyboxError(f"score must be in [0, 1]; got {score}", "score")
    run_model = load_run_model(run, device)
    names = {c["id"]: c["name"] for c in run_model.categories}
    document: dict = {"images": [], "annotations": [], "categories": run_model.categories}
    output: dict[str, bytes] = {}
    for image_id, path in enumerate(paths, start=1):
        pixels = read_rgb(path)
        height, width = pixels.shape[:2]
        document["images"].append(
            {"id": image_id, "file_name": path.name, "width": width, "height": height}
        )
        found = predict_image(run_model, pixels, score)
        for detection in found:
            _, _, w, h = detection["bbox"]
            document["annotations"].append(
                {"id": len(document["annotations"]) + 1, "image_id": image_id, **detection,
                 "area": w * h, "iscrowd": 0}
            )  # fmt: skip
        if draw:
            output[f"images/{path.stem}.jpg"] = draw_detections(pixels, found, names)
        if on_image is not None:
            on_image(1)
    output["predictions.json"] = json.dumps(document, indent=1).encode()
    return output
