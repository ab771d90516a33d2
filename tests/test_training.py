"""The built-in dataset, the trainer and its run folder, at toy sizes on the CPU."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from noisybox.cli import main

from noisybox import shapes as shapes_module
from noisybox.errors import NoisyboxError
from noisybox.shapes import CLASSES, ShapesConfig, make_shapes_dataset
from noisybox.training.trainer import TrainConfig, Trainer, data_from_folder, train_and_evaluate

from .datasets import SHARED, TOY, digest, toy_config
from .detectors import assert_same_losses_and_head_gradients


def state_of(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_shapes_dataset_is_deterministic_with_exact_boxes(tmp_path, shapes):
    again = tmp_path / "again"
    counts = make_shapes_dataset(again, TOY, seed=3)
    assert digest(again) == digest(shapes)
    assert counts["train_images"] + counts["val_images"] == 24 and counts["val_images"] == 5
    other = tmp_path / "other"
    make_shapes_dataset(other, TOY, seed=4)
    assert digest(other) != digest(shapes)
    train = json.loads((shapes / "annotations" / "train.json").read_text())
    assert [c["name"] for c in train["categories"]] == list(CLASSES)
    for record in train["annotations"]:
        x, y, w, h = record["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 64 and y + h <= 64 and w >= 4 and h >= 4
        assert all(float(v).is_integer() for v in record["bbox"])  # pixel edges, exact


def test_boxes_are_the_tight_boxes_of_the_painted_pixels(monkeypatch):
    """With a black background and white shapes, every box is exactly the painted extent."""
    monkeypatch.setattr(shapes_module, "_background", lambda size, rng: np.zeros((size, size, 3)))
    monkeypatch.setattr(
        shapes_module, "_texture", lambda kind, shape, colour, rng: np.full((*shape, 3), 255.0)
    )
    config = ShapesConfig(images=2, image_size=64, min_size=6, max_size=40, max_shapes=1)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(60):
        pixels, [(kind, (x1, y1, x2, y2))] = shapes_module.render_image(config, rng)
        rows, cols = (
            np.flatnonzero(pixels.any(axis=(1, 2))),
            np.flatnonzero(pixels.any(axis=(0, 2))),
        )
        assert (x1, y1, x2, y2) == (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
        seen.add(kind)
    assert seen == set(range(len(CLASSES)))


def test_make_dataset_command(tmp_path, capsys):
    out = tmp_path / "d"
    assert (
        main(["make-dataset", "shapes", "--out", str(out), "--images", "10", "--image-size", "48"])
        == 0
    )
    assert "8 train images" in capsys.readouterr().out
    assert main(["make-dataset", "shapes", "--out", str(out), "--images", "10"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_the_loss_in_use_is_the_chosen_one(tmp_path, shapes):
    """alpha-iou at alpha 1 is the IoU loss, exactly; at alpha 3 training goes elsewhere."""
    weights = {}
    for name, loss, alpha in (
        ("iou", "iou", None),
        ("a1", "alpha-iou", 1.0),
        ("a3", "alpha-iou", 3.0),
    ):
        trainer = Trainer(
            toy_config(shapes, tmp_path / name, loss=loss, alpha=alpha), log=lambda _: None
        )
        trainer.train()
        weights[name] = state_of(trainer)
    for key, value in weights["iou"].items():
        assert torch.equal(value, weights["a1"][key]), key
    assert any(not torch.equal(v, weights["a3"][k]) for k, v in weights["iou"].items())


@pytest.mark.parametrize("loss", ["iou", "wiou-v3"])
def test_resume_gives_the_uninterrupted_result(tmp_path, shapes, loss):
    """Wise-IoU v3's running mean is model state: checkpointed and restored with it."""
    whole = Trainer(toy_config(shapes, tmp_path / "whole", loss=loss), log=lambda _: None)
    whole.train()

    def interrupt(line):
        if line.startswith("step 5/"):
            raise KeyboardInterrupt  # killed after the step-3 checkpoint, before step 6's

    config = toy_config(shapes, tmp_path / "cut", loss=loss)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config, log=interrupt).train()
    assert torch.load(tmp_path / "cut/checkpoints/last.pt", weights_only=True)["step"] == 3
    resumed = Trainer(config, resume=True, log=lambda _: None)
    resumed.train()
    for key, value in state_of(whole).items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    if loss == "wiou-v3":
        mean = resumed.model.state_dict()["head.box_loss.iou_mean"]
        assert 0 < mean.item() < 1  # moved from its start, 1, by six steps of updates
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "cut/metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [1, 2, 3, 4, 5, 6]  # the interrupted run's step 4-5 lines were replaced


def test_run_folder_and_eval_command(tmp_path, shapes, capsys, monkeypatch):
    out = tmp_path / "run"
    result = train_and_evaluate(
        toy_config(shapes, out, model="retinanet", loss="alpha-ciou"), log=lambda _: None
    )
    assert {p.name for p in out.iterdir()} == {
        ".noisybox.json",
        "config.json",
        "metrics.jsonl",
        "checkpoints",
        "detections.json",
        "ground_truth.json",
        "eval.json",
    }
    state = torch.load(out / "checkpoints/last.pt", weights_only=True)
    assert state["step"] == 6 and "model" in state
    assert json.loads((out / "config.json").read_text())["loss"] == "alpha-ciou"
    assert json.loads((out / "eval.json").read_text())["metrics"] == result["metrics"]
    saved = json.loads((out / "config.json").read_text())  # paths relative to the run folder
    assert (out / saved["train_annotations"]).samefile(shapes / "annotations/train.json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a run folder is evaluable from any working folder
    assert main(["eval", "--run", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == pytest.approx(result["metrics"])
    detections = json.loads((out / "detections.json").read_text())
    val = json.loads((shapes / "annotations/val.json").read_text())
    assert {d["image_id"] for d in detections} <= {i["id"] for i in val["images"]}


def test_run_folder_errors(tmp_path, shapes):
    out = tmp_path / "run"
    Trainer(toy_config(shapes, out, max_steps=1), log=lambda _: None).train()
    with pytest.raises(NoisyboxError, match="holds a run already; pass `resume=True`"):
        Trainer(toy_config(shapes, out, max_steps=1), log=lambda _: None)
    with pytest.raises(NoisyboxError, match="changed: lr"):
        Trainer(toy_config(shapes, out, max_steps=1, lr=0.1), resume=True, log=lambda _: None)
    with pytest.raises(NoisyboxError, match="never downloads weights"):
        Trainer(
            toy_config(shapes, tmp_path / "w", weights=str(tmp_path / "none.pt")),
            log=lambda _: None,
        )
    if not torch.cuda.is_available():
        with pytest.raises(NoisyboxError, match="no CUDA device"):
            Trainer(toy_config(shapes, tmp_path / "c", device="cuda"), log=lambda _: None)


def test_weights_load_from_a_local_checkpoint(tmp_path, shapes):
    first = Trainer(toy_config(shapes, tmp_path / "a", max_steps=2), log=lambda _: None)
    first.train()
    lines = []
    second = Trainer(
        toy_config(
            shapes, tmp_path / "b", max_steps=1, weights=str(tmp_path / "a/checkpoints/last.pt")
        ),
        log=lines.append,
    )
    assert "0 missing, 0 unexpected" in lines[-1]
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key])


def test_images_without_boxes_and_degenerate_boxes_are_kept(tmp_path, shapes):
    train = json.loads((shapes / "annotations/train.json").read_text())
    emptied = train["annotations"][0]["image_id"]
    train["annotations"] = [a for a in train["annotations"] if a["image_id"] != emptied]
    train["annotations"][0]["bbox"][2] = 0.5  # narrower than a pixel: left out, counted
    path = tmp_path / "train.json"
    path.write_text(json.dumps(train))
    lines = []
    trainer = Trainer(
        toy_config(shapes, tmp_path / "run", train_annotations=str(path)), log=lines.append
    )
    assert len(trainer.train_set) == len(train["images"])  # no image dropped
    assert trainer.train_set.targets.filtered == 1 and "1 degenerate training boxes" in lines[0]
    trainer.train()


def test_train_on_a_yolo_copy(tmp_path, shapes):
    """Any annotation format trains: a YOLO copy of the training labels."""
    train = json.loads((shapes / "annotations/train.json").read_text())
    labels = tmp_path / "labels"
    labels.mkdir()
    for image in train["images"]:
        rows = [a for a in train["annotations"] if a["image_id"] == image["id"]]
        lines = [
            f"{a['category_id']} {(a['bbox'][0] + a['bbox'][2] / 2) / 64:.6f} "
            f"{(a['bbox'][1] + a['bbox'][3] / 2) / 64:.6f} {a['bbox'][2] / 64:.6f} "
            f"{a['bbox'][3] / 64:.6f}"
            for a in rows
        ]
        (labels / image["file_name"].replace(".png", ".txt")).write_text("\n".join(lines) + "\n")
    config = toy_config(shapes, tmp_path / "run", train_annotations=str(labels), max_steps=2)
    trainer = Trainer(config, log=lambda _: None)
    coco = Trainer(toy_config(shapes, tmp_path / "ref", max_steps=2), log=lambda _: None)
    for yolo_boxes, coco_boxes in zip(
        trainer.train_set.targets.boxes, coco.train_set.targets.boxes, strict=True
    ):
        np.testing.assert_allclose(yolo_boxes * 64, coco_boxes, atol=1e-3)
    trainer.train()


def test_smoke_run_on_real_photos(tmp_path):
    """The raccoon photos (VOC, grayscale ones included) train and evaluate."""
    root = SHARED / "raccoon"
    if not root.is_dir():
        pytest.skip(f"{root} is absent: the shared real datasets are not on this machine")
    config = TrainConfig(
        train_annotations=str(root / "annotations"),
        val_annotations=str(root / "annotations"),
        images=str(root / "images"),
        image_size=64,
        batch_size=4,
        max_steps=2,
        warmup_steps=1,
        out=str(tmp_path / "run"),
        log_every=1,
    )
    result = train_and_evaluate(config, log=lambda _: None)
    assert result["ground_truths"] == 217 and set(result["metrics"]) >= {"mAP", "mAP75:95"}


def _toy_batch(count=4, size=64):
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(3, size, size, generator=generator) for _ in range(count)]
    targets = [
        {
            "boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0], [30.0, 30.0, 60.0, 50.0]]),
            "labels": torch.tensor([1, 3]),
        }
        for _ in range(count)
    ]
    targets[0] = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
    return images, targets


@pytest.mark.parametrize(
    ("model", "loss"),
    [
        *((m, n) for m in ("fcos", "retinanet", "faster-rcnn") for n in ("alpha-ciou", "giou")),
        *((m, "smooth-l1") for m in ("fcos", "retinanet", "faster-rcnn")),
        *(("fcos", n) for n in ("alpha-siou", "wiou-v3", "nwd", "kld", "inner-ciou")),
        *(("fcos", n) for n in ("focal-eiou", "shape-iou", "gwd", "alpha-nwd")),
        ("retinanet", "alpha-mpdiou"),
        ("faster-rcnn", "alpha-wiou"),
    ],
)
def test_every_model_trains_with_every_kind_of_loss(model, loss):
    from noisybox.losses import build_loss
    from noisybox.training.models import build_detector

    torch.manual_seed(0)
    box_loss = build_loss(loss, reduction="sum", image_size=(64, 64))
    detector = build_detector(model, "tiny", 4, 64, box_loss)
    images, targets = _toy_batch()
    losses = detector(images, targets)
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(p.grad).all() for p in detector.parameters() if p.grad is not None)


def test_the_detector_table_names_each_model_and_refuses_others():
    """What each name builds: its torchvision class, our loss in its head, the batched
    transform and the positives' recorder; an unknown name is refused by parameter."""
    from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet

    from noisybox.losses import build_loss
    from noisybox.training.batching import SquareBatchTransform
    from noisybox.training.diagnostics import PositiveIoU
    from noisybox.training.models import (
        MODELS,
        FCOSHeadWithLoss,
        RetinaNetRegressionHeadWithLoss,
        RoIHeadsWithLoss,
        build_detector,
    )

    assert MODELS == ("fcos", "retinanet", "faster-rcnn")
    box_loss = build_loss("giou", reduction="sum")
    expected = {  # model: (class, where its loss sits, that head's class)
        "fcos": (FCOS, lambda d: d.head, FCOSHeadWithLoss),
        "retinanet": (RetinaNet, lambda d: d.head.regression_head, RetinaNetRegressionHeadWithLoss),
        "faster-rcnn": (FasterRCNN, lambda d: d.roi_heads, RoIHeadsWithLoss),
    }
    for model in MODELS:
        detector = build_detector(model, "tiny", 4, 48, box_loss)
        kind, head_of, head = expected[model]
        assert isinstance(detector, kind) and isinstance(head_of(detector), head)
        assert head_of(detector).box_loss is box_loss
        assert isinstance(detector.transform, SquareBatchTransform)
        assert isinstance(detector.positive_iou, PositiveIoU)
        assert detector.transform.min_size == (48,) and detector.transform.max_size == 48
        # scores kept down to 0.05, 100 an image: AP over the whole precision-recall curve
        post = detector.roi_heads if model == "faster-rcnn" else detector
        assert (post.score_thresh, post.detections_per_img) == (0.05, 100)
    with pytest.raises(NoisyboxError, match="model must be one of fcos, retinanet, faster-rcnn; "
                       "got 'yolo'") as refused:  # fmt: skip
        build_detector("yolo", "tiny", 4, 48, box_loss)
    assert refused.value.parameter == "model"


def test_faster_rcnn_smooth_l1_is_torchvisions_own_loss():
    from torchvision.models.detection.roi_heads import RoIHeads

    from noisybox.losses import build_loss
    from noisybox.training.models import ROI_HEAD_SETTINGS, build_detector

    torch.manual_seed(0)
    ours = build_detector("faster-rcnn", "tiny", 4, 64, build_loss("smooth-l1", reduction="sum"))
    heads = ours.roi_heads
    stock = RoIHeads(heads.box_roi_pool, heads.box_head, heads.box_predictor, **ROI_HEAD_SETTINGS)
    images, targets = _toy_batch()
    for armed in (False, True):  # armed: the positives' IoU is recorded on this step
        results = []
        for roi_heads in (heads, stock):
            ours.roi_heads = roi_heads
            if armed and roi_heads is heads:
                heads.positive_iou.arm()
            torch.manual_seed(1)  # the RoI sampler draws at random
            results.append(ours(images, targets))
            if roi_heads is heads:
                recorded = heads.positive_iou.take()["positives"]
        assert set(results[0]) == set(results[1])
        for key in results[0]:  # same formula; per-box sums round in another order (float32)
            torch.testing.assert_close(results[0][key], results[1][key], rtol=1e-6, atol=0)
        assert bool(recorded > 0) == armed  # nan unarmed
    found = []  # inference is torchvision's own
    for roi_heads in (heads, stock):
        ours.roi_heads = roi_heads
        ours.eval()
        with torch.no_grad():
            found.append(ours(images))
    for mine, theirs in zip(*found, strict=True):
        assert mine.keys() == theirs.keys() and len(mine["boxes"]) > 0
        for key in mine:
            assert torch.equal(mine[key], theirs[key])


class _RecordingBoxLoss(torch.nn.Module):
    """An IoU-style box loss (not a ``CoordinateLoss``) that keeps what it is given and
    returns the number of boxes, so that the head's normalisation can be read off."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, predicted, target):
        self.calls.append((predicted.detach().clone(), target.detach().clone()))
        return predicted.sum() * 0 + len(predicted)


@pytest.mark.parametrize("model", ["fcos", "retinanet", "faster-rcnn"])
def test_every_detector_gives_an_iou_loss_decoded_pixel_boxes_and_normalises_it(model):
    """What each head hands an IoU-based box loss: the positives' boxes in pixels, each
    target row one of the image's (non-square) ground-truth boxes, never encoded deltas
    (a head passing its deltas to an IoU loss still trains, only on nonsense, so no other
    test notices); predictions that overlap their targets at initialisation (RetinaNet's
    anchors and Faster R-CNN's proposals are IoU >= 0.5 positives and the regression starts
    small, so every decoded box keeps IoU > 0.1 with its target, which deltas read as boxes
    do not);
    and the sum divided by the number of positives (FCOS by all its foreground locations,
    RetinaNet per image then averaged), so a loss of 1 per box logs as exactly 1."""
    from torchvision.ops import box_iou

    from noisybox.training.models import build_detector

    torch.manual_seed(0)
    box_loss = _RecordingBoxLoss()
    detector = build_detector(model, "tiny", 4, 64, box_loss)
    detector.train()
    images = [torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    gt = [
        torch.tensor([[4.0, 6.0, 40.0, 50.0]]),
        torch.tensor([[10.0, 10.0, 30.0, 20.0], [30.0, 30.0, 60.0, 62.0]]),
    ]
    targets = [{"boxes": boxes, "labels": torch.arange(1, len(boxes) + 1)} for boxes in gt]
    losses = detector(images, targets)
    assert box_loss.calls, "the box loss was never called"
    all_gt = torch.cat(gt)
    for predicted, target in box_loss.calls:
        assert len(predicted) == len(target) > 0
        distance = (target[:, None, :] - all_gt[None, :, :]).abs().amax(dim=-1)
        assert distance.amin(dim=1).max() < 1e-3, "targets are not the ground-truth boxes"
        if model != "fcos":  # FCOS's positives are points: its early boxes are near empty
            assert box_iou(predicted, target).diagonal().min() > 0.1
    if model == "fcos":
        assert losses["bbox_regression"].item() == pytest.approx(1.0, abs=1e-6)
    elif model == "retinanet":
        assert len(box_loss.calls) == 2  # one call per image
        assert losses["bbox_regression"].item() == pytest.approx(1.0, abs=1e-6)


def test_zero_size_fcos_predictions_stay_finite():
    """Early FCOS predicts boxes of zero size, where torchvision's CIoU has a NaN gradient."""
    from torchvision.models.detection._utils import BoxLinearCoder
    from torchvision.ops import complete_box_iou_loss

    from noisybox.losses import build_loss
    from noisybox.training.diagnostics import PositiveIoU
    from noisybox.training.models import _decode, regression_loss

    coder = BoxLinearCoder(normalize_by_size=True)
    anchors = torch.tensor([[8.0, 8.0, 16.0, 16.0], [16.0, 16.0, 48.0, 48.0]])
    gt = torch.tensor([[6.0, 5.0, 20.0, 30.0], [10.0, 12.0, 40.0, 44.0]])
    regression = torch.zeros(2, 4, requires_grad=True)  # decodes to zero-size boxes
    stock = complete_box_iou_loss(_decode(coder, regression, anchors), gt, reduction="sum")
    (stock_grad,) = torch.autograd.grad(stock, regression)
    assert not torch.isfinite(stock_grad).all()  # the pitfall exists
    loss = regression_loss(
        build_loss("alpha-ciou", reduction="sum"), coder, regression, anchors, gt, PositiveIoU()
    )
    (grad,) = torch.autograd.grad(loss, regression)
    assert torch.isfinite(loss) and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.slow
def test_torchrun_two_processes_on_gloo(tmp_path, shapes):
    """Distributed data parallel on the CPU: two processes, one run folder written by rank 0."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "noisybox",
        "train",
        "--data",
        str(shapes),
        "--max-steps",
        "4",
        "--img-size",
        "64",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("(eval.json, detections.json)") == 1  # only rank 0 reports
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [4] and records[0]["processes"] == 2
    assert torch.load(out / "checkpoints/last.pt", weights_only=True)["step"] == 4
    assert json.loads((out / "eval.json").read_text())["ground_truths"] > 0


def test_voc_year_and_yolo_dataset_layouts(tmp_path):
    from .datasets import make_voc_year, make_yolo_dataset

    def layout_config(folder, name):
        return toy_config(folder, tmp_path / name, batch_size=2, max_steps=2)

    voc = make_voc_year(tmp_path / "VOCdevkit" / "VOC2007")
    assert data_from_folder(voc)["train_split"].endswith("ImageSets/Main/train.txt")
    config = layout_config(voc, "voc_run")
    trainer = Trainer(config, log=lambda _: None)
    assert (len(trainer.train_set), len(trainer.val_set)) == (4, 2)
    assert train_and_evaluate(config, log=lambda _: None)["ground_truths"] == 4  # 2 boxes each

    yolo = make_yolo_dataset(tmp_path / "yolo")
    config = layout_config(yolo, "yolo_run")
    assert train_and_evaluate(config, log=lambda _: None)["ground_truths"] == 6
    assert (tmp_path / "yolo_run" / "ground_truth.json").is_file()
    with pytest.raises(NoisyboxError, match="not a dataset folder noisybox knows"):
        data_from_folder(tmp_path)


def test_yolo_boxes_scale_to_the_pixels_of_non_square_images(tmp_path):
    """YOLO's ``0.5 0.5 0.25 0.5`` on an 80 x 60 image is x 30..50, y 15..45 px: x scales by
    the width, y by the height (y by the width would give 20..60), in the training targets
    (longest side 80: no resize, padding below) and in the validation ground truth."""
    from PIL import Image

    folder = tmp_path / "yolo"
    for split in ("train", "val"):
        (folder / "labels" / split).mkdir(parents=True)
        (folder / "labels" / split / "a.txt").write_text("0 0.5 0.5 0.25 0.5\n")
        (folder / "images" / split).mkdir(parents=True)
        Image.new("RGB", (80, 60)).save(folder / "images" / split / "a.png")
    config = toy_config(folder, tmp_path / "run", image_size=80, augment=False)
    trainer = Trainer(config, log=lambda _: None)
    image, target = trainer.train_set[0]
    assert image.shape == (3, 80, 80) and image.dtype == torch.uint8
    assert target["boxes"].tolist() == [[30.0, 15.0, 50.0, 45.0]]
    [record] = trainer.ground_truth()["annotations"]
    assert record["bbox"] == pytest.approx([30.0, 15.0, 20.0, 30.0], abs=1e-4)


def test_imagenet_weights_come_from_the_local_cache_only(tmp_path, shapes, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    config = toy_config(shapes, tmp_path / "run", backbone="resnet18", weights="imagenet")
    with pytest.raises(
        NoisyboxError, match="is not in torchvision's cache and noisybox never downloads"
    ):
        Trainer(config, log=lambda _: None)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.manual_seed(5)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    torch.save(reference, cache / url.rsplit("/", 1)[-1])
    lines = []
    trainer = Trainer(config, log=lines.append)
    assert "loaded ImageNet weights" in lines[-1]
    body = trainer.model.backbone.body.state_dict()
    assert torch.equal(body["conv1.weight"], reference["conv1.weight"])
    assert torch.equal(body["layer4.1.bn2.running_var"], reference["layer4.1.bn2.running_var"])


def test_tensorboard_logging(tmp_path, shapes):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    Trainer(toy_config(shapes, tmp_path / "run", tensorboard=True), log=lambda _: None).train()
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    losses = events.Scalars("train/loss")
    assert [event.step for event in losses] == [1, 2, 3, 4, 5, 6]
    logged = [
        json.loads(line)["loss"]
        for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()
    ]
    assert [event.value for event in losses] == pytest.approx(logged, rel=1e-6)


def test_a_diverging_run_stops_with_a_clear_error(tmp_path, shapes):
    config = toy_config(shapes, tmp_path / "run", lr=1e9, warmup_steps=1, log_every=2)
    with pytest.raises(
        NoisyboxError, match=r"the loss became (nan|inf) by step \d+; try a lower `lr`"
    ):
        Trainer(config, log=lambda _: None).train()


def test_mixed_precision_defaults_to_the_device(tmp_path, shapes):
    cpu = Trainer(toy_config(shapes, tmp_path / "a", device="cpu"), log=lambda _: None)
    assert cpu.amp_dtype is None  # off on the CPU unless asked
    asked = Trainer(toy_config(shapes, tmp_path / "b", device="cpu", amp=True), log=lambda _: None)
    assert asked.amp_dtype == torch.bfloat16 and not asked.scaler.is_enabled()
    asked.train()  # bf16 on the CPU: a step whose gradients overflow is skipped and counted
    records = [json.loads(line) for line in (tmp_path / "b/metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in records)
    assert records[-1]["skipped_steps"] == 0  # P6/P7 in float32 keep the gradients finite
    assert all(torch.isfinite(p).all() for p in asked.model.parameters())
    if torch.cuda.is_available():
        gpu = Trainer(toy_config(shapes, tmp_path / "c", device="cuda"), log=lambda _: None)
        assert gpu.amp_dtype in (torch.bfloat16, torch.float16)


def _two_image_batch():
    images = [torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    targets = [
        {"boxes": torch.tensor([[4.0, 6.0, 40.0, 50.0]]), "labels": torch.tensor([1])},
        {
            "boxes": torch.tensor([[10.0, 10.0, 30.0, 20.0], [30.0, 30.0, 60.0, 62.0]]),
            "labels": torch.tensor([2, 3]),
        },
    ]
    return images, targets


@pytest.mark.parametrize(("model", "loss"), [("fcos", "giou"), ("retinanet", "l1")])
def test_the_heads_equal_stock_torchvision_with_its_own_box_loss(model, loss):
    """Reference: torchvision's own FCOS (GIoU) and RetinaNet (L1 on encoded boxes), same
    weights, same batch: the copied ``compute_loss`` gives the same losses and gradients
    (torchvision 0.29, the range pinned in pyproject.toml)."""
    from torchvision.models.detection import FCOS, RetinaNet

    from noisybox.losses import build_loss
    from noisybox.training.models import build_detector

    torch.manual_seed(0)
    ours = build_detector(model, "tiny", 3, 64, build_loss(loss, reduction="sum"))
    settings = {"min_size": 64, "max_size": 64, "score_thresh": 0.05, "detections_per_img": 100}
    stock_class = FCOS if model == "fcos" else RetinaNet
    anchors = ours.anchor_generator
    if model == "retinanet":  # torchvision's v2 head, with GroupNorm, as ours
        from functools import partial

        from torchvision.models.detection.retinanet import RetinaNetHead

        from noisybox.training.models import RETINANET_GROUPS

        norm = partial(torch.nn.GroupNorm, RETINANET_GROUPS)
        settings["head"] = RetinaNetHead(ours.backbone.out_channels, 9, 4, norm_layer=norm)
    stock = stock_class(ours.backbone, 4, anchor_generator=anchors, **settings)
    if model == "retinanet":
        stock.head.regression_head._loss_type = "l1"
    stock.head.load_state_dict(ours.head.state_dict(), strict=True)
    images, targets = _two_image_batch()
    assert_same_losses_and_head_gradients(ours, stock, images, targets, (1e-6, 1e-7), (1e-5, 1e-7))
    # one image (the loss averages over images), one small box (few positives to average over)
    small = [{"boxes": torch.tensor([[30.0, 30.0, 34.0, 33.0]]), "labels": torch.tensor([2])}]
    for batch in ((images[:1], targets[:1]), (images[:1], small)):
        assert_same_losses_and_head_gradients(ours, stock, *batch, (1e-6, 1e-7), (1e-5, 1e-7))


def test_the_dry_run_timer_builds_the_run_s_own_loss():
    """time_training_steps used to drop alpha_penalty and compile: one builder serves both."""
    from noisybox.training.trainer import build_box_loss, time_training_steps

    config = TrainConfig(train_annotations="t", val_annotations="v", images="i",
                         loss="alpha-ciou", alpha_penalty=1.0, device="cpu", image_size=64,
                         batch_size=2)  # fmt: skip
    loss = build_box_loss(config)
    assert loss.alpha == 3.0 and loss.alpha_penalty == 1.0 and loss.reduction == "sum"
    assert time_training_steps(config, num_classes=2, steps=1) > 0


def test_the_multi_tensor_optimizer_gives_the_per_parameter_numbers():
    """build_optimizer's foreach AdamW against torch's default CPU AdamW (a loop over the
    parameters, what noisybox used before): three steps of the tiny FCOS, bit for bit."""
    from noisybox.training.models import build_detector
    from noisybox.training.trainer import build_box_loss, build_optimizer, train_step

    config = TrainConfig("t.json", "v.json", "images", loss="giou", lr=4e-3, image_size=64)
    images, targets = _toy_batch()
    weights = []
    for reference in (True, False):
        torch.manual_seed(0)
        model = build_detector("fcos", "tiny", 4, 64, build_box_loss(config)).train()
        optimizer = (
            torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            if reference
            else build_optimizer(model, config)
        )
        scaler = torch.amp.GradScaler(enabled=False)
        for _ in range(3):
            train_step(model, optimizer, scaler, images, targets, torch.device("cpu"), None)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def _scored_boxes(document: dict) -> list:
    """A ground truth's records by image file stem and class name, ids aside."""
    stem = {image["id"]: Path(image["file_name"]).stem for image in document["images"]}
    name = {category["id"]: category["name"] for category in document["categories"]}
    return sorted(
        (stem[r["image_id"]], name[r["category_id"]], r["iscrowd"],
         *np.round([*r["bbox"], r["area"]], 9).tolist())
        for r in document["annotations"]
    )  # fmt: skip


def test_a_dataset_and_its_conversions_are_scored_against_one_ground_truth(tmp_path):
    """VOC, and its COCO and YOLO conversions: the same boxes in pixels, crowd (VOC
    difficult) boxes as ignore regions (YOLO cannot hold them: a conversion leaves them
    out), areas w·h; COCO keeps its own image ids."""
    from PIL import Image

    from noisybox.convert import convert
    from noisybox.formats import FORMATS, read_annotations
    from noisybox.training.ground_truth import ground_truth_document

    from .datasets import voc_with_images

    voc_folder, images = voc_with_images(tmp_path / "voc", files=3)
    text = (voc_folder / "000001.xml").read_text()
    (voc_folder / "000001.xml").write_text(text.replace("<difficult>0", "<difficult>1", 1))
    voc = read_annotations(voc_folder)
    assert voc.crowd.sum() == 1
    (tmp_path / "a.json").write_bytes(convert(voc, "coco").rendered)
    yolo_folder = tmp_path / "labels"
    yolo_folder.mkdir()
    for relative, data in convert(voc, "yolo").rendered.items():
        (yolo_folder / relative).write_bytes(data)
    documents = {}
    for annotations in (voc, read_annotations(tmp_path / "a.json"), read_annotations(yolo_folder)):
        sizes = annotations.image_size.copy()
        if annotations.units == "normalized":
            for row, name in enumerate(annotations.image_name):
                with Image.open(images / f"{Path(name).stem}.jpg") as image:
                    sizes[row] = image.size
        labels = {c: c + 1 for c in annotations.categories}  # identity classes of the run
        category_of = {label: label for label in labels.values()}
        categories = [{"id": c + 1, "name": n} for c, n in annotations.categories.items()]
        documents[annotations.format] = ground_truth_document(
            annotations, range(annotations.num_images), FORMATS[annotations.format]
            .image_ids(annotations), sizes, labels, category_of, categories,
        )  # fmt: skip
    assert _scored_boxes(documents["voc"]) == _scored_boxes(documents["coco"])
    uncrowded = [box for box in _scored_boxes(documents["voc"]) if not box[2]]
    assert _scored_boxes(documents["yolo"]) == uncrowded  # YOLO has no crowd mark
    assert [r["iscrowd"] for r in documents["voc"]["annotations"]].count(1) == 1
    assert [i["id"] for i in documents["coco"]["images"]] == [1, 2, 3]  # the file's own
    assert documents["voc"]["images"][1] == {"id": 2, "file_name": "000001.jpg",
                                             "width": 500.0, "height": 375.0}  # fmt: skip


def test_images_left_out_and_classes_not_in_the_run_are_not_scored():
    from noisybox.annotations import Annotations
    from noisybox.training.ground_truth import ground_truth_document

    val = Annotations(
        format="coco", path=Path("v.json"), units="pixels",
        boxes=np.array([[0, 0, 10, 10], [1, 1, 5, 5], [2, 2, 4, 8], [0, 0, 3, 3.0]]),
        image=np.array([0, 0, 1, 1]), category=np.array([4, 9, 4, 4]),
        key=np.zeros(4, np.uint64), crowd=np.zeros(4, bool),
        valid=np.array([True, True, True, False]), record=np.arange(4),
        image_size=np.array([[20.0, 20.0], [30.0, 40.0]]), image_name=["a.png", "b.png"],
        image_key=np.zeros(2, np.uint64), categories={4: "x", 9: "y"}, source=None,
    )  # fmt: skip
    document = ground_truth_document(val, [1], [7, 8], val.image_size, {4: 1}, {1: 40},
                                     [{"id": 40, "name": "x"}])  # fmt: skip
    assert document == {
        "images": [{"id": 8, "file_name": "b.png", "width": 30.0, "height": 40.0}],
        "annotations": [{"id": 1, "image_id": 8, "category_id": 40, "bbox": [2.0, 2.0, 2.0, 6.0],
                         "area": 12.0, "iscrowd": 0}],
        "categories": [{"id": 40, "name": "x"}],
    }  # fmt: skip


def test_invalid_annotation_records_stop_a_run_or_are_left_out_and_said(shapes, tmp_path):
    """``on_invalid``: "error" names the record before training; "skip" leaves it out of
    training and of the ground truth, and says so."""
    data = tmp_path / "data"
    shutil.copytree(shapes, data)
    val = data / "annotations" / "val.json"
    document = json.loads(val.read_text())
    document["annotations"][0]["bbox"][2] = -4  # a negative width
    val.write_text(json.dumps(document))
    with pytest.raises(NoisyboxError, match=r"val\.json: annotation id .*: box has zero or "):
        Trainer(toy_config(data, tmp_path / "error"))
    said = []
    trainer = Trainer(toy_config(data, tmp_path / "skip", on_invalid="skip"), log=said.append)
    assert any(line.startswith("note: 1 invalid validation annotation records left out, the "
                               f"first: {val}: annotation id ") for line in said)  # fmt: skip
    scored = trainer.ground_truth()["annotations"]
    assert len(scored) == len(document["annotations"]) - 1


def test_imagenet_weights_are_looked_up_by_backbone_and_fitted(tmp_path, monkeypatch):
    """Each backbone's file in torch's cache (the name torchvision downloads it under);
    MobileNet's classifier-free ``features.`` part; a file of another network refused."""
    import torchvision.models as tvm

    from noisybox.training.models import build_backbone, load_cached_imagenet_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    enums = {
        "resnet18": tvm.ResNet18_Weights,
        "resnet34": tvm.ResNet34_Weights,
        "resnet50": tvm.ResNet50_Weights,
        "mobilenet_v3": tvm.MobileNet_V3_Large_Weights,
    }
    for name, enum in enums.items():
        file = enum.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
        with pytest.raises(NoisyboxError) as raised:
            load_cached_imagenet_weights(None, name)
        assert str(raised.value).startswith(f"weights imagenet: {cache / file} is not in")
        assert raised.value.parameter == "weights"
    with pytest.raises(NoisyboxError, match="has no ImageNet weights for 'tiny'") as raised:
        load_cached_imagenet_weights(None, "tiny")
    assert raised.value.parameter == "weights"
    cache.mkdir(parents=True)
    torch.manual_seed(3)
    mobilenet = tvm.mobilenet_v3_large(weights=None).state_dict()
    file = cache / enums["mobilenet_v3"].IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    torch.save(mobilenet, file)
    backbone = build_backbone("mobilenet_v3")
    assert load_cached_imagenet_weights(backbone, "mobilenet_v3") == file
    body = backbone.body.state_dict()
    assert torch.equal(body["0.0.weight"], mobilenet["features.0.0.weight"])
    key = "13.block.3.1.running_var"  # the last layer the detection backbone keeps
    assert torch.equal(body[key], mobilenet[f"features.{key}"])
    wrong = cache / enums["resnet34"].IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    torch.save(tvm.resnet18(weights=None).state_dict(), wrong)  # resnet18's, not 34's
    with pytest.raises(NoisyboxError, match=r"does not fit the resnet34 backbone \(\d+ missing"):
        load_cached_imagenet_weights(build_backbone("resnet34"), "resnet34")


def test_retinanet_anchors_are_sized_to_the_input():
    """Three scales an octave apart (2^0, 2^⅓, 2^⅔) of a base 4·(stride-size)·(input/800)
    pixels, at least 8, and aspect ratios ½, 1, 2, on each of the five levels."""
    from noisybox.losses import build_loss
    from noisybox.training.models import build_detector

    detector = build_detector("retinanet", "tiny", 2, 128, build_loss("giou"))
    generator = detector.anchor_generator
    # 128 / 800 · 4 = 0.64: bases 32·0.64 = 20.48 → 20, 41, 82, 164, 328
    assert generator.sizes == (
        (20, 25, 32), (41, 52, 65), (82, 103, 130), (164, 207, 260), (328, 413, 521),
    )  # fmt: skip
    assert generator.aspect_ratios == ((0.5, 1.0, 2.0),) * 5
    small = build_detector("retinanet", "tiny", 2, 32, build_loss("giou")).anchor_generator
    assert [sizes[0] for sizes in small.sizes] == [8, 10, 20, 41, 82]  # at least 8
    large = build_detector("retinanet", "tiny", 2, 800, build_loss("giou")).anchor_generator
    assert [sizes[0] for sizes in large.sizes] == [128, 256, 512, 1024, 2048]


def test_a_batch_of_unequal_images_goes_to_the_device_image_by_image():
    """Images of different sizes cannot be stacked: collate keeps a list and Batch.to makes
    each a float image in [0, 1]; boxes and labels split back per image."""
    from noisybox.training.data import collate

    generator = torch.Generator().manual_seed(0)
    first = torch.randint(0, 256, (3, 8, 10), dtype=torch.uint8, generator=generator)
    second = torch.randint(0, 256, (3, 6, 6), dtype=torch.uint8, generator=generator)
    targets = [
        {"boxes": torch.tensor([[0.0, 0, 2, 2], [1, 1, 3, 3]]), "labels": torch.tensor([1, 2]),
         "image": 4, "scale": 1.0},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "image": 7,
         "scale": 0.5},
    ]  # fmt: skip
    batch = collate([(first, targets[0]), (second, targets[1])])
    assert isinstance(batch.images, list) and batch.counts == [2, 0] and batch.rows == [4, 7]
    images, on_device = batch.to(torch.device("cpu"))
    assert [image.dtype for image in images] == [torch.float32] * 2
    assert torch.equal(images[0], first.float() / 255) and torch.equal(images[1], second / 255)
    assert torch.equal(on_device[0]["boxes"], targets[0]["boxes"])
    assert on_device[1]["boxes"].shape == (0, 4) and on_device[1]["labels"].numel() == 0


def test_faster_rcnn_anchors_and_roi_pooling_are_sized_to_the_input():
    """RPN anchors of one size a level, 2·(stride-size)·(input/800) pixels and at least 8,
    ratios ½, 1, 2; RoIs pooled to 7×7 (2 samples a bin) from the FPN maps of strides 8–32."""
    from noisybox.losses import build_loss
    from noisybox.training.models import build_detector

    detector = build_detector("faster-rcnn", "tiny", 2, 128, build_loss("giou"))
    anchors = detector.rpn.anchor_generator
    assert anchors.sizes == ((10,), (20,), (41,), (82,), (164,))  # 32 · 0.16 · 2 = 10.24
    assert anchors.aspect_ratios == ((0.5, 1.0, 2.0),) * 5
    pool = detector.roi_heads.box_roi_pool
    assert pool.featmap_names == ["0", "1", "2"] and pool.output_size == (7, 7)
    assert pool.sampling_ratio == 2
    small = build_detector("faster-rcnn", "tiny", 2, 32, build_loss("giou")).rpn.anchor_generator
    assert small.sizes == ((8,), (8,), (10,), (20,), (41,))


def test_the_class_table_of_coco_splits_is_by_id_and_refuses_a_renamed_one(tmp_path):
    """Classes only one split has are kept (by id, in id order); a class both have must
    have the same name in both."""
    from noisybox.formats import read_annotations
    from noisybox.training.classes import class_table

    from .datasets import coco_document, write_coco

    train, val = coco_document(), coco_document()
    train["categories"] = [c for c in train["categories"] if c["id"] != 7]
    train["annotations"] = [a for a in train["annotations"] if a["category_id"] != 7]
    val["categories"] = [c for c in val["categories"] if c["id"] != 1]
    val["annotations"] = [a for a in val["annotations"] if a["category_id"] != 1]
    paths = write_coco(tmp_path / "t.json", train), write_coco(tmp_path / "v.json", val)
    table = class_table(*(read_annotations(p) for p in paths))
    assert table.names == ("cat", "dog", "car") and table.category_ids == (1, 3, 7)
    assert table.categories() == [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"},
                                  {"id": 7, "name": "car"}]  # fmt: skip
    assert table.train_labels == table.val_labels == {1: 1, 3: 2, 7: 3}
    val["categories"][0]["name"] = "wolf"  # id 3
    write_coco(paths[1], val)
    with pytest.raises(NoisyboxError) as raised:
        class_table(*(read_annotations(p) for p in paths))
    assert str(raised.value) == (
        f"category id 3 is 'dog' in {paths[0]} but 'wolf' in {paths[1]}: the splits must "
        "number their classes alike"
    )
