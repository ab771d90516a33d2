"""Localisation diagnostics, the α warm-up and the regime figure (the evidence issue)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.models.detection._utils import BoxLinearCoder
from torchvision.ops import box_iou

from noisybox.errors import NoisyboxError
from noisybox.evaluate import mean_matched_iou
from noisybox.losses import build_loss
from noisybox.report.plots import REGIME_FLOOR, regime_points
from noisybox.report.tables import METRICS
from noisybox.training.diagnostics import PositiveIoU, summarize_positive_iou
from noisybox.training.hooks import alpha_at
from noisybox.training.models import _decode, build_detector, regression_loss
from noisybox.training.trainer import TrainConfig, Trainer, data_from_folder

from .datasets import SHARED, pycocotools_eval, toy_config


def toy_run(shapes, out, **overrides) -> list[dict]:
    Trainer(toy_config(shapes, out, **overrides)).train()
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_alpha_rises_linearly_from_one():
    assert [alpha_at(step, 3.0, 4) for step in range(6)] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    assert alpha_at(0, 3.0, 0) == 3.0 and alpha_at(2, 0.5, 4) == 0.75


def test_warmup_zero_leaves_runs_as_they_were_and_a_warmup_changes_them(tmp_path, shapes):
    plain = toy_run(shapes, tmp_path / "plain", loss="alpha-iou")
    warmed = toy_run(shapes, tmp_path / "warm", loss="alpha-iou", alpha_warmup=4)
    assert [r["alpha"] for r in warmed] == [1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    assert [r["alpha_penalty"] for r in warmed] == [r["alpha"] for r in warmed]
    assert "alpha" not in plain[0]  # no warm-up: the loss is never touched
    assert plain[0]["loss"] != warmed[0]["loss"]  # α = 1 at the first step instead of 3
    # setting α every step to the value it has (iou: α = 1 throughout) changes nothing
    iou = toy_run(shapes, tmp_path / "iou", loss="iou")
    iou_warmed = toy_run(shapes, tmp_path / "iou-warm", loss="iou", alpha_warmup=4)
    assert [r["loss"] for r in iou] == [r["loss"] for r in iou_warmed]


def test_warmup_is_refused_where_it_cannot_apply(tmp_path, shapes):
    with pytest.raises(NoisyboxError, match="has no α"):
        toy_run(shapes, tmp_path / "a", loss="smooth-l1", alpha_warmup=3)
    with pytest.raises(NoisyboxError, match="compile_loss"):
        toy_run(shapes, tmp_path / "b", loss="alpha-iou", alpha_warmup=3, compile_loss=True)
    with pytest.raises(NoisyboxError, match=">= 0"):
        toy_run(shapes, tmp_path / "c", loss="alpha-iou", alpha_warmup=-1)


@pytest.mark.parametrize("loss", ["alpha-iou", "smooth-l1"])
def test_the_recorder_sees_the_decoded_boxes_iou(loss):
    """Reference: torchvision's box_iou on the decoded boxes, for IoU and coordinate losses."""
    coder = BoxLinearCoder(normalize_by_size=True)
    anchors = torch.tensor([[8.0, 8.0, 24.0, 24.0], [16.0, 10.0, 48.0, 30.0], [0, 0, 64, 64.0]])
    gt = torch.tensor([[6.0, 5.0, 20.0, 30.0], [10.0, 12.0, 40.0, 44.0], [1.0, 2.0, 50, 60]])
    regression = torch.randn(3, 4, generator=torch.Generator().manual_seed(0)) * 0.3
    recorder = PositiveIoU()
    box_loss = build_loss(loss, reduction="sum")
    regression_loss(box_loss, coder, regression, anchors, gt, recorder)
    assert recorder.take()["positives"].isnan()  # not armed: nothing recorded
    recorder.arm()
    regression_loss(box_loss, coder, regression, anchors, gt, recorder)
    expected = box_iou(_decode(coder, regression, anchors), gt).diagonal()
    found = recorder.take()
    assert found["positives"] == 3
    torch.testing.assert_close(found["positive_iou_p50"], expected.median(), atol=1e-6, rtol=0)
    quantiles = torch.quantile(expected, torch.tensor([0.1, 0.9]))
    torch.testing.assert_close(found["positive_iou_p10"], quantiles[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(found["positive_iou_p90"], quantiles[1], atol=1e-6, rtol=0)
    assert not recorder.armed


@pytest.mark.parametrize("model", ["fcos", "retinanet", "faster-rcnn"])
def test_every_detector_reports_its_training_positives(model):
    torch.manual_seed(0)
    detector = build_detector(model, "tiny", 3, 64, build_loss("iou", reduction="sum"))
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    targets = [
        {"boxes": torch.tensor([[4.0, 6.0, 40.0, 50.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.tensor([[10.0, 10.0, 30.0, 20.0]]), "labels": torch.tensor([2])},
    ]
    detector.train()
    detector(images, targets)
    assert detector.positive_iou.take()["positives"].isnan()
    detector.positive_iou.arm()
    detector(images, targets)
    found = detector.positive_iou.take()
    assert found["positives"] > 0
    assert 0 <= found["positive_iou_p10"] <= found["positive_iou_p50"] <= 1
    assert found["positive_iou_p50"] <= found["positive_iou_p90"] <= 1


def test_logged_steps_carry_the_positives_and_the_summary_averages_the_last_five(tmp_path, shapes):
    logged = toy_run(shapes, tmp_path / "run", max_steps=8, log_every=1)
    assert all(0 <= r["positive_iou_p50"] <= 1 and r["positives"] > 0 for r in logged)
    summary = summarize_positive_iou(logged)
    assert summary["steps"] == 5
    assert summary["p50"] == pytest.approx(np.mean([r["positive_iou_p50"] for r in logged[-5:]]))
    assert summarize_positive_iou([{"step": 1, "loss": 1.0}]) is None
    assert summarize_positive_iou([{"positive_iou_p50": math.nan}]) is None


def _random_coco(rng, images=20, classes=3):
    truths, found = [], []
    for image in range(1, images + 1):
        for _ in range(rng.integers(0, 6)):
            x, y = rng.uniform(0, 80, 2)
            w, h = rng.uniform(4, 40, 2)
            truths.append(
                {
                    "id": len(truths) + 1,
                    "image_id": image,
                    "category_id": int(rng.integers(1, classes + 1)),
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": int(rng.random() < 0.1),
                }
            )
    for truth in truths:  # detections near the boxes, with duplicates, and some clutter
        for _ in range(rng.integers(0, 3)):
            x, y, w, h = truth["bbox"]
            jitter = rng.normal(0, 0.1, 4) * [w, h, w, h]
            found.append(
                {
                    "image_id": truth["image_id"],
                    "category_id": truth["category_id"]
                    if rng.random() < 0.85
                    else int(rng.integers(1, classes + 1)),
                    "bbox": [x + jitter[0], y + jitter[1], abs(w + jitter[2]), abs(h + jitter[3])],
                    "score": float(rng.random()),
                }
            )
    for _ in range(15):
        found.append(
            {
                "image_id": int(rng.integers(1, images + 1)),
                "category_id": int(rng.integers(1, classes + 1)),
                "bbox": [*rng.uniform(0, 80, 2), *rng.uniform(4, 40, 2)],
                "score": float(rng.random()),
            }
        )
    document = {
        "images": [{"id": i, "width": 128, "height": 128} for i in range(1, images + 1)],
        "annotations": truths,
        "categories": [{"id": c, "name": str(c)} for c in range(1, classes + 1)],
    }
    return document, found


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matched_iou_equals_pycocotools_matching(seed):
    """Reference: COCOeval's own matches (``dtMatches`` at IoU 0.5) and IoUs."""
    document, found = _random_coco(np.random.default_rng(seed))
    evaluator = pycocotools_eval(document, found)
    by_id = {a["id"]: a for a in document["annotations"]}
    expected = []
    for result in evaluator.evalImgs:
        if result is None or result["aRng"] != [0, 1e10]:
            continue
        ious = evaluator.ious[(result["image_id"], result["category_id"])]
        truths = [by_id[i] for i in result["gtIds"]]  # ious' columns: in the file's order
        columns = {t["id"]: j for j, t in enumerate(sorted(truths, key=lambda t: t["id"]))}
        for row, gt_id in enumerate(result["dtMatches"][0]):
            if gt_id and not by_id[int(gt_id)]["iscrowd"]:
                expected.append(ious[row, columns[int(gt_id)]])
    assert len(expected) > 20
    assert mean_matched_iou(document, found) == pytest.approx(np.mean(expected), abs=1e-12)
    assert mean_matched_iou(document, []) is None


def test_regime_points_pair_each_alpha_run_with_its_baseline():
    def row(loss, eta, seed, m_ap, ap75, ap50, p50):
        metrics = dict.fromkeys(METRICS, 10.0) | {"mAP": m_ap, "AP75": ap75, "AP50": ap50}
        metrics["mAP75:95"] = m_ap / 2
        return {
            "fraction": 1.0,
            "eta": eta,
            "seed": seed,
            "loss": loss,
            **metrics,
            "positive_iou_p50": p50,
        }

    frame = pd.DataFrame(
        [
            row("iou", 0.0, 0, 40.0, 30.0, 60.0, 0.5),
            row("alpha-iou", 0.0, 0, 44.0, 35.0, 61.0, 0.6),
            row("iou", 0.3, 0, 0.5, 0.1, 2.0, 0.3),  # below the floor: left out
            row("alpha-iou", 0.3, 0, 0.4, 0.1, 2.0, 0.3),
            row("alpha-iou", 0.0, 1, 20.0, 10.0, 30.0, 0.4),  # no iou run of seed 1
        ]
    )
    points = regime_points(frame)
    assert REGIME_FLOOR == 1.0 and len(points) == 1
    point = points.iloc[0]
    assert point["loss"] == "alpha-iou" and point["baseline"] == "iou"
    assert point["mAP"] == pytest.approx(10.0) and point["mAP75:95"] == pytest.approx(10.0)
    assert point["positive_iou_p50"] == 0.5 and point["ap75_over_ap50"] == 0.5


def test_data_folder_of_images_annotations_and_split_lists(tmp_path):
    for name in ("images", "annotations", "splits"):
        (tmp_path / name).mkdir()
    (tmp_path / "splits" / "train.txt").write_text("a\n")
    (tmp_path / "splits" / "val.txt").write_text("b\n")
    paths = data_from_folder(tmp_path)
    assert paths["train_annotations"] == paths["val_annotations"] == str(tmp_path / "annotations")
    assert paths["train_split"].endswith("splits/train.txt")
    assert paths["val_split"].endswith("splits/val.txt")


@pytest.mark.skipif(not (SHARED / "neu-det").is_dir(), reason="../shared/datasets/neu-det absent")
def test_neu_det_layout_reads_as_its_split_lists_say():
    from noisybox.formats import read_annotations

    paths = data_from_folder(SHARED / "neu-det")
    train = read_annotations(paths["train_annotations"], split=paths["train_split"])
    val = read_annotations(paths["val_annotations"], split=paths["val_split"])
    assert (train.num_images, val.num_images) == (1440, 360)
    assert set(train.categories.values()) == set(val.categories.values())
    assert len(train.categories) == 6


def test_a_run_that_barely_learned_says_so(tmp_path, shapes):
    from noisybox.training.trainer import NEAR_ZERO_MAP, train_and_evaluate

    lines = []
    config = TrainConfig(
        **data_from_folder(shapes),
        device="cpu",
        image_size=64,
        batch_size=4,
        max_steps=1,
        out=str(tmp_path / "run"),
    )
    result = train_and_evaluate(config, log=lines.append)
    assert result["metrics"]["mAP"] < NEAR_ZERO_MAP  # one step learns nothing
    assert any("barely learned" in w for w in result["warnings"])
    assert any(line.startswith("warning:") and "barely learned" in line for line in lines)
    saved = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert saved["warnings"] == result["warnings"]
    assert 0 <= (saved["matched_iou"] or 0) <= 1 and saved["ignored_boxes"]["training"] == 0


def test_matched_iou_counts_a_match_at_exactly_the_threshold_and_a_missing_iscrowd_as_0():
    """COCO's rule is ``IoU >= threshold``; ``iscrowd`` is optional and 0 by default."""
    document = {
        "images": [{"id": 1}],
        "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}],
        "categories": [{"id": 1}],
    }
    half = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 5], "score": 0.9}]
    assert mean_matched_iou(document, half) == 0.5
    assert mean_matched_iou(document, half, threshold=0.51) is None
