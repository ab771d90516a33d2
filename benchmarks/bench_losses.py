"""Loss micro-benchmark: forward + backward on N box pairs, against torchvision.ops.

For each kind (IoU, GIoU, DIoU, CIoU) at alpha = 1 and 3 it times noisybox's eager
``alpha_iou_loss`` and the compiled ``AlphaIoULoss(compile=True)`` against torchvision's
loss of the same kind on the same inputs, interleaved, median of ``--repeats``.
torchvision has no plain IoU loss: its baseline is ``1 - inter / (union + eps)`` from
torchvision's own ``_loss_inter_union``. Prints throughput in millions of pairs per
second and the ratio to torchvision.

    python benchmarks/bench_losses.py                  # 1,000,000 pairs on the CPU
    python benchmarks/bench_losses.py --device cuda    # on a GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial

import torch
import torchvision
import torchvision.ops as tv
from torchvision.ops._utils import _loss_inter_union

from noisybox.losses import AlphaIoULoss, alpha_iou_loss


def torchvision_iou_loss(pred, target, eps=1e-7):
    inter, union = _loss_inter_union(pred, target)
    return 1 - inter / (union + eps)


TORCHVISION = {
    "iou": torchvision_iou_loss,
    "giou": tv.generalized_box_iou_loss,
    "diou": tv.distance_box_iou_loss,
    "ciou": tv.complete_box_iou_loss,
}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--kinds", nargs="+", default=list(TORCHVISION))
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()

    pred, target = make_pairs(args.pairs, args.device)
    mpairs = args.pairs / 1e6
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"device {args.device}, threads {torch.get_num_threads()}, {args.pairs:,} pairs, "
        "forward + backward, float32; throughput in M pairs/s"
    )
    header = f"{'loss':<12}{'torchvision':>12}{'eager':>9}{'compiled':>10}"
    print(f"{header}{'eager/tv':>10}{'compiled/tv':>13}{'compile s':>11}")
    rows = []
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
            row = {
                "loss": name,
                "alpha": alpha,
                "device": args.device,
                "pairs": args.pairs,
                "torchvision_mpairs_s": mpairs / baseline,
                "eager_mpairs_s": mpairs / eager,
                "compiled_mpairs_s": mpairs / compiled,
                "eager_ratio": baseline / eager,
                "compiled_ratio": baseline / compiled,
                "compile_seconds": compile_seconds,
            }
            rows.append(row)
            throughput = (
                f"{mpairs / baseline:>12.2f}{mpairs / eager:>9.2f}{mpairs / compiled:>10.2f}"
            )
            ratios = f"{baseline / eager:>9.2f}x{baseline / compiled:>12.2f}x"
            print(f"{name:<12}{throughput}{ratios}{compile_seconds:>11.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
