"""Loss micro-benchmark: forward + backward on N box pairs, against public implementations.

For each kind (IoU, GIoU, DIoU, CIoU) at alpha = 1 and 3 it times noisybox's eager
``alpha_iou_loss`` and the compiled ``AlphaIoULoss(compile=True)`` against torchvision's
loss of the same kind on the same inputs, interleaved, median of ``--repeats``.
torchvision has no plain IoU loss: its baseline is ``1 - inter / (union + eps)`` from
torchvision's own ``_loss_inter_union``. Then, for every other registered loss, noisybox's
eager (and, for IoU-based losses, compiled) module against the public pure-torch code it is
tested against (``tests/reference_losses.py``: the authors' code, YOLOv6's, mmrotate's, or
the common YOLO snippet where the authors published none). Prints throughput in millions of
pairs per second and the ratio to the baseline.

    python benchmarks/bench_losses.py                  # 1,000,000 pairs on the CPU
    python benchmarks/bench_losses.py --device cuda    # on a GPU
    python benchmarks/bench_losses.py --zoo-only       # the second table alone
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torchvision
import torchvision.ops as tv
from torchvision.ops._utils import _loss_inter_union

from noisybox.losses import AlphaIoULoss, alpha_iou_loss, build_loss

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import reference_losses as ref  # the reference code, one copy


def torchvision_iou_loss(pred, target, eps=1e-7):
    inter, union = _loss_inter_union(pred, target)
    return 1 - inter / (union + eps)


TORCHVISION = {
    "iou": torchvision_iou_loss,
    "giou": tv.generalized_box_iou_loss,
    "diou": tv.distance_box_iou_loss,
    "ciou": tv.complete_box_iou_loss,
}


#: name -> (the public code it is timed against, that code's name); the α = 3 names take
#: the same baseline as their plain loss (the code at its own settings)
ZOO = {
    "eiou": (partial(ref.focal_eiou_loss_community, gamma=0.0), "YOLO snippet, gamma 0"),
    "focal-eiou": (ref.focal_eiou_loss_community, "YOLO snippet"),
    "siou": (partial(ref.siou_loss_yolov6, center_eps=True), "YOLOv6 IOUloss"),
    "wiou": (ref.WiseIoUAuthor(n=1, t=1, monotonous=None), "Wise-IoU authors"),
    "wiou-v3": (ref.WiseIoUAuthor(n=1000, t=1, monotonous=False), "Wise-IoU authors"),
    "mpdiou": (partial(ref.mpdiou_loss_community, feat_h=1000, feat_w=1000), "YOLO snippet"),
    "inner-ciou": (partial(ref.inner_ciou_loss, ratio=0.7), "Inner-IoU authors"),
    "inner-siou": (partial(ref.inner_siou_loss, ratio=0.7), "Inner-IoU authors"),
    "shape-iou": (ref.shape_iou_loss, "Shape-IoU authors"),
    "nwd": (ref.nwd_loss, "NWD authors"),
    "gwd": (ref.gwd_loss_mmrotate, "mmrotate"),
    "kld": (ref.kld_loss_mmrotate, "mmrotate"),
}
ALPHA_OF = {"alpha-eiou": "eiou", "alpha-siou": "siou", "alpha-wiou": "wiou"}
ALPHA_OF |= {"alpha-mpdiou": "mpdiou", "alpha-nwd": "nwd"}


def make_pairs(n: int, device: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets in a 1000-px image and predictions jittered around them, xyxy float32."""
    generator = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=generator) * 900
    wh = torch.rand(n, 2, generator=generator) * 200 + 2
    target = torch.cat([xy, xy + wh], 1)
    pred = target + torch.randn(n, 4, generator=generator) * wh.repeat(1, 2) * 0.2
    pred[:, 2:] = torch.maximum(pred[:, 2:], pred[:, :2])
    return pred.to(device), target.to(device)


def forward_backward(loss_fn, pred, target):
    """One training-like call: a fresh leaf, the loss, its sum's backward."""

    def step():
        boxes = pred.detach().requires_grad_(True)
        loss_fn(boxes, target).sum().backward()
        if pred.is_cuda:
            torch.cuda.synchronize()

    return step


def interleaved_medians(steps: dict, repeats: int) -> dict:
    """Median seconds of each step, timed in turn within every repeat after two warm-ups.

    Interleaving keeps the ratios honest on a machine whose speed drifts during the run.
    """
    for step in steps.values():
        step(), step()
    times: dict = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def time_torchvision_kinds(args, pred, target, rows: list) -> None:
    """The α-IoU family against torchvision.ops, α = 1 and 3, eager and compiled."""
    mpairs = args.pairs / 1e6
    header = f"{'loss':<12}{'torchvision':>12}{'eager':>9}{'compiled':>10}"
    print(f"{header}{'eager/tv':>10}{'compiled/tv':>13}{'compile s':>11}")
    for kind in args.kinds:
        for alpha in (1.0, 3.0):
            torch._dynamo.reset()  # each variant compiles from scratch, within the cache limit
            module = AlphaIoULoss(kind, alpha, reduction="none", compile=True)
            start = time.perf_counter()
            forward_backward(module, pred, target)()
            compile_seconds = time.perf_counter() - start
            steps = {
                "torchvision": forward_backward(TORCHVISION[kind], pred, target),
                "eager": forward_backward(
                    partial(alpha_iou_loss, kind=kind, alpha=alpha), pred, target
                ),
                "compiled": forward_backward(module, pred, target),
            }
            seconds = interleaved_medians(steps, args.repeats)
            baseline, eager, compiled = (seconds[k] for k in ("torchvision", "eager", "compiled"))
            name = kind if alpha == 1 else f"alpha-{kind}"
            rows.append(row(name, args, "torchvision.ops", baseline, eager, compiled))
            rows[-1]["compile_seconds"] = compile_seconds
            throughput = (
                f"{mpairs / baseline:>12.2f}{mpairs / eager:>9.2f}{mpairs / compiled:>10.2f}"
            )
            ratios = f"{baseline / eager:>9.2f}x{baseline / compiled:>12.2f}x"
            print(f"{name:<12}{throughput}{ratios}{compile_seconds:>11.1f}", flush=True)


def time_zoo(args, pred, target, rows: list) -> None:
    """Every other registered loss against the public code it is tested against."""
    mpairs = args.pairs / 1e6
    print(f"\n{'loss':<14}{'baseline':>10}{'eager':>9}{'compiled':>10}{'eager/b':>9}"
          f"{'compiled/b':>12}  baseline code")  # fmt: skip
    for name in [*ZOO, *ALPHA_OF]:
        reference, source = ZOO[ALPHA_OF.get(name, name)]
        eager_module = build_loss(name, reduction="none", image_size=(1000, 1000))
        steps = {
            "baseline": forward_backward(reference, pred, target),
            "eager": forward_backward(eager_module, pred, target),
        }
        if isinstance(eager_module, AlphaIoULoss):
            torch._dynamo.reset()
            steps["compiled"] = forward_backward(
                build_loss(name, reduction="none", image_size=(1000, 1000), compile=True),
                pred,
                target,
            )
        seconds = interleaved_medians(steps, args.repeats)
        baseline, eager = seconds["baseline"], seconds["eager"]
        compiled = seconds.get("compiled")
        rows.append(row(name, args, source, baseline, eager, compiled))
        compiled_text = (
            f"{mpairs / compiled:>10.2f}" if compiled else f"{'—':>10}",
            f"{baseline / compiled:>11.2f}x" if compiled else f"{'—':>12}",
        )
        print(
            f"{name:<14}{mpairs / baseline:>10.2f}{mpairs / eager:>9.2f}{compiled_text[0]}"
            f"{baseline / eager:>8.2f}x{compiled_text[1]}  {source}",
            flush=True,
        )


def row(name, args, baseline_code, baseline, eager, compiled) -> dict:
    """One JSON row: throughputs and ratios to the baseline (``None`` where not compiled)."""
    mpairs = args.pairs / 1e6
    return {
        "loss": name,
        "device": args.device,
        "pairs": args.pairs,
        "baseline_code": baseline_code,
        "baseline_mpairs_s": mpairs / baseline,
        "eager_mpairs_s": mpairs / eager,
        "compiled_mpairs_s": mpairs / compiled if compiled else None,
        "eager_ratio": baseline / eager,
        "compiled_ratio": baseline / compiled if compiled else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--kinds", nargs="+", default=list(TORCHVISION))
    parser.add_argument("--zoo-only", action="store_true", help="skip the torchvision table")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()

    pred, target = make_pairs(args.pairs, args.device)
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"device {args.device}, threads {torch.get_num_threads()}, {args.pairs:,} pairs, "
        "forward + backward, float32; throughput in M pairs/s"
    )
    rows: list = []
    if not args.zoo_only:
        time_torchvision_kinds(args, pred, target, rows)
    time_zoo(args, pred, target, rows)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
