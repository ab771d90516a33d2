"""The CUDA paths: losses, compiled losses, AMP training, NCCL under torchrun.

These need a CUDA device and are skipped without one (CI has none); they were run on an H100
through the device tool (README, "GPU").
"""

import json
import subprocess
import sys
import warnings

import pytest
import torch
import torchvision.ops as tv

from noisybox.losses import AlphaIoULoss, alpha_iou_loss
from noisybox.shapes import ShapesConfig, make_shapes_dataset
from noisybox.training.trainer import TrainConfig, Trainer, data_from_folder, train_and_evaluate

from .detectors import assert_same_losses_and_head_gradients

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def random_box_pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` overlapping and disjoint (prediction, target) pairs, float32 xyxy pixels."""
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(2, n, 2, generator=generator) * 200
    sizes = torch.rand(2, n, 2, generator=generator) * 100 + 1
    pred, target = torch.cat([corners, corners + sizes], dim=-1)
    return pred, target


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "shapes"
    make_shapes_dataset(folder, ShapesConfig(images=24, image_size=64, min_size=10, max_size=28))
    return folder


def test_cuda_losses_equal_torchvision_and_the_cpu():
    pred, target = random_box_pairs(4096, seed=0)
    reference = {
        "giou": tv.generalized_box_iou_loss,
        "diou": tv.distance_box_iou_loss,
        "ciou": tv.complete_box_iou_loss,
    }
    for kind, torchvision_loss in reference.items():
        cpu = alpha_iou_loss(pred, target, kind=kind, alpha=1.0)
        gpu = alpha_iou_loss(pred.cuda(), target.cuda(), kind=kind, alpha=1.0)
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-6)
        expected = torchvision_loss(pred.cuda(), target.cuda(), reduction="none", eps=1e-7)
        torch.testing.assert_close(gpu, expected, rtol=1e-4, atol=1e-5)


def test_compiled_loss_on_cuda_equals_eager():
    pred, target = random_box_pairs(4096, seed=1)
    pred, target = pred.cuda(), target.cuda()
    results = []
    for compile in (False, True):
        module = AlphaIoULoss("ciou", 3.0, reduction="none", compile=compile)
        leaf = pred.clone().requires_grad_()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = module(leaf, target)
        assert not [w for w in caught if "torch.compile failed" in str(w.message)]
        loss.sum().backward()
        results.append((loss.detach(), leaf.grad))
    torch.testing.assert_close(results[1], results[0], rtol=1e-4, atol=1e-5)


def cuda_config(shapes, out, **overrides):
    settings = dict(
        **data_from_folder(shapes),
        image_size=64,
        batch_size=4,
        max_steps=6,
        warmup_steps=2,
        lr=2e-3,
        log_every=1,
        checkpoint_every=3,
        device="cuda",
        workers=2,
        out=str(out),
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_amp_training_on_cuda(tmp_path, shapes):
    probe = Trainer(cuda_config(shapes, tmp_path / "probe"), log=lambda _: None)
    assert probe.amp_dtype == torch.bfloat16 and torch.backends.cudnn.benchmark
    evaluation = train_and_evaluate(cuda_config(shapes, tmp_path / "run"), log=lambda _: None)
    lines = (tmp_path / "run/metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    assert records[-1]["skipped_steps"] == 0
    state = torch.load(tmp_path / "run/checkpoints/last.pt", weights_only=True, map_location="cpu")
    assert state["step"] == 6
    assert evaluation["ground_truths"] > 0 and (tmp_path / "run/detections.json").exists()


def test_first_step_matches_the_cpu_in_float32(tmp_path, shapes):
    """Same seed, same batch, no AMP: the first loss on the GPU is the CPU's up to rounding."""
    losses = {}
    for device in ("cpu", "cuda"):
        config = cuda_config(shapes, tmp_path / device, device=device, amp=False, max_steps=1)
        Trainer(config, log=lambda _: None).train()
        record = json.loads((tmp_path / device / "metrics.jsonl").read_text())
        losses[device] = record["loss"]
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=2e-3)


def test_torchrun_on_nccl(tmp_path, shapes):
    out = tmp_path / "ddp"
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"),
        str(torch.cuda.device_count()),
        *("-m", "noisybox", "train", "--data", str(shapes), "--max-steps", "4"),
        *("--img-size", "64", "--batch-size", "2", "--device", "cuda", "--out", str(out)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 4 and records[-1]["processes"] == torch.cuda.device_count()


def test_batched_fcos_on_cuda_equals_torchvision_s_fcos():
    """Reference: torchvision's FCOS (GIoU) with the same weights on the same CUDA batch
    (float32): the same losses and head
    gradients, up to cuDNN's rounding."""
    from torchvision.models.detection import FCOS

    from noisybox.losses import build_loss
    from noisybox.training.models import build_detector

    torch.manual_seed(0)
    ours = build_detector("fcos", "tiny", 3, 128, build_loss("giou", reduction="sum"))
    stock = FCOS(ours.backbone, 4, anchor_generator=ours.anchor_generator, min_size=128,
                 max_size=128, score_thresh=0.05)  # fmt: skip
    stock.head.load_state_dict(ours.head.state_dict())
    device = torch.device("cuda")
    ours, stock = ours.to(device), stock.to(device)
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(6, 3, 128, 128, generator=generator).to(device)
    corners = torch.rand(6, 2, 2, generator=generator) * 80
    boxes = torch.cat([corners, corners + torch.rand(6, 2, 2, generator=generator) * 40 + 4], 2)
    targets = [
        {"boxes": b.to(device), "labels": torch.tensor([1, 3], device=device)} for b in boxes
    ]
    targets[2] = {"boxes": torch.zeros(0, 4, device=device),
                  "labels": torch.zeros(0, dtype=torch.int64, device=device)}  # fmt: skip
    assert_same_losses_and_head_gradients(ours, stock, images, targets, (1e-3, 1e-5), (1e-2, 1e-4))
