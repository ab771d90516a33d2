"""Training throughput: ``noisybox train``'s loop against a plain torchvision training loop.

Same model (FCOS on the tiny CNN+FPN backbone), same data (the built-in shapes dataset), same
batch size and optimizer, same number of steps after a warm-up, median of ``--repeats``:

- model alone: torchvision's FCOS trained on one batch of random images already on the
  device (its shapes' boxes as targets), float32, no data loading: the practical ceiling of
  a loop; and noisybox's step on the same batch (its FCOS, which matches the whole batch at
  once, with ``--amp``): the ceiling where torchvision's per-image code was the bottleneck.
  On CUDA with ``--amp`` also torchvision's FCOS in bf16, to tell the gains apart;
- plain torchvision: torchvision's own FCOS head (GIoU), a DataLoader (with the same
  ``--workers``) that reads each image with PIL and converts it to a tensor, no augmentation,
  float32; and the same loop augmented as a textbook does it, the albumentations pipeline
  (noisybox's: resize, flip, scale jitter, colour jitter) called in the Dataset;
- noisybox: ``Trainer`` with ``--loss giou`` (decoded boxes, albumentations augmentation,
  seeded per sample), ``--workers`` data processes, ``--amp`` when asked; and the same with
  ``--no-augment``, which does the plain loop's work.

    python benchmarks/bench_train.py                      # CPU, toy size
    python benchmarks/bench_train.py --device cuda --backbone resnet50 --img-size 640 --amp
    python benchmarks/bench_train.py --device cuda --backbone resnet18 --img-size 256 \
        --batch-size 32 --workers 8 --amp --json bench_train.json     # the paper preset's model

``--profile FILE`` also writes torch.profiler's table of noisybox's step on random images.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator

from noisybox.shapes import CLASSES, ShapesConfig, make_shapes_dataset
from noisybox.training.data import build_transform
from noisybox.training.models import build_backbone, build_detector
from noisybox.training.trainer import (
    TrainConfig,
    Trainer,
    autocast_dtype,
    build_box_loss,
    build_optimizer,
    data_from_folder,
    train_step,
)

#: the plain loop doing the same data work as a noisybox loop (augmentation included)
SAME_WORK = {"noisybox train": "plain torchvision loop, augmented"}


class PlainDataset(torch.utils.data.Dataset):
    def __init__(self, folder: Path, transform=None):
        self.transform = transform
        document = json.loads((folder / "annotations/train.json").read_text())
        self.folder, self.images = folder, document["images"]
        self.boxes = {image["id"]: [] for image in self.images}
        self.labels = {image["id"]: [] for image in self.images}
        for record in document["annotations"]:
            x, y, w, h = record["bbox"]
            self.boxes[record["image_id"]].append([x, y, x + w, y + h])
            self.labels[record["image_id"]].append(record["category_id"])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = self.images[index]
        pixels = np.asarray(Image.open(self.folder / "images" / image["file_name"]).convert("RGB"))
        boxes, labels = self.boxes[image["id"]], self.labels[image["id"]]
        if self.transform is not None:
            out = self.transform(image=pixels, bboxes=np.reshape(boxes, (-1, 4)), labels=labels)
            pixels, boxes, labels = out["image"], out["bboxes"], out["labels"]
        tensor = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255
        boxes = torch.tensor(np.asarray(boxes), dtype=torch.float32).reshape(-1, 4)
        return tensor, {"boxes": boxes, "labels": torch.tensor(np.asarray(labels, np.int64))}


def torchvision_fcos(args) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """torchvision's FCOS on ``args.backbone`` (GIoU loss) and its optimizer, seeded."""
    torch.manual_seed(0)
    anchors = AnchorGenerator(tuple((s,) for s in (8, 16, 32, 64, 128)), ((1.0,),) * 5)
    model = FCOS(
        build_backbone(args.backbone),
        5,
        anchor_generator=anchors,
        min_size=args.img_size,
        max_size=args.img_size,
    ).to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model.train()
    return model, optimizer


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def random_batch(folder: Path, args) -> tuple[torch.Tensor, list[dict]]:
    """One batch of random images already on the device (one ``(B, 3, H, W)`` tensor), with
    the first images' real boxes as targets."""
    dataset = PlainDataset(folder)
    generator = torch.Generator().manual_seed(0)
    size = (args.batch_size, 3, args.img_size, args.img_size)
    images = torch.rand(size, generator=generator).to(args.device)
    targets = [
        {k: v.to(args.device) for k, v in dataset[i][1].items()} for i in range(args.batch_size)
    ]
    return images, targets


def torchvision_step(args, amp: bool):
    """A training step of torchvision's FCOS (float32, or bf16 autocast with ``amp``)."""
    model, optimizer = torchvision_fcos(args)

    def step(images, targets):
        with torch.autocast(args.device.split(":")[0], torch.bfloat16, enabled=amp):
            loss = sum(model(list(images), targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def noisybox_config(folder: Path, args, steps: int, **settings) -> TrainConfig:
    """The ``noisybox train`` settings both noisybox measurements use (``--loss giou``)."""
    return TrainConfig(
        **data_from_folder(folder),
        model="fcos",
        backbone=args.backbone,
        loss="giou",
        image_size=args.img_size,
        batch_size=args.batch_size,
        max_steps=steps + args.warmup,
        lr=1e-3,
        device=args.device,
        amp=args.amp,
        workers=args.workers,
        **settings,
    )


def noisybox_step(folder: Path, args):
    """A training step as ``noisybox train`` takes it (its FCOS with batched matching, its
    box loss and optimizer, ``train_step``: AMP with ``--amp``, clipping)."""
    config = noisybox_config(folder, args, args.steps)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = build_detector(
        config.model, config.backbone, len(CLASSES), config.image_size, build_box_loss(config)
    ).to(device)
    model.train()
    optimizer = build_optimizer(model, config)
    dtype = autocast_dtype(device, config.amp)
    scaler = torch.amp.GradScaler(enabled=dtype == torch.float16)

    def step(images, targets):
        train_step(model, optimizer, scaler, images, targets, device, dtype)

    return step


def model_alone(folder: Path, args, steps: int, step) -> float:
    """Images per second of ``step`` on one batch of random images already on the device:
    no data loading at all."""
    images, targets = random_batch(folder, args)
    started = None
    for done in range(steps + args.warmup):
        if done == args.warmup:
            synchronize(args.device)
            started = time.perf_counter()
        step(images, targets)
    synchronize(args.device)
    return steps * args.batch_size / (time.perf_counter() - started)


def profile_step(folder: Path, args, step, path: Path) -> None:
    """torch.profiler's table of ``args.warmup`` steps of ``step`` (after as many warm-up
    steps), sorted by device time, and the share of the wall time the device was busy."""
    from torch.profiler import ProfilerActivity, profile

    images, targets = random_batch(folder, args)
    for _ in range(args.warmup):
        step(images, targets)
    synchronize(args.device)
    activities = [ProfilerActivity.CPU] + (
        [ProfilerActivity.CUDA] if args.device.startswith("cuda") else []
    )
    started = time.perf_counter()
    with profile(activities=activities) as profiler:
        for _ in range(args.warmup):
            step(images, targets)
        synchronize(args.device)
    wall = time.perf_counter() - started
    events = profiler.key_averages()
    kernels = [e for e in profiler.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy = sum(e.time_range.elapsed_us() for e in kernels) / 1e6
    sort = "self_cuda_time_total" if args.device.startswith("cuda") else "self_cpu_time_total"
    text = (
        f"{args.warmup} steps in {wall:.3f} s (with the profiler's overhead); device kernels "
        f"{busy:.3f} s ({busy / wall:.0%} of the wall time, {len(kernels)} kernels)\n"
        + events.table(sort_by=sort, row_limit=25)
    )
    path.write_text(text)
    print(text.splitlines()[0])


def plain_loop(folder: Path, args, steps: int, augment: bool) -> float:
    """Images per second of a textbook torchvision training loop."""
    model, optimizer = torchvision_fcos(args)
    transform = build_transform(args.img_size, augment=True) if augment else None
    loader = torch.utils.data.DataLoader(
        PlainDataset(folder, transform),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        collate_fn=lambda batch: tuple(zip(*batch, strict=True)),
    )
    done, started = 0, None
    while done < steps + args.warmup:
        for images, targets in loader:
            if done == args.warmup:
                synchronize(args.device)
                started = time.perf_counter()
            images = [image.to(args.device) for image in images]
            targets = [{k: v.to(args.device) for k, v in t.items()} for t in targets]
            loss = sum(model(images, targets).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps + args.warmup:
                break
    synchronize(args.device)
    return steps * args.batch_size / (time.perf_counter() - started)


def noisybox_loop(folder: Path, args, steps: int, out: Path, augment: bool) -> float:
    config = noisybox_config(
        folder, args, steps, augment=augment, out=str(out), log_every=args.warmup,
        checkpoint_every=10**9,
    )  # fmt: skip
    trainer = Trainer(config, log=lambda line: None)
    trainer.train()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    first, last = records[0], records[-1]
    # throughput after the warm-up: images between the two records over the time between them
    first_time = first["step"] * args.batch_size / first["images_per_s"]
    last_time = last["step"] * args.batch_size / last["images_per_s"]
    return (last["step"] - first["step"]) * args.batch_size / (last_time - first_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--profile", type=Path, help="write torch.profiler's table of noisybox's step here"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "shapes"
        size = args.img_size
        make_shapes_dataset(
            folder,
            ShapesConfig.for_size(400, size),
            seed=0,
        )
        cuda = args.device.startswith("cuda")
        loops = {
            "model alone": lambda r: model_alone(
                folder, args, args.steps, torchvision_step(args, False)
            ),
            "model alone, noisybox's step": lambda r: model_alone(
                folder, args, args.steps, noisybox_step(folder, args)
            ),
        }
        if cuda and args.amp:  # what bf16 alone gives
            loops["model alone, bf16"] = lambda r: model_alone(
                folder, args, args.steps, torchvision_step(args, True)
            )
        loops |= {
            "plain torchvision loop": lambda r: plain_loop(folder, args, args.steps, False),
            "plain torchvision loop, augmented": lambda r: plain_loop(
                folder, args, args.steps, True
            ),
            "noisybox train": lambda r: noisybox_loop(
                folder, args, args.steps, Path(tmp) / f"a{r}", True
            ),
            "noisybox train --no-augment": lambda r: noisybox_loop(
                folder, args, args.steps, Path(tmp) / f"n{r}", False
            ),
        }
        figures: dict[str, list[float]] = {name: [] for name in loops}
        for repeat in range(args.repeats):  # interleaved: every loop once per repeat
            for name, loop in loops.items():
                figures[name].append(loop(repeat))
        if args.profile:
            profile_step(folder, args, noisybox_step(folder, args), args.profile)
    medians = {name: statistics.median(values) for name, values in figures.items()}
    plain = medians["plain torchvision loop"]
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(
        f"FCOS + {args.backbone}, {size} px, batch {args.batch_size}, {device}, "
        f"threads {torch.get_num_threads()}, workers {args.workers}, amp {args.amp}, "
        f"torch {torch.__version__}"
    )
    for name, value in medians.items():
        line = f"{name:34s} {value:8.1f} images/s  {value / plain:.2f}x the plain loop"
        if name in SAME_WORK:
            line += f", {value / medians[SAME_WORK[name]]:.2f}x {SAME_WORK[name]}"
        print(line)
    if args.json:
        summary = {
            "settings": {
                **vars(args),
                "json": str(args.json),
                "profile": str(args.profile) if args.profile else None,
                "device_name": device,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            },
            "images_per_s": figures,
            "median_images_per_s": medians,
        }
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
