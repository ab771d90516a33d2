"""Evaluation against pycocotools itself, including the traps it sets."""

import contextlib
import copy
import io
import json
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from noisybox.cli import main
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from noisybox.errors import NoisyboxError
from noisybox.evaluate import evaluate_detections

from .datasets import coco_document

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-3, 10**400) | st.floats() | st.text(max_size=2)
)


def jittered_detections(document, seed=0, copies=2, sigma=0.08):
    rng = np.random.default_rng(seed)
    detections = []
    for record in document["annotations"]:
        for _ in range(copies):
            x, y, w, h = record["bbox"]
            jitter = rng.normal(0, sigma, 4) * [w, h, w, h]
            category = record["category_id"] if rng.random() > 0.1 else 3
            box = [x + jitter[0], y + jitter[1], max(1.0, w + jitter[2]), max(1.0, h + jitter[3])]
            detections.append(
                {
                    "image_id": record["image_id"],
                    "category_id": category,
                    "bbox": box,
                    "score": float(rng.random()),
                }
            )
    return detections


def reference(document, detections):
    """Plain pycocotools, the way its README runs it."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(document)
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(detections)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


@pytest.fixture(scope="module")
def case():
    document = coco_document(images=60, boxes_per_image=5, seed=1)
    return document, jittered_detections(document)


def test_matches_pycocotools_summary(case):
    document, detections = case
    ours = evaluate_detections(document, detections, backend="pycocotools").metrics
    stats = reference(document, detections).stats * 100
    expected = {"mAP": 0, "AP50": 1, "AP75": 2, "APs": 3, "APm": 4, "APl": 5, "AR100": 8}
    for name, index in expected.items():
        assert ours[name] == pytest.approx(stats[index], abs=1e-9), name


def test_backends_agree(case):
    document, detections = case
    faster = evaluate_detections(document, detections, backend="faster")
    reference_backend = evaluate_detections(document, detections, backend="pycocotools")
    for name, value in reference_backend.metrics.items():
        assert faster.metrics[name] == pytest.approx(value, abs=1e-9), name
    assert faster.matches == reference_backend.matches


def test_every_threshold_by_index_not_by_value(case):
    """pycocotools looks thresholds up by value: its iouThrs hold 0.8999..., not 0.9, so
    asking its summary for iouThr=0.9 finds nothing (and returns -1)."""
    document, detections = case
    evaluator = reference(document, detections)
    assert not np.any(evaluator.params.iouThrs == 0.9)  # the trap exists
    ours = evaluate_detections(document, detections).metrics
    precision = evaluator.eval["precision"]
    for index, name in enumerate(f"AP{t}" for t in range(50, 100, 5)):
        values = precision[index, :, :, 0, -1]
        assert ours[name] == pytest.approx(values[values > -1].mean() * 100, abs=1e-9), name
    assert ours["mAP75:95"] == pytest.approx(np.mean([ours[f"AP{t}"] for t in range(75, 100, 5)]))
    assert ours["AP90"] > 0


def test_ground_truth_id_zero_still_matches():
    document = coco_document(images=1, boxes_per_image=2)
    document["annotations"][0]["id"] = 0
    document["annotations"][1]["iscrowd"] = 0
    perfect = [
        dict(image_id=a["image_id"], category_id=a["category_id"], bbox=a["bbox"], score=0.9)
        for a in document["annotations"]
    ]
    assert reference(document, perfect).stats[1] < 1.0  # pycocotools misses the id-0 box
    result = evaluate_detections(document, perfect)
    assert result.metrics["AP50"] == 100.0 and result.metrics["mAP"] == 100.0
    assert result.matches["IoU>=0.9"] == 2


def test_empty_detections_give_zeros_with_a_warning(case):
    document, _ = case
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(IndexError):
        gt = COCO()  # the trap: pycocotools cannot load an empty result list
        gt.dataset = copy.deepcopy(document)
        gt.createIndex()
        gt.loadRes([])
    result = evaluate_detections(document, [])
    assert set(result.metrics.values()) == {0.0} and set(result.matches.values()) == {0}
    assert "no detections" in result.warnings[0]


def test_detections_outside_the_ground_truth_are_dropped_with_warnings(case):
    document, detections = case
    extra = [dict(detections[0], image_id=424242), dict(detections[0], category_id=999)]
    result = evaluate_detections(document, detections + extra)
    assert result.metrics == evaluate_detections(document, detections).metrics
    assert result.warnings == [
        "1 detections on images absent from the ground truth ignored",
        "1 detections on classes absent from the ground truth ignored",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 1.0},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, float("nan")], "score": 1.0},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": float("nan")},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": [0.5]},
        ["not", "a", "record"],
    ],
)
def test_malformed_detections_are_named(case, bad):
    document, detections = case
    message = (r"^detections\[5\]: needs image_id, category_id, bbox \[x, y, w, h\] and a "
               r"finite score$")  # fmt: skip
    with pytest.raises(NoisyboxError, match=message):
        evaluate_detections(document, [*detections[:5], bad, *detections[5:]])
    with pytest.raises(NoisyboxError, match=r"^detections: a COCO results file is a JSON list"):
        evaluate_detections(document, {"annotations": detections})


def test_figure2_counts_each_threshold():
    document = {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {"id": i + 1, "image_id": 1, "category_id": 1, "bbox": [x, 0, 10, 10], "iscrowd": 0}
            for i, x in enumerate((0, 30, 60))
        ],
    }
    # horizontal shifts giving IoU 0.95, 0.75 and 0.55 with their boxes
    shifts = [10 * (1 - iou) / (1 + iou) for iou in (0.95, 0.75, 0.55)]
    detections = [
        {"image_id": 1, "category_id": 1, "bbox": [x + s, 0, 10, 10], "score": 0.9 - 0.1 * i}
        for i, (x, s) in enumerate(zip((0, 30, 60), shifts, strict=True))
    ]
    result = evaluate_detections(document, detections)
    assert result.matches == {
        "IoU>=0.5": 3,
        "IoU>=0.6": 2,
        "IoU>=0.7": 2,
        "IoU>=0.8": 1,
        "IoU>=0.9": 1,
    }
    assert result.metrics["AP50"] == pytest.approx(100.0)
    # at 0.95 only the best box matches: precision 1 up to recall 1/3, 34 of 101 recall points
    assert result.metrics["AP95"] == pytest.approx(100 * 34 / 101)


def test_sizes_follow_the_ground_truth_area_field():
    document = {
        "images": [{"id": 1, "width": 500, "height": 500}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 200, 200],
                "area": 100.0,
                "iscrowd": 0,
            }
        ],
    }
    detections = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 200, 200], "score": 1.0}]
    metrics = evaluate_detections(document, detections).metrics
    assert metrics["APs"] == 100.0 and metrics["APl"] is None  # area 100 px² is "small"


def test_eval_command(tmp_path, case, capsys):
    document, detections = case
    (tmp_path / "gt.json").write_text(json.dumps(document))
    (tmp_path / "dt.json").write_text(json.dumps(detections))
    args = ["eval", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json")]
    assert main([*args, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["metrics"] == pytest.approx(evaluate_detections(document, detections).metrics)
    assert main(args) == 0
    assert "mAP75:95" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text('{"not": "a list"}')
    assert (
        main(["eval", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "bad.json")]) == 2
    )
    assert "a COCO results file is a JSON list" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [0, 1])
def test_per_class_metrics_are_pycocotools_per_class_slices(seed, capsys):
    """Reference: pycocotools' own precision/recall arrays, sliced per class."""
    from noisybox.cli import main

    from .datasets import pycocotools_eval
    from .test_diagnostics import _random_coco

    truth, found = _random_coco(np.random.default_rng(seed))
    reference = pycocotools_eval(truth, found, summarize=True)
    precision, recall = reference.eval["precision"], reference.eval["recall"]
    for backend in ("faster", "pycocotools"):
        per_class = evaluate_detections(truth, found, backend).per_class
        for k, category in enumerate(reference.params.catIds):
            row = per_class[str(category)]
            slices = precision[:, :, k, 0, -1]
            ap = [s[s > -1].mean() * 100 for s in slices if (s > -1).any()]
            assert row["AP"] == pytest.approx(np.mean(ap))
            assert row["AP50"] == pytest.approx(ap[0]) and row["AP75"] == pytest.approx(ap[5])
            kept = recall[:, k, 0, -1]
            assert row["AR100"] == pytest.approx(kept[kept > -1].mean() * 100)
    import json

    from .datasets import write_coco

    def run(tmp):
        write_coco(tmp / "gt.json", truth)
        (tmp / "dt.json").write_text(json.dumps(found))
        return main(["eval", "--gt", str(tmp / "gt.json"), "--dt", str(tmp / "dt.json"),
                     "--per-class"])  # fmt: skip

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        assert run(Path(folder)) == 0
    assert "per class (%)" in capsys.readouterr().out


def test_pr_curves_are_pycocotools_precision_slices(case):
    """Reference: pycocotools' precision array at IoU 0.5 and 0.75, class by class."""
    document, detections = case
    precision = reference(document, detections).eval["precision"]
    for backend in ("faster", "pycocotools"):
        curves = evaluate_detections(document, detections, backend, curves=True).pr_curves
        for k, category in enumerate(sorted(c["id"] for c in document["categories"])):
            for name, t in (("AP50", 0), ("AP75", 5)):
                assert curves[str(category)][name] == pytest.approx(precision[t, :, k, 0, -1])
    assert evaluate_detections(document, detections).pr_curves == {}


def _gt(boxes, crowd=()):
    """One 100x100 image; ``boxes`` [(category, [x, y, w, h])], ``crowd`` the same."""
    records = [(c, b, 0) for c, b in boxes] + [(c, b, 1) for c, b in crowd]
    return {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": c,
                "bbox": b,
                "iscrowd": k,
                "area": b[2] * b[3],
            }
            for i, (c, b, k) in enumerate(records)
        ],
    }


def test_confusion_matrix_counts_by_hand():
    """Worked by hand: a right detection, a wrong class, a duplicate, one far from anything,
    one below the score threshold, one on a crowd region, and a missed box."""
    from noisybox.confusion import confusion_matrix

    truth = _gt(
        [(1, [0, 0, 20, 20]), (2, [40, 40, 20, 20]), (1, [70, 0, 20, 20])],
        crowd=[(2, [0, 70, 30, 30])],
    )

    def det(category, bbox, score):
        return {"image_id": 1, "category_id": category, "bbox": bbox, "score": score}

    found = [
        det(1, [1, 1, 20, 20], 0.9),  # a on a: right
        det(1, [40, 41, 20, 20], 0.8),  # a on b: wrong class
        det(1, [0, 0, 19, 19], 0.7),  # a again on a, already taken: false alarm
        det(2, [50, 80, 5, 5], 0.6),  # b on nothing (beside the crowd region): false alarm
        det(2, [0, 70, 30, 29], 0.6),  # b on the crowd region: counts for nothing
        det(2, [45, 5, 10, 10], 0.5),  # b on nothing: false alarm
        det(1, [70, 0, 20, 20], 0.1),  # below the score threshold: ignored, so a is missed
    ]
    counts = confusion_matrix(truth, found, iou=0.5, score=0.25).counts
    # rows: predicted a, b, background (missed); columns: true a, b, background (false alarm)
    expected = np.array([[1, 1, 1], [0, 0, 2], [1, 0, 0]])
    np.testing.assert_array_equal(counts, expected)
    assert counts[:, :2].sum() == 3  # every non-crowd box counted once
    lower = confusion_matrix(truth, found, iou=0.5, score=0.05).counts
    assert lower[0, 0] == 2 and lower[2, 0] == 0  # the third box is found at score 0.1


def test_eval_plots_draws_the_curves_and_the_matrix(tmp_path, case, capsys):
    """``eval --plots DIR`` writes both figures as PNG and SVG; an existing figure is
    replaced only with --overwrite (refused in one line, nothing written)."""
    document, detections = case
    (tmp_path / "gt.json").write_text(json.dumps(document))
    (tmp_path / "dt.json").write_text(json.dumps(detections))
    args = ["eval", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json")]
    assert main([*args, "--plots", str(tmp_path / "plots")]) == 0
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == [
        "confusion_matrix.png", "confusion_matrix.svg", "pr_curves.png", "pr_curves.svg"
    ]  # fmt: skip
    assert all((tmp_path / "plots" / n).stat().st_size > 1000 for n in names)
    before = (tmp_path / "plots" / "pr_curves.png").read_bytes()
    capsys.readouterr()
    assert main([*args, "--plots", str(tmp_path / "plots")]) == 2
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "plots" / "pr_curves.png").read_bytes() == before
    assert main([*args, "--plots", str(tmp_path / "plots"), "--overwrite"]) == 0


def test_confusion_matrix_thresholds_order_and_names():
    """Boundaries are inclusive (IoU exactly at --iou matches, a score exactly at --score
    counts); the highest IoU is matched first (a detection on two boxes takes the closer,
    leaving the other to its own detection); the matrix names its classes; a threshold out
    of range is refused naming its parameter."""
    from noisybox.confusion import confusion_matrix

    truth = _gt([(1, [0, 0, 10, 10]), (2, [5, 0, 10, 10])])

    def det(category, bbox, score):
        return {"image_id": 1, "category_id": category, "bbox": bbox, "score": score}

    # IoU with [0,0,10,10]: exactly 1/3 (overlap 5x10 = 50, union 150)
    exact = [det(2, [5, 0, 10, 10], 0.25), det(1, [0, 0, 10, 10], 0.9)]
    matrix = confusion_matrix(truth, exact, iou=1 / 3, score=0.25)
    assert matrix.classes == [1, 2] and matrix.names == ["a", "b"]
    np.testing.assert_array_equal(matrix.counts, [[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    # det1 (a) on a's box (IoU 0.9) and b's (0.5); det2 (a) on a's box only (0.6). Highest
    # IoU first: det1 takes a's box, det2 finds nothing left (a false alarm), b's box is
    # missed. (Lowest first would pair det1 with b and det2 with a.)
    truth = _gt([(1, [0, 0, 10, 10]), (2, [0, 0, 10, 4.5])])
    crossing = [det(1, [0, 0, 10, 9], 0.9), det(1, [0, 4, 10, 6], 0.8)]
    counts = confusion_matrix(truth, crossing, iou=0.4, score=0.5).counts
    np.testing.assert_array_equal(counts, [[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    for bad, name in (({"iou": 0.0}, "iou"), ({"iou": 1.01}, "iou"), ({"score": -0.1}, "score"),
                      ({"score": 1.5}, "score")):  # fmt: skip
        with pytest.raises(NoisyboxError, match=f"^{name} must be in") as error:
            confusion_matrix(truth, exact, **bad)
        assert error.value.parameter == name
    assert confusion_matrix(truth, exact, iou=1.0, score=0.0).counts[0, 0] == 1


def test_confusion_matrix_on_images_without_boxes_or_detections():
    """An image with detections but no ground truth gives false alarms, one with ground
    truth but no detections gives missed boxes; a record without ``iscrowd`` is not crowd;
    a category without a name is named by its id; a score of exactly 1 is allowed."""
    from noisybox.confusion import confusion_matrix

    truth = {
        "images": [{"id": 1}, {"id": 2}, {"id": 3}],
        "categories": [{"id": 1, "name": "a"}, {"id": 7}],
        "annotations": [
            {"id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10]},
            {"id": 2, "image_id": 2, "category_id": 7, "bbox": [20, 20, 10, 10]},
        ],
    }
    found = [
        {"image_id": 1, "category_id": 7, "bbox": [0, 0, 10, 10], "score": 0.9},
        {"image_id": 3, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 1.0},
    ]
    matrix = confusion_matrix(truth, found, score=1.0)
    assert matrix.names == ["a", "7"]
    # only the score-1 detection counts: a false alarm of a; both of image 2's boxes missed
    np.testing.assert_array_equal(matrix.counts, [[0, 0, 1], [0, 0, 0], [1, 1, 0]])
    counts = confusion_matrix(truth, found).counts
    np.testing.assert_array_equal(counts, [[0, 0, 1], [0, 0, 1], [1, 1, 0]])


def _with_record(change: dict | None = None, drop: str | None = None, replace=None) -> dict:
    """A small valid ground truth whose second annotation is changed."""
    document = coco_document(images=3, boxes_per_image=2, seed=5)
    record = document["annotations"][1]
    if replace is not None:
        document["annotations"][1] = replace
        return document
    record.update(change or {})
    if drop:
        del record[drop]
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_with_record(replace=[1, 2]), "annotations[1]: not an object"),
        (_with_record({"bbox": [1, 2, 3]}), "annotations[1]: bbox must be [x, y, w, h]"),
        (_with_record({"bbox": [1, 2, 3, float("nan")]}), "bbox must be [x, y, w, h]"),
        (_with_record({"bbox": [1, 2, True, 4]}), "bbox must be [x, y, w, h]"),
        (_with_record({"bbox": "1 2 3 4"}), "bbox must be [x, y, w, h]"),
        (_with_record({"bbox": [1, 2, -3, 4]}), "annotations[1]: bbox has a negative width"),
        (_with_record({"bbox": [1, 2, 3, -4]}), "bbox has a negative width or height"),
        (_with_record({"image_id": 999}), "annotations[1]: image_id 999 is not an image"),
        (_with_record({"image_id": True}), "image_id True is not an image of the file"),
        (_with_record(drop="image_id"), "image_id None is not an image of the file"),
        (_with_record({"category_id": 2}), "category_id 2 is not a category of the file"),
        (_with_record({"category_id": [1]}), "category_id [1] is not a category"),
        (_with_record({"iscrowd": 2}), "iscrowd must be 0 or 1; got 2"),
        (_with_record({"iscrowd": True}), "iscrowd must be 0 or 1; got True"),
        (_with_record({"iscrowd": 1.0}), "iscrowd must be 0 or 1; got 1.0"),
        (_with_record({"area": -1}), "area must be a finite number >= 0; got -1"),
        (_with_record({"area": "big"}), "area must be a finite number >= 0; got 'big'"),
        (_with_record({"area": float("inf")}), "area must be a finite number >= 0; got inf"),
        ({"images": [], "categories": []}, "not a COCO detection file"),
        ({"annotations": {}, "images": []}, "not a COCO detection file"),
        ({"annotations": [], "images": {}}, "images and categories must be lists"),
        ({"annotations": [], "images": [], "categories": "x"}, "images and categories"),
        ({"annotations": [], "images": [{"id": 1.5}]}, "images[0]: needs an integer or text"),
        ({"annotations": [], "images": [{"id": 1}, {"id": 1}]}, "images[1]: duplicate id 1"),
        ({"annotations": [], "images": [], "categories": [{"id": 4}, {"id": 4}]},
         "categories[1]: duplicate id 4"),
        ({"annotations": [], "images": [], "categories": [{"name": "x"}]},
         "categories[0]: needs an integer or text id"),
    ],
)  # fmt: skip
def test_each_bad_ground_truth_is_refused_naming_the_record(document, message):
    """One line naming the record and what is wrong with it; the fast whole-file check
    never lets one through."""
    detections = [{"image_id": 100, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}]
    with pytest.raises(NoisyboxError, match=r"^ground truth: .*" + re.escape(message)):
        evaluate_detections(document, detections)


def test_a_ground_truth_with_every_optional_field_left_out_is_accepted():
    """``area`` and ``iscrowd`` are optional (COCO's defaults: w·h and 0); integer boxes."""
    document = coco_document(images=3, boxes_per_image=2, seed=5)
    for record in document["annotations"]:
        del record["area"], record["iscrowd"]
        record["bbox"] = [int(v) for v in record["bbox"]]
    detections = [dict(r, score=0.9) for r in document["annotations"]]
    result = evaluate_detections(document, detections)
    assert result.metrics["mAP"] == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("image_id", True), ("image_id", 100.0), ("category_id", [1]), ("category_id", None)],
)
def test_a_detection_with_an_id_of_the_wrong_type_is_named(field, value):
    document = coco_document(images=3, boxes_per_image=2, seed=5)
    good = {"image_id": 100, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}
    detections = [good, good, dict(good, **{field: value})]
    with pytest.raises(NoisyboxError, match=r"^detections\[2\]: "):
        evaluate_detections(document, detections)


def test_size_ranges_without_ground_truth_are_not_applicable():
    """COCO's ranges include both ends: a 32 × 32 box is small and medium; with only
    small boxes the large range is n/a (None), not 0."""
    document = coco_document(images=2, boxes_per_image=2, seed=5)
    for record in document["annotations"]:
        record["bbox"] = [10, 10, 32, 32]
        record["area"] = 32.0 * 32.0
    detections = [dict(r, score=0.9) for r in document["annotations"]]
    metrics = evaluate_detections(document, detections).metrics
    assert metrics["APl"] is None and metrics["APs"] == pytest.approx(100.0)
    assert metrics["APm"] == pytest.approx(100.0)
    for record in document["annotations"]:
        record["area"] = 96.0**2 + 1
    metrics = evaluate_detections(document, detections).metrics
    assert metrics["APs"] is None and metrics["APm"] is None
    assert metrics["APl"] == pytest.approx(100.0)


def test_an_unknown_backend_is_named():
    document = coco_document(images=2, boxes_per_image=2, seed=5)
    detections = [dict(r, score=0.9) for r in document["annotations"]]
    with pytest.raises(NoisyboxError, match="backend must be one of faster, pycocotools") as raised:
        evaluate_detections(document, detections, backend="detectron2")
    assert raised.value.parameter == "backend"
    both = [evaluate_detections(document, detections, backend=b).metrics
            for b in ("faster", "pycocotools")]  # fmt: skip
    assert both[0] == both[1]


def test_coco_box_iou_is_pycocotools_bbiou_bit_for_bit():
    """Reference: pycocotools' ``mask.iou`` on boxes (maskApi.c ``bbIou``), crowd and not,
    with touching, nested, disjoint and zero-area boxes."""
    from pycocotools import mask as mask_utils

    from noisybox.evaluate import coco_box_iou

    rng = np.random.default_rng(3)
    detections = np.round(rng.uniform(0, 50, (300, 4)), 1)
    truths = np.round(rng.uniform(0, 50, (40, 4)), 1)
    truths[:5, 2] = 0.0  # zero width
    truths[35:, 3] = 0.0  # zero height
    detections[:5] = truths[5:10]  # identical
    detections[10:13], detections[13:16] = truths[:3], truths[35:38]  # identical, no area
    detections[5:10, 0] = truths[10:15, 0] + truths[10:15, 2]  # touching on the right
    crowd = rng.random(40) < 0.3
    expected = mask_utils.iou(detections.tolist(), truths.tolist(), crowd.astype(np.uint8).tolist())
    rows, columns = np.meshgrid(np.arange(300), np.arange(40), indexing="ij")
    found = coco_box_iou(detections[rows.ravel()], truths[columns.ravel()], crowd[columns.ravel()])
    assert np.array_equal(found.reshape(300, 40), expected)


def test_the_iou_matrices_are_faster_coco_eval_s_own(case):
    """Reference: faster-coco-eval's ``computeIoU`` for every (image, class) pair, with
    crowd boxes, tied scores and a pair of more than 100 detections."""
    from faster_coco_eval import COCO, COCOeval_faster

    from noisybox.evaluate import _ious_by_pair, _prepare_detections, _prepare_ground_truth

    document, detections = copy.deepcopy(case)
    document["annotations"][0]["iscrowd"] = 1
    first = document["annotations"][2]
    detections += [dict(image_id=first["image_id"], category_id=first["category_id"],
                        bbox=[v + i % 7 for v in first["bbox"]], score=round(i / 300, 1))
                   for i in range(150)]  # fmt: skip
    gt_document, image_ids = _prepare_ground_truth(document)
    categories = {c["id"] for c in gt_document["categories"]}
    kept = _prepare_detections(detections, image_ids, categories, [])
    found = _ious_by_pair(gt_document, kept)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_document
        gt.createIndex()
        evaluator = COCOeval_faster(gt, gt.loadRes(kept), iouType="bbox")
        evaluator.params.imgIds = sorted(evaluator.params.imgIds)
        evaluator._prepare()
    compared = 0
    for image_id in image_ids:
        for category_id in categories:
            expected = evaluator.computeIoU(image_id, category_id)
            mine = found.get((image_id, category_id), [])
            if len(expected) == 0:
                assert len(mine) == 0
                continue
            assert np.array_equal(mine, expected), (image_id, category_id)
            compared += 1
    assert compared > 100 and max(len(m) for m in found.values()) == 100


def test_text_ids_evaluate_as_their_integer_twins(case):
    """COCO allows text ids; faster-coco-eval reads ids as integers, so they are numbered
    for it: the metrics are those of the same data with integer ids, per class under the
    text ids, on both backends."""
    document, detections = copy.deepcopy(case)
    texts = copy.deepcopy(case)
    name = {1: "cat", 3: "dog", 7: "car"}
    for record in texts[0]["images"]:
        record["id"] = f"im-{record['id']}"
    for record in texts[0]["categories"]:
        record["id"] = name[record["id"]]
    for record in [*texts[0]["annotations"], *texts[1]]:
        record["image_id"] = f"im-{record['image_id']}"
        record["category_id"] = name[record["category_id"]]
    for backend in ("faster", "pycocotools"):
        plain = evaluate_detections(document, detections, backend=backend)
        text = evaluate_detections(*texts, backend=backend)
        assert text.metrics == pytest.approx(plain.metrics)  # classes averaged in another order
        assert text.matches == plain.matches
        assert {name[int(k)]: v for k, v in plain.per_class.items()} == text.per_class
    assert texts[0]["images"][0]["id"] == "im-100"  # the caller's document is untouched


def test_many_detections_an_image_are_scored_up_to_100_as_pycocotools_does():
    """Reference: pycocotools' summary with 30 detections an image (maxDets 100, not 10)."""
    document = coco_document(images=20, boxes_per_image=5, seed=2)
    detections = jittered_detections(document, seed=4, copies=6, sigma=0.15)
    stats = reference(document, detections).stats * 100
    for backend in ("faster", "pycocotools"):
        ours = evaluate_detections(document, detections, backend=backend).metrics
        assert ours["mAP"] == pytest.approx(stats[0], abs=1e-9)
        assert ours["AR100"] == pytest.approx(stats[8], abs=1e-9)
        assert ours["AR100"] != pytest.approx(stats[7], abs=1e-3)  # AR10 differs here


def test_the_empty_results_name_every_metric_and_why():
    document = coco_document(images=3, boxes_per_image=2, seed=5)
    result = evaluate_detections(document, [], backend="pycocotools")
    names = [f"AP{t}" for t in range(50, 100, 5)] + ["mAP", "mAP75:95", "APs", "APm", "APl",
                                                     "AR100"]  # fmt: skip
    assert sorted(result.metrics) == sorted(names) and result.backend == "pycocotools"
    assert result.warnings == ["no detections to evaluate: every metric is 0"]
    for record in document["annotations"]:
        record["iscrowd"] = 1
    detections = [dict(r, score=0.5) for r in document["annotations"]]
    result = evaluate_detections(document, detections)
    assert result.warnings == ["the ground truth has no (non-crowd) boxes: every metric is 0"]
    assert set(result.metrics.values()) <= {0.0, None} and result.metrics["APl"] is None


def test_per_class_results_carry_each_class_s_name_or_id():
    document = coco_document(images=4, boxes_per_image=3, seed=5)
    del document["categories"][1]["name"]  # class 3 has no name: its id stands in
    detections = [dict(r, score=0.5) for r in document["annotations"]]
    per_class = evaluate_detections(document, detections).per_class
    assert per_class["1"]["name"] == "cat" and per_class["3"]["name"] == "3"
    assert per_class["7"]["name"] == "car"


def _ground_truth_record(draw_value):
    """A record of valid fields, some replaced by JSON values of any kind or dropped."""
    valid = {"image_id": 1, "category_id": 2, "bbox": [1.5, 2, 0, 4], "area": 0,
             "iscrowd": 1}  # fmt: skip
    return st.fixed_dictionaries(
        {},
        optional={
            key: st.just(value) | draw_value | st.lists(draw_value, min_size=4, max_size=4)
            for key, value in valid.items()
        },
    )


@given(
    records=st.lists(
        _ground_truth_record(JSON_SCALARS) | JSON_SCALARS
        | st.fixed_dictionaries({"image_id": st.sampled_from([1, "b"]), "category_id":
                                 st.sampled_from([2, "c"]), "bbox": st.lists(
                                     st.integers(0, 9) | st.floats(0, 9), min_size=4,
                                     max_size=4)}),
        max_size=4,
    )
)  # fmt: skip
def test_the_whole_file_check_agrees_with_the_record_by_record_check(records):
    """The fast check accepts exactly the JSON ground truths whose every record passes
    (zero-width boxes, zero areas and a missing ``iscrowd`` included)."""
    from noisybox.evaluate import _ground_truth_problem, _regular_ground_truth

    images, categories = {1, "b"}, {2, "c"}
    each = all(_ground_truth_problem(r, images, categories) is None for r in records)
    assert _regular_ground_truth(records, images, categories) == each


def test_a_regular_ground_truth_is_checked_at_once(monkeypatch, case):
    """Where every record is well formed, the record-by-record loop never runs."""
    import noisybox.evaluate as evaluate

    def record_by_record(*_):
        raise AssertionError("the whole-file check declined a regular ground truth")

    document, detections = case
    monkeypatch.setattr(evaluate, "_ground_truth_problem", record_by_record)
    assert evaluate_detections(document, detections).metrics["mAP"] > 0


def test_is_number_refuses_what_json_reads_but_floats_cannot_hold():
    from noisybox.evaluate import _is_number

    assert _is_number(10**300) and _is_number(-2.5) and _is_number(0)
    assert not _is_number(10**400) and not _is_number(-(10**400))
    assert not _is_number(float("inf")) and not _is_number(float("nan"))
    assert not _is_number(True) and not _is_number("1")


def test_evaluation_leaves_its_inputs_as_they_were_and_prints_nothing(case, capsys):
    """Both backends add fields to the records they load: they get copies; their
    progress output is swallowed; a second evaluation gives the same result."""
    document, detections = case
    before = copy.deepcopy(case)
    for backend in ("pycocotools", "faster"):
        first = evaluate_detections(document, detections, backend=backend)
        assert (document, detections) == before
        assert evaluate_detections(document, detections, backend=backend) == first
    assert capsys.readouterr() == ("", "")


def test_only_the_faster_backend_takes_the_vectorized_ious(monkeypatch, case):
    import noisybox.evaluate as evaluate

    calls = []
    vectorized = evaluate._ious_by_pair
    monkeypatch.setattr(evaluate, "_ious_by_pair", lambda *a: calls.append(1) or vectorized(*a))
    evaluate_detections(*case, backend="pycocotools")
    assert calls == []
    evaluate_detections(*case, backend="faster")
    assert calls == [1]


def test_a_missing_area_is_the_box_s_width_times_height():
    """COCO's default: a 10 × 200 box is medium (2,000 px²); not small (w / h), not large
    (h · h)."""
    document = coco_document(images=1, boxes_per_image=2, seed=5)
    for record in document["annotations"]:
        del record["area"]
        record["bbox"], record["iscrowd"] = [5, 5, 10, 200], 0
    detections = [dict(r, score=0.9) for r in document["annotations"]]
    for backend in ("faster", "pycocotools"):
        metrics = evaluate_detections(document, detections, backend=backend).metrics
        assert metrics["APs"] is None and metrics["APl"] is None
        assert metrics["APm"] == pytest.approx(100.0)


def test_a_ground_truth_without_categories_or_info_is_read():
    """Both keys are optional in COCO; the prepared copy carries them for the backends."""
    from noisybox.evaluate import _prepare_ground_truth

    document = {"images": [{"id": 1}], "annotations": []}
    prepared, image_ids = _prepare_ground_truth(document)
    assert prepared["categories"] == [] and prepared["info"] == {} and image_ids == {1: 0}
    assert document == {"images": [{"id": 1}], "annotations": []}
    detections = [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}]
    result = evaluate_detections(document, detections)
    assert result.warnings[0] == "1 detections on classes absent from the ground truth ignored"


def test_size_ranges_are_known_before_any_detection_is_scored():
    """Without detections every metric is 0, except the size ranges with no ground truth
    (n/a); both ends of a range count, as in COCOeval's ``areaRng``."""
    document = coco_document(images=2, boxes_per_image=2, seed=5)
    for area, expected in ((32.0**2, (0.0, 0.0, None)), (96.0**2, (None, 0.0, 0.0)),
                           (1e10, (None, None, 0.0)), (1e10 + 1, (None, None, None))):  # fmt: skip
        for record in document["annotations"]:
            record["area"], record["iscrowd"] = area, 0
        metrics = evaluate_detections(document, []).metrics
        assert (metrics["APs"], metrics["APm"], metrics["APl"]) == expected, area


def test_unmatched_detections_score_zero_recall_and_classes_without_boxes_none():
    document = coco_document(images=2, boxes_per_image=2, seed=5)
    for record in document["annotations"]:
        record["category_id"], record["iscrowd"] = 1, 0
    far = [dict(r, bbox=[600, 450, 5, 5], score=0.5) for r in document["annotations"]]
    result = evaluate_detections(document, far)
    assert result.metrics["AR100"] == 0.0 and result.metrics["mAP"] == 0.0
    assert result.per_class["3"] == {"name": "dog", "ground_truths": 0, "AP": None,
                                     "AP50": None, "AP75": None, "AR100": None}  # fmt: skip
    assert result.per_class["1"]["AP"] == 0.0 and result.per_class["1"]["ground_truths"] == 4


def test_integer_and_text_category_ids_mixed_are_numbered():
    """A ground truth may mix integer and text ids (COCO allows both): faster-coco-eval
    gets them numbered, the results come back under the original ids."""
    document = coco_document(images=3, boxes_per_image=3, seed=5)
    for category in document["categories"]:
        if category["id"] == 3:
            category["id"] = "dog"
    for record in document["annotations"]:
        if record["category_id"] == 3:
            record["category_id"] = "dog"
    detections = [dict(r, score=0.9) for r in document["annotations"]]
    per_backend = [evaluate_detections(document, detections, backend=b)
                   for b in ("faster", "pycocotools")]  # fmt: skip
    assert per_backend[0].metrics == pytest.approx(per_backend[1].metrics)
    assert set(per_backend[0].per_class) == {"1", "dog", "7"}
    assert per_backend[0].metrics["mAP"] == pytest.approx(100.0)
