"""COCO-style box evaluation: AP at every IoU threshold, mAP, mAP75:95, and the paper's Figure 2.

Metrics are in percent, like the α-IoU paper's tables. Two backends give the same numbers:
``faster`` (faster-coco-eval, the default) and ``pycocotools`` (the reference).
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import asdict, dataclass, field
from itertools import chain

import numpy as np

from .errors import NoisyboxError

IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
#: The thresholds of the paper's Figure 2 (positive predictions after NMS).
MATCH_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
BACKENDS = ("faster", "pycocotools")
#: the IoU thresholds of :attr:`Evaluation.pr_curves`
PR_THRESHOLDS = {"AP50": 0.5, "AP75": 0.75}
MAX_DETECTIONS = 100


@dataclass
class Evaluation:
    """The result of :func:`evaluate_detections`.

    ``metrics`` (percent): ``AP50`` … ``AP95`` (AP at each IoU threshold), ``mAP`` (their
    mean, COCO's AP50:95), ``mAP75:95`` (mean of AP75 … AP95, the paper's high-accuracy
    metric), ``APs``, ``APm``, ``APl`` (COCO's size ranges, by the ground truth's ``area``;
    ``None``, n/a, for a range without ground truth, where pycocotools says -1) and
    ``AR100`` (recall with up to 100 detections per image, averaged over thresholds).

    ``per_class``: by category id (as text, JSON's keys), the class's name, ground-truth
    count, AP (50:95), AP50, AP75 and AR100 in percent (``None`` without ground truth): the
    per-class slices of COCOeval's precision and recall. Noise can hurt small classes first.

    ``pr_curves``: by category id (as text), ``{"AP50": [...], "AP75": [...]}``: COCOeval's
    interpolated precision (0–1) at its 101 recall points 0, 0.01, …, 1 at IoU 0.5 and 0.75
    (-1 where recall is not reached, as COCOeval), up to 100 detections per image; filled only
    when asked (``curves=True``).

    ``matches``: the paper's Figure 2 statistic, ``{"IoU>=0.5": n, …}``: how many
    detections match a ground-truth box at each threshold. Each threshold is matched on its
    own, the COCO way (per image and class, highest score first, each ground truth taken at
    most once, up to 100 detections per image), so it equals the number of true positives
    behind ``AR100`` at that threshold; crowd boxes count for nothing.
    """

    metrics: dict[str, float | None]
    matches: dict[str, int]
    detections: int
    ground_truths: int
    backend: str
    warnings: list[str] = field(default_factory=list)
    per_class: dict[str, dict] = field(default_factory=dict)
    pr_curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _backend_classes(backend: str):
    if backend == "faster":
        from faster_coco_eval import COCO, COCOeval_faster

        return COCO, COCOeval_faster
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        return COCO, COCOeval
    raise NoisyboxError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}", "backend")


def _is_number(value: object) -> bool:
    """A finite JSON number (booleans are not numbers)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value) if abs(value) < 1e308 else math.inf)
    )


def _is_id(value: object) -> bool:
    """A COCO id: an integer or a string (JSON allows nothing else to key a record)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _check_ground_truth(document: object) -> None:
    """Refuse, in one line naming the record, a ground truth COCOeval would misread."""
    if not isinstance(document, dict) or not isinstance(document.get("annotations"), list):
        raise NoisyboxError("ground truth: not a COCO detection file (no annotations list)")
    images, categories = document.get("images"), document.get("categories", [])
    if not isinstance(images, list) or not isinstance(categories, list):
        raise NoisyboxError("ground truth: images and categories must be lists")
    for what, records in (("images", images), ("categories", categories)):
        seen = set()
        for index, record in enumerate(records):
            if not isinstance(record, dict) or not _is_id(record.get("id")):
                raise NoisyboxError(f"ground truth: {what}[{index}]: needs an integer or text id")
            if record["id"] in seen:
                raise NoisyboxError(f"ground truth: {what}[{index}]: duplicate id {record['id']}")
            seen.add(record["id"])
    image_ids = {image["id"] for image in images}
    category_ids = {category["id"] for category in categories}
    if _regular_ground_truth(document["annotations"], image_ids, category_ids):
        return
    for index, record in enumerate(document["annotations"]):
        problem = _ground_truth_problem(record, image_ids, category_ids)
        if problem:
            raise NoisyboxError(f"ground truth: annotations[{index}]: {problem}")


def _regular_ground_truth(records: list, image_ids: set, category_ids: set) -> bool:
    """Whether every record passes :func:`_ground_truth_problem`, checked at once; False at
    the first doubt, for the record-by-record check to name the problem."""
    try:
        image = [record["image_id"] for record in records]
        category = [record["category_id"] for record in records]
        bbox_values = [record["bbox"] for record in records]
        crowd = [record.get("iscrowd", 0) for record in records]
        areas = [record["area"] for record in records if "area" in record]
        types = {*map(type, chain.from_iterable(bbox_values)), *map(type, areas)}
        boxes = np.asarray(bbox_values, np.float64).reshape(-1, 4)
        area = np.asarray(areas, np.float64)
    except (KeyError, TypeError, ValueError, OverflowError):
        return False
    return (
        types <= {int, float}
        and boxes.shape == (len(records), 4)
        and bool(np.isfinite(boxes).all() and (boxes[:, 2:] >= 0).all())
        and bool(np.isfinite(area).all() and (area >= 0).all())
        and {*map(type, image), *map(type, category)} <= {int, str}
        and set(image) <= image_ids
        and set(category) <= category_ids
        and set(map(type, crowd)) <= {int}
        and set(crowd) <= {0, 1}
    )


def _ground_truth_problem(record: object, image_ids: set, category_ids: set) -> str | None:
    if not isinstance(record, dict):
        return "not an object"
    bbox = record.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        return "bbox must be [x, y, w, h], four finite numbers"
    if bbox[2] < 0 or bbox[3] < 0:
        return "bbox has a negative width or height"
    if not _is_id(record.get("image_id")) or record["image_id"] not in image_ids:
        return f"image_id {record.get('image_id')!r} is not an image of the file"
    if not _is_id(record.get("category_id")) or record["category_id"] not in category_ids:
        return f"category_id {record.get('category_id')!r} is not a category of the file"
    if record.get("iscrowd", 0) not in (0, 1) or isinstance(record.get("iscrowd"), (bool, float)):
        return f"iscrowd must be 0 or 1; got {record.get('iscrowd')!r}"
    if "area" in record and not (_is_number(record["area"]) and record["area"] >= 0):
        return f"area must be a finite number >= 0; got {record['area']!r}"
    return None


def _prepare_ground_truth(document: dict) -> tuple[dict, dict[object, int]]:
    """A checked copy fit for COCOeval, and the image ids.

    Annotation ids are renumbered from 1: COCOeval records a match by the ground truth's id,
    so a ground truth with id 0 could never count as matched. A missing ``area`` is the
    box's ``w * h`` and a missing ``iscrowd`` is 0.
    """
    _check_ground_truth(document)
    ground_truth = {key: value for key, value in document.items() if key != "annotations"}
    annotations = []
    for number, record in enumerate(document["annotations"], start=1):
        record = dict(record, id=number)
        record.setdefault("iscrowd", 0)
        if "area" not in record:
            record["area"] = float(record["bbox"][2]) * float(record["bbox"][3])
        annotations.append(record)
    ground_truth["annotations"] = annotations
    ground_truth.setdefault("categories", [])
    ground_truth.setdefault("info", {})  # some pycocotools releases read it in loadRes
    return ground_truth, {image["id"]: i for i, image in enumerate(ground_truth["images"])}


def _prepare_detections(
    detections: list, image_ids: dict[object, int], category_ids: set, warnings: list[str]
) -> list[dict]:
    """Well-formed detections on known images and classes, as new records (COCOeval adds
    fields to the records it loads); the others are counted in ``warnings``."""
    if not isinstance(detections, list):
        raise NoisyboxError("detections: a COCO results file is a JSON list of detections")
    if not detections:
        return []
    try:
        image = [record["image_id"] for record in detections]
        category = [record["category_id"] for record in detections]
        boxes = np.asarray([record["bbox"] for record in detections], dtype=np.float64)
        scores = np.asarray([record["score"] for record in detections], dtype=np.float64)
        if boxes.shape != (len(detections), 4) or not np.isfinite(boxes).all():
            raise ValueError
        if not np.isfinite(scores).all() or scores.shape != (len(detections),):
            raise ValueError
        known_image = np.asarray([i in image_ids for i in image], dtype=bool)
        known_category = np.asarray([c in category_ids for c in category], dtype=bool)
    except (KeyError, TypeError, ValueError, OverflowError):
        _raise_first_malformed(detections)
        raise
    _raise_first_malformed_types(image, category)
    for count, what in (
        (int((~known_image).sum()), "images"),
        (int((known_image & ~known_category).sum()), "classes"),
    ):
        if count:
            warnings.append(f"{count} detections on {what} absent from the ground truth ignored")
    keep = np.flatnonzero(known_image & known_category).tolist()
    box_list, score_list = boxes.tolist(), scores.tolist()
    return [
        {
            "image_id": image[i],
            "category_id": category[i],
            "bbox": box_list[i],
            "score": score_list[i],
        }
        for i in keep
    ]


def _raise_first_malformed(detections: list) -> None:
    """Name the first detection that is not ``{image_id, category_id, bbox, score}``."""
    for index, record in enumerate(detections):
        bbox = record.get("bbox") if isinstance(record, dict) else None
        if (
            not isinstance(record, dict)
            or not _is_id(record.get("image_id"))
            or not _is_id(record.get("category_id"))
            or not isinstance(bbox, list)
            or len(bbox) != 4
            or not all(_is_number(v) for v in bbox)
            or not _is_number(record.get("score"))
        ):
            raise NoisyboxError(
                f"detections[{index}]: needs image_id, category_id, bbox [x, y, w, h] and a "
                "finite score"
            )


def _raise_first_malformed_types(image: list, category: list) -> None:
    """Ids of a type no ground truth has (booleans, lists, numbers with a fraction)."""
    if {*map(type, image), *map(type, category)} <= {int, str}:  # the usual case, at C speed
        return
    for index, (image_id, category_id) in enumerate(zip(image, category, strict=True)):
        if not (_is_id(image_id) and _is_id(category_id)):
            raise NoisyboxError(
                f"detections[{index}]: image_id and category_id must be integers or text; got "
                f"{image_id!r} and {category_id!r}"
            )


def _mean_valid(values: np.ndarray) -> float | None:
    """Mean of the entries COCOeval computed (-1 marks a class with no ground truth), in
    percent; ``None`` (n/a) when there is none."""
    valid = values[values > -1]
    return float(valid.mean()) * 100 if valid.size else None


#: COCO's size ranges by ground-truth area (pixels²), as COCOeval's ``areaRng``
SIZE_RANGES = {"APs": (0, 32**2), "APm": (32**2, 96**2), "APl": (96**2, 1e10)}


def _size_range_absent(counted: list[dict]) -> set[str]:
    """The size-range metrics with no ground truth to average: n/a, not 0."""
    areas = np.asarray([float(a["area"]) for a in counted], dtype=np.float64)
    return {
        name
        for name, (low, high) in SIZE_RANGES.items()
        if not ((areas >= low) & (areas <= high)).any()
    }


def coco_box_iou(detections: np.ndarray, truths: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of each detection with the ground truth of the same row, by COCO's rule.

    Boxes are COCO ``[x, y, w, h]`` in pixels, ``(N, 4)`` float64; against a crowd ground
    truth (``crowd``, ``(N,)`` bool) the union is the detection's own area. The arithmetic
    is pycocotools' ``bbIou`` (``maskApi.c``) operation for operation, so the values are
    bit for bit COCOeval's (its matching compares them with thresholds)."""
    dx, dy, dw, dh = detections.T
    gx, gy, gw, gh = truths.T
    width = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    height = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    intersection = width * height
    detection_area = dw * dh
    union = np.where(crowd, detection_area, detection_area + gw * gh - intersection)
    overlapping = (width > 0) & (height > 0)
    return np.where(overlapping, intersection / np.where(overlapping, union, 1.0), 0.0)


def _with_integer_ids(gt_document: dict, kept: list[dict]) -> tuple[dict, list[dict], dict]:
    """The ground truth and detections with their image and category ids numbered from 1,
    where some are text (faster-coco-eval reads every id as an integer); and the original
    category id of each number. Documents of integer ids come back as they are."""
    images = [image["id"] for image in gt_document["images"]]
    categories = [category["id"] for category in gt_document["categories"]]
    if {*map(type, images), *map(type, categories)} <= {int}:
        return gt_document, kept, {}
    image_number = {image: n for n, image in enumerate(images, start=1)}
    ordered = sorted(categories, key=lambda c: (isinstance(c, str), c))
    category_number = {category: n for n, category in enumerate(ordered, start=1)}

    def renumbered(record: dict) -> dict:
        return dict(
            record,
            image_id=image_number[record["image_id"]],
            category_id=category_number[record["category_id"]],
        )

    document = dict(
        gt_document,
        images=[dict(image, id=image_number[image["id"]]) for image in gt_document["images"]],
        categories=[dict(c, id=category_number[c["id"]]) for c in gt_document["categories"]],
        annotations=[renumbered(record) for record in gt_document["annotations"]],
    )
    original = {n: category for category, n in category_number.items()}
    return document, [renumbered(record) for record in kept], original


def _ranks(counts: np.ndarray) -> np.ndarray:
    """``0 .. count - 1`` for each of ``counts``, concatenated."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def _ious_by_pair(gt_document: dict, kept: list[dict]) -> dict[tuple, np.ndarray]:
    """COCOeval's IoU matrix of every (image id, category id) pair with both detections and
    ground truth: rows the pair's detections by descending score (ties in file order, as
    its mergesort), at most :data:`MAX_DETECTIONS`; columns its ground truths in file
    order. Computed in one vectorized pass instead of one Python call a pair."""
    image_ids = {image["id"]: row for row, image in enumerate(gt_document["images"])}
    categories = {c["id"]: k for k, c in enumerate(gt_document["categories"])}
    width = len(categories)

    def pair_codes(records: list[dict]) -> np.ndarray:
        return np.fromiter(
            (image_ids[r["image_id"]] * width + categories[r["category_id"]] for r in records),
            np.int64,
            len(records),
        )

    annotations = gt_document["annotations"]
    gt_code = pair_codes(annotations)
    gt_order = np.argsort(gt_code, kind="stable")
    gt_boxes = np.asarray([a["bbox"] for a in annotations], np.float64).reshape(-1, 4)[gt_order]
    gt_crowd = np.asarray([bool(a["iscrowd"]) for a in annotations], bool)[gt_order]
    gt_code = gt_code[gt_order]
    dt_code = pair_codes(kept)
    scores = np.asarray([d["score"] for d in kept], np.float64)
    dt_order = np.lexsort((np.arange(len(kept)), -scores, dt_code))
    dt_code = dt_code[dt_order]
    dt_boxes = np.asarray([d["bbox"] for d in kept], np.float64).reshape(-1, 4)[dt_order]
    pairs, dt_start, dt_count = np.unique(dt_code, return_index=True, return_counts=True)
    gt_start = np.searchsorted(gt_code, pairs)
    gt_count = np.searchsorted(gt_code, pairs, side="right") - gt_start
    dt_count = np.minimum(dt_count, MAX_DETECTIONS)
    both = gt_count > 0
    pairs, dt_start, dt_count = pairs[both], dt_start[both], dt_count[both]
    gt_start, gt_count = gt_start[both], gt_count[both]
    # every (detection, ground truth) pair of a group, detection-major, groups in turn
    detection = np.repeat(dt_start, dt_count) + _ranks(dt_count)
    per_detection = np.repeat(gt_count, dt_count)
    truth = np.repeat(np.repeat(gt_start, dt_count), per_detection) + _ranks(per_detection)
    ious = coco_box_iou(
        dt_boxes[np.repeat(detection, per_detection)], gt_boxes[truth], gt_crowd[truth]
    )
    image_of = {row: image_id for image_id, row in image_ids.items()}
    category_of = {k: category for category, k in categories.items()}
    sizes = dt_count * gt_count
    ends = np.cumsum(sizes)
    result = {}
    for pair, end, size, rows, columns in zip(
        pairs.tolist(),
        ends.tolist(),
        sizes.tolist(),
        dt_count.tolist(),
        gt_count.tolist(),
        strict=True,
    ):
        key = (image_of[pair // width], category_of[pair % width])
        result[key] = ious[end - size : end].reshape(rows, columns)
    return result


def mean_matched_iou(ground_truth: dict, detections: list, threshold: float = 0.5) -> float | None:
    """Mean IoU of the detections that COCO's matching pairs with a ground-truth box at
    ``threshold``, in [0, 1]; ``None`` when nothing matches.

    The rule is COCOeval's (``evaluateImg``): per image and class, up to 100 detections by
    descending score, each takes the not yet taken non-crowd ground truth of highest IoU
    ``>= threshold``. Crowd boxes are left out (COCO only lets a detection fall back on them
    when no other box matches, so they never change a non-crowd match). Boxes are COCO
    ``[x, y, w, h]`` in pixels. The measure of how well a detector localises what it finds,
    apart from how much it finds: a diagnostic of ``noisybox bench`` runs.
    """
    from .boxes import pairwise_iou, xywh_to_xyxy

    truths: dict[tuple, list] = {}
    for record in ground_truth["annotations"]:
        if not record.get("iscrowd", 0):
            truths.setdefault((record["image_id"], record["category_id"]), []).append(
                record["bbox"]
            )
    found: dict[tuple, list] = {}
    for record in detections:
        key = (record["image_id"], record["category_id"])
        if key in truths:
            found.setdefault(key, []).append((record["score"], record["bbox"]))
    matched: list[float] = []
    for key, scored in found.items():
        scored.sort(key=lambda pair: -pair[0])  # stable, as COCOeval's mergesort
        boxes = xywh_to_xyxy(np.asarray([bbox for _, bbox in scored[:MAX_DETECTIONS]], float))
        gt = xywh_to_xyxy(np.asarray(truths[key], dtype=np.float64))
        ious = pairwise_iou(boxes, gt)
        taken = np.zeros(len(gt), dtype=bool)
        for row in ious:
            candidates = np.where(taken | (row < threshold), -1.0, row)
            best = int(np.argmax(candidates))
            if candidates[best] >= 0:
                taken[best] = True
                matched.append(float(row[best]))
    return float(np.mean(matched)) if matched else None


def evaluate_detections(
    ground_truth: dict, detections: list, backend: str = "faster", curves: bool = False
) -> Evaluation:
    """Evaluate COCO-format ``detections`` against a COCO ``ground_truth`` document
    (``curves``: also each class's precision-recall curves, :attr:`Evaluation.pr_curves`).

    Thresholds are taken by index from COCOeval's arrays (asking pycocotools'
    ``_summarize`` for ``iouThr=0.9`` returns -1: 0.9 is stored as 0.8999…). No detections, or
    none on the ground truth's images and classes, give zeros with a warning.
    """
    warnings: list[str] = []
    coco_class, eval_class = _backend_classes(backend)
    gt_document, image_ids = _prepare_ground_truth(ground_truth)
    category_ids = {category["id"] for category in gt_document["categories"]}
    kept = _prepare_detections(detections, image_ids, category_ids, warnings)
    counted = [a for a in gt_document["annotations"] if not a["iscrowd"]]
    absent = _size_range_absent(counted)
    result = Evaluation(
        metrics={f"AP{round(t * 100)}": 0.0 for t in IOU_THRESHOLDS}
        | {"mAP": 0.0, "mAP75:95": 0.0}
        | {name: None if name in absent else 0.0 for name in SIZE_RANGES}
        | {"AR100": 0.0},
        matches={f"IoU>={t}": 0 for t in MATCH_THRESHOLDS},
        detections=len(kept),
        ground_truths=len(counted),
        backend=backend,
        warnings=warnings,
    )
    if not kept:
        warnings.append("no detections to evaluate: every metric is 0")
        return result
    if not counted:
        warnings.append("the ground truth has no (non-crowd) boxes: every metric is 0")
        return result
    with contextlib.redirect_stdout(io.StringIO()):  # both backends print progress
        gt = coco_class()
        backend_document, backend_kept, original = _with_integer_ids(gt_document, kept)
        gt.dataset = backend_document  # new records: COCOeval may add fields to them
        gt.createIndex()
        dt = gt.loadRes(backend_kept)
        evaluator = eval_class(gt, dt, iouType="bbox")
        if backend == "faster":  # its IoUs, looked up instead of computed a pair at a time
            ious = _ious_by_pair(backend_document, backend_kept)
            evaluator.computeIoU = lambda image_id, category_id: ious.get(
                (image_id, category_id), []
            )
        evaluator.evaluate()
        evaluator.accumulate()
    thresholds = np.asarray(evaluator.params.iouThrs)
    precision = np.asarray(evaluator.eval["precision"])  # [T, R, K, A, M]
    recall = np.asarray(evaluator.eval["recall"])  # [T, K, A, M]
    last = len(evaluator.params.maxDets) - 1
    per_threshold = [
        _mean_valid(precision[t, :, :, 0, last]) or 0.0 for t in range(len(thresholds))
    ]
    metrics = {f"AP{round(t * 100)}": ap for t, ap in zip(thresholds, per_threshold, strict=True)}
    metrics["mAP"] = float(np.mean(per_threshold))
    metrics["mAP75:95"] = float(np.mean(per_threshold[5:]))
    for index, name in ((1, "APs"), (2, "APm"), (3, "APl")):
        metrics[name] = _mean_valid(precision[:, :, :, index, last])
    metrics["AR100"] = _mean_valid(recall[:, :, 0, last]) or 0.0
    result.metrics = metrics
    category_order = [original.get(c, c) for c in evaluator.params.catIds]
    per_class = np.zeros(len(category_order))
    position = {category: i for i, category in enumerate(category_order)}
    for annotation in counted:
        per_class[position[annotation["category_id"]]] += 1
    for threshold in MATCH_THRESHOLDS:
        t = int(np.argmin(np.abs(thresholds - threshold)))
        found = recall[t, :, 0, last]  # -1 (no ground truth) only where per_class is 0
        result.matches[f"IoU>={threshold}"] = round(float((found * per_class).sum()))
    names = {c["id"]: str(c.get("name", c["id"])) for c in gt_document["categories"]}
    result.per_class = {
        str(category): _class_metrics(precision, recall, k, last, names.get(category), count)
        for k, (category, count) in enumerate(zip(category_order, per_class, strict=True))
    }
    if curves:
        at = {name: int(np.argmin(np.abs(thresholds - t))) for name, t in PR_THRESHOLDS.items()}
        result.pr_curves = {
            str(category): {name: precision[t, :, k, 0, last].tolist() for name, t in at.items()}
            for k, category in enumerate(category_order)
        }
    return result


def _class_metrics(
    precision: np.ndarray, recall: np.ndarray, k: int, last: int, name: str | None, boxes: float
) -> dict:
    """AP (50:95), AP50, AP75 and AR100 of class ``k`` (percent; ``None`` without ground
    truth), from COCOeval's arrays: the per-class slices of the all-class metrics."""
    per_threshold = [_mean_valid(precision[t, :, k, 0, last]) for t in range(len(precision))]
    have = [ap for ap in per_threshold if ap is not None]
    return {
        "name": name,
        "ground_truths": int(boxes),
        "AP": float(np.mean(have)) if have else None,
        "AP50": per_threshold[0],
        "AP75": per_threshold[5],
        "AR100": _mean_valid(recall[:, k, 0, last]),
    }
