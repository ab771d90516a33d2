"""Noise models: the paper's statistics, equation (5), determinism, and the richer models."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from noisybox.annotations import Annotations, select_rows
from noisybox.boxes import cxcywh_to_xyxy, elementwise_iou, xyxy_to_cxcywh
from noisybox.errors import NoisyboxError
from noisybox.formats import read_annotations, render
from noisybox.keys import integer_keys
from noisybox.noise import NoiseConfig, corrupt, enforce_image_constraints

from .datasets import SHARED, coco_document, write_coco, write_yolo

#: Mean IoU between noisy and clean boxes on PASCAL VOC, the α-IoU paper, section 4.3.
PAPER_MEAN_IOU = {0.1: 0.833, 0.2: 0.710, 0.3: 0.613}


def synthetic(boxes_cxcywh: np.ndarray, size=(1000.0, 1000.0), categories=(0, 1, 2)) -> Annotations:
    """An in-memory pixel dataset: one image per box, boxes given normalized."""
    n = len(boxes_cxcywh)
    rng = np.random.default_rng(0)
    return Annotations(
        format="coco",
        path=None,
        units="pixels",
        boxes=cxcywh_to_xyxy(boxes_cxcywh) * np.array([*size, *size]),
        image=np.arange(n),
        category=rng.choice(categories, n),
        key=integer_keys(np.arange(n)),
        crowd=np.zeros(n, bool),
        valid=np.ones(n, bool),
        record=np.arange(n),
        image_size=np.tile(size, (n, 1)),
        image_name=[str(i) for i in range(n)],
        image_key=integer_keys(np.arange(n)),
        categories={c: f"c{c}" for c in categories},
        source=None,
    )


def voc_shaped(n: int, seed: int = 0) -> np.ndarray:
    """Large boxes, 30% touching a side of the image, like PASCAL VOC's objects."""
    rng = np.random.default_rng(seed)
    w, h = rng.uniform(0.15, 1.0, n), rng.uniform(0.15, 1.0, n)
    cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(h / 2, 1 - h / 2)
    touching = rng.random(n) < 0.3
    cx[touching] = np.where(rng.random(touching.sum()) < 0.5, w[touching] / 2, 1 - w[touching] / 2)
    return np.stack([cx, cy, w, h], axis=1)


@pytest.mark.parametrize("eta", [0.1, 0.2, 0.3])
def test_paper_mean_iou_on_voc_shaped_boxes(eta):
    _, report = corrupt(synthetic(voc_shaped(100_000)), NoiseConfig(eta=eta), seed=0)
    assert report.mean_iou == pytest.approx(PAPER_MEAN_IOU[eta], abs=0.01)


def test_paper_mean_iou_on_the_real_raccoon_photos():
    folder = SHARED / "raccoon" / "annotations"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the shared real datasets are not on this machine")
    annotations = read_annotations(folder)  # large boxes, 39% touching a border, like VOC
    for eta, expected in PAPER_MEAN_IOU.items():
        ious = [corrupt(annotations, NoiseConfig(eta=eta), seed)[1].mean_iou for seed in range(20)]
        assert np.mean(ious) == pytest.approx(expected, abs=0.03)


def test_uniform_deltas_where_no_constraint_binds():
    clean = np.tile([0.5, 0.5, 0.1, 0.1], (40_000, 1))  # small, central: nothing clamps
    annotations = synthetic(clean)
    eta = 0.2
    changes, report = corrupt(annotations, NoiseConfig(eta=eta), seed=3)
    assert report.clamped_boxes == 0
    deltas = (xyxy_to_cxcywh(changes.boxes / 1000.0) - clean) / (eta * 0.1)  # in [-1, 1]
    assert deltas.min() >= -1 and deltas.max() <= 1
    for column in deltas.T:  # each coordinate uniform on [-1, 1]: Kolmogorov-Smirnov
        ordered = np.sort(column)
        cdf = (ordered + 1) / 2
        n = len(ordered)
        ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
        assert ks < 1.63 / np.sqrt(n)  # the 1% critical value
    assert abs(np.corrcoef(deltas.T)[np.triu_indices(4, 1)]).max() < 0.02  # independent


@given(
    boxes=st.lists(
        st.tuples(*[st.floats(0.0, 1.0)] * 2, *[st.floats(0.005, 1.0)] * 2), min_size=1, max_size=50
    ),
    eta=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**32),
)
def test_constraints_of_equation_5_always_hold(boxes, eta, seed):
    clean = np.array(boxes)
    clean[:, 0] = np.clip(clean[:, 0], clean[:, 2] / 2, 1 - clean[:, 2] / 2)
    clean[:, 1] = np.clip(clean[:, 1], clean[:, 3] / 2, 1 - clean[:, 3] / 2)
    annotations = synthetic(clean, size=(640.0, 480.0))
    changes, _ = corrupt(annotations, NoiseConfig(eta=eta, gaussian=eta / 2), seed)
    cx, cy, w, h = xyxy_to_cxcywh(changes.boxes / np.array([640.0, 480.0, 640.0, 480.0])).T
    tol = 1e-12
    assert (w > 0).all() and (w <= 1 + tol).all() and (h > 0).all() and (h <= 1 + tol).all()
    assert (cx >= w / 2 - tol).all() and (cx <= 1 - w / 2 + tol).all()
    assert (cy >= h / 2 - tol).all() and (cy <= 1 - h / 2 + tol).all()
    assert (changes.boxes[:, 2] - changes.boxes[:, 0] >= 1 - 1e-9).all()  # at least a pixel


def test_enforce_image_constraints_resolves_in_the_documented_order():
    boxes = np.array([[0.95, 0.5, 0.2, 0.2], [0.5, 0.5, 1.4, 0.1], [0.5, 0.02, 0.3, -0.1]])
    fixed, clamped = enforce_image_constraints(boxes, np.full((3, 2), 0.01))
    np.testing.assert_allclose(fixed[0], [0.9, 0.5, 0.2, 0.2])  # shifted in, size kept
    np.testing.assert_allclose(fixed[1], [0.5, 0.5, 1.0, 0.1])  # width capped at the image
    np.testing.assert_allclose(fixed[2], [0.5, 0.02, 0.3, 0.01])  # height raised to the minimum
    assert clamped["x"].tolist() == [True, False, False]
    assert clamped["width"].tolist() == [False, True, False]
    assert clamped["height"].tolist() == [False, False, True]


def test_the_minimum_size_is_one_pixel_each_way_on_a_non_square_image():
    """Sub-pixel boxes (0.2 x 0.3 px) on a 640 x 480 image stay sub-pixel under η = 0.1 and
    are raised to exactly 1 x 1 px: a width's minimum is 1/640 of the image, a height's 1/480
    (swapped, they would be 1.33 px wide and 0.75 px tall)."""
    clean = np.tile([0.5, 0.5, 0.2 / 640, 0.3 / 480], (6, 1))
    changes, report = corrupt(synthetic(clean, size=(640.0, 480.0)), NoiseConfig(eta=0.1), 0)
    widths = changes.boxes[:, 2] - changes.boxes[:, 0]
    heights = changes.boxes[:, 3] - changes.boxes[:, 1]
    np.testing.assert_allclose(widths, 1.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(heights, 1.0, rtol=0, atol=1e-9)
    assert report.clamped["width"] == report.clamped["height"] == 6


def test_noise_is_deterministic_and_depends_on_the_seed():
    annotations = synthetic(voc_shaped(500))
    first, _ = corrupt(annotations, NoiseConfig(eta=0.2, flip=0.3, drop=0.1), seed=5)
    again, _ = corrupt(annotations, NoiseConfig(eta=0.2, flip=0.3, drop=0.1), seed=5)
    other, _ = corrupt(annotations, NoiseConfig(eta=0.2, flip=0.3, drop=0.1), seed=6)
    for name in ("boxes", "category", "keep"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.boxes, other.boxes)


def test_a_subset_gets_the_same_noise_as_the_full_set():
    annotations = synthetic(voc_shaped(400))
    config = NoiseConfig(eta=0.3, gaussian=0.05, flip=0.5, drop=0.2)
    full, _ = corrupt(annotations, config, seed=1)
    subset_rows = np.random.default_rng(1).permutation(400)[:150]  # any subset, any order
    mask = np.zeros(400, bool)
    mask[subset_rows] = True
    part, _ = corrupt(select_rows(annotations, mask), config, seed=1)
    np.testing.assert_array_equal(part.boxes, full.boxes[mask])
    np.testing.assert_array_equal(part.category, full.category[mask])
    np.testing.assert_array_equal(part.keep, full.keep[mask])


def test_crowd_boxes_are_untouched_unless_asked(tmp_path):
    annotations = read_annotations(write_coco(tmp_path / "a.json"))
    crowd = annotations.crowd
    changes, report = corrupt(annotations, NoiseConfig(eta=0.3), seed=0)
    np.testing.assert_array_equal(changes.boxes[crowd], annotations.boxes[crowd])
    assert (changes.boxes[~crowd] != annotations.boxes[~crowd]).any(axis=1).all()
    assert report.untouched_crowd == 1
    changes, _ = corrupt(annotations, NoiseConfig(eta=0.3, include_crowd=True), seed=0)
    assert (changes.boxes[crowd] != annotations.boxes[crowd]).any()


def test_shift_keeps_size_and_scale_keeps_centre_and_aspect():
    clean = np.tile([0.5, 0.5, 0.2, 0.1], (2000, 1))
    annotations = synthetic(clean)
    shifted, _ = corrupt(annotations, NoiseConfig(shift=0.3), seed=0)
    s = xyxy_to_cxcywh(shifted.boxes / 1000.0)
    np.testing.assert_allclose(s[:, 2:], clean[:, 2:], atol=1e-12)
    assert np.abs(s[:, 0] - 0.5).max() == pytest.approx(0.3 * 0.2, rel=0.01)
    scaled, _ = corrupt(annotations, NoiseConfig(scale=0.4), seed=0)
    s = xyxy_to_cxcywh(scaled.boxes / 1000.0)
    np.testing.assert_allclose(s[:, :2], clean[:, :2], atol=1e-12)
    np.testing.assert_allclose(s[:, 2] / s[:, 3], 2.0, rtol=1e-9)
    assert s[:, 2].min() == pytest.approx(0.2 * 0.6, rel=0.01)
    assert s[:, 2].max() == pytest.approx(0.2 * 1.4, rel=0.01)


def test_gaussian_noise_has_the_asked_spread():
    clean = np.tile([0.5, 0.5, 0.1, 0.1], (20_000, 1))
    changes, _ = corrupt(synthetic(clean), NoiseConfig(gaussian=0.1), seed=0)
    deltas = (xyxy_to_cxcywh(changes.boxes / 1000.0) - clean) / 0.1
    np.testing.assert_allclose(deltas.std(axis=0), 0.1, rtol=0.03)
    np.testing.assert_allclose(deltas.mean(axis=0), 0.0, atol=0.003)


def test_class_flips_rate_and_confusion():
    annotations = synthetic(voc_shaped(20_000), categories=(0, 1, 2))
    changes, report = corrupt(annotations, NoiseConfig(flip=0.25), seed=0)
    flipped = changes.category != annotations.category
    assert flipped.mean() == pytest.approx(0.25, abs=0.01) and report.flipped == flipped.sum()
    assert set(np.unique(changes.category)) <= {0, 1, 2}
    confusion = {"c0": {"c2": 1.0}, "c1": {"c0": 3.0, "c2": 1.0}}
    changes, _ = corrupt(annotations, NoiseConfig(flip=1.0, confusion=confusion), seed=0)
    from_c0 = changes.category[annotations.category == 0]
    assert set(from_c0.tolist()) == {2}
    from_c1 = changes.category[annotations.category == 1]
    assert (from_c1 == 0).mean() == pytest.approx(0.75, abs=0.03)
    from_c2 = changes.category[annotations.category == 2]  # not in the matrix: uniform
    assert set(from_c2.tolist()) == {0, 1}


def test_drops_and_spurious_boxes():
    annotations = synthetic(voc_shaped(20_000))
    changes, report = corrupt(annotations, NoiseConfig(drop=0.1, spurious=0.2), seed=0)
    assert (~changes.keep).mean() == pytest.approx(0.1, abs=0.01) and report.dropped == (
        ~changes.keep
    ).sum()
    assert len(changes.added_boxes) == report.spurious
    assert report.spurious / 20_000 == pytest.approx(0.2, abs=0.01)
    added = changes.added_boxes
    assert (added >= 0).all() and (added <= 1000).all()
    assert ((added[:, 2] > added[:, 0]) & (added[:, 3] > added[:, 1])).all()
    assert set(changes.added_category.tolist()) <= {0, 1, 2}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eta": -0.1}, "^eta must be a number >= 0"),
        ({"drop": 1.5}, "^drop is a probability, at most 1"),
        ({"scale": 1.0}, "^scale must be below 1"),
        ({"gaussian": float("nan")}, "^gaussian"),
    ],
)
def test_noise_config_rejects_bad_rates(kwargs, message):
    with pytest.raises(NoisyboxError, match=message):
        NoiseConfig(**kwargs)


def test_unknown_class_in_confusion_is_an_error(tmp_path):
    annotations = read_annotations(write_coco(tmp_path / "a.json"))
    with pytest.raises(NoisyboxError, match="unknown class 'zebra'"):
        corrupt(annotations, NoiseConfig(flip=0.5, confusion={"cat": {"zebra": 1}}), seed=0)


def test_reported_mean_iou_is_measured_on_the_written_values(tmp_path):
    """YOLO keeps 6 decimals: the report must describe the file, not the unrounded boxes."""
    annotations = read_annotations(write_yolo(tmp_path / "labels"))
    changes, report = corrupt(annotations, NoiseConfig(eta=0.2), seed=0)
    reread_dir = tmp_path / "noisy"
    reread_dir.mkdir()
    for name, data in render(annotations, changes).items():
        (reread_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (reread_dir / name).write_bytes(data)
    noisy = read_annotations(reread_dir)
    np.testing.assert_allclose(noisy.boxes, changes.boxes, atol=1e-12)
    assert report.mean_iou == pytest.approx(
        elementwise_iou(noisy.boxes, annotations.boxes).mean(), abs=1e-12
    )


def test_coco_document_keeps_its_ids_under_noise(tmp_path):
    document = coco_document()
    annotations = read_annotations(write_coco(tmp_path / "a.json", document))
    changes, _ = corrupt(annotations, NoiseConfig(eta=0.2), seed=0)
    written = json.loads(render(annotations, changes))
    assert [a["id"] for a in written["annotations"]] == [a["id"] for a in document["annotations"]]


def _oa_mil_reference(boxes, sizes, r, seed):
    """A vectorized transcription of OA-MIL's generator (github.com/cxliu0/OA-MIL,
    utils/gen_noisy_voc.py, gen_noisy_gt): numpy's global stream, four draws per box in the
    order x-offset, y-offset, w-scale, h-scale; clipped to [0, W-1] x [0, H-1]; an emptied box
    keeps its original."""
    draws = np.random.RandomState(seed).uniform(-r, r, size=(len(boxes), 4))
    x1, y1, x2, y2 = boxes.T
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2 + w * draws[:, 0], (y1 + y2) / 2 + h * draws[:, 1]
    nw, nh = w * (draws[:, 2] + 1.0), h * (draws[:, 3] + 1.0)
    noisy = np.stack(
        [
            np.maximum(0, cx - nw / 2),
            np.maximum(0, cy - nh / 2),
            np.minimum(cx + nw / 2, sizes[:, 0] - 1),
            np.minimum(cy + nh / 2, sizes[:, 1] - 1),
        ],
        axis=1,
    )
    empty = (noisy[:, 2] <= noisy[:, 0]) | (noisy[:, 3] <= noisy[:, 1])
    noisy[empty] = boxes[empty]
    return noisy


def _voc_like(tmp_path, count=3000, seed=0):
    """VOC-shaped boxes (large, a third touching a border) in 500x375 images, as COCO."""
    rng = np.random.default_rng(seed)
    images, records = [], []
    for index in range(count):
        w, h = rng.uniform(40, 480), rng.uniform(30, 360)
        x = 0.0 if rng.random() < 0.15 else rng.uniform(0, 500 - w)
        y = 375 - h if rng.random() < 0.15 else rng.uniform(0, 375 - h)
        images.append({"id": index + 1, "file_name": f"{index}.jpg", "width": 500, "height": 375})
        records.append({"id": index + 1, "image_id": index + 1, "category_id": 1,
                        "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})  # fmt: skip
    document = {"images": images, "annotations": records, "categories": [{"id": 1, "name": "a"}]}
    return read_annotations(write_coco(tmp_path / "voc_like.json", document))


@pytest.mark.parametrize("eta", [0.1, 0.2, 0.3, 0.4])
def test_oa_mil_protocol_matches_the_authors_generator_in_distribution(tmp_path, eta):
    from noisybox.boxes import elementwise_iou

    annotations = _voc_like(tmp_path)
    clean, sizes = annotations.boxes, annotations.image_size[annotations.image]
    reference = elementwise_iou(_oa_mil_reference(clean, sizes, eta, seed=45), clean)
    changes, report = corrupt(annotations, NoiseConfig(eta=eta, protocol="oa-mil"), seed=45)
    ours = elementwise_iou(changes.boxes, clean)
    error = np.hypot(reference.std(), ours.std()) / np.sqrt(len(clean))
    assert abs(ours.mean() - reference.mean()) < 4 * error
    assert report.mean_iou == pytest.approx(ours.mean())
    assert (changes.boxes[:, 2:] <= sizes - 1 + 1e-9).all() and (changes.boxes >= 0).all()


def test_border_boxes_shrink_under_oa_mil_and_move_under_alpha_iou(tmp_path):
    annotations = _voc_like(tmp_path)
    clean = annotations.boxes
    clipped, _ = corrupt(annotations, NoiseConfig(eta=0.3, protocol="oa-mil"), seed=1)
    moved, _ = corrupt(annotations, NoiseConfig(eta=0.3), seed=1)
    at_left = clean[:, 0] == 0  # both protocols draw the same numbers for a box
    width = {name: c.boxes[:, 2] - c.boxes[:, 0] for name, c in (("oa", clipped), ("ai", moved))}
    pushed_out = at_left & (moved.boxes[:, 0] == 0) & (clipped.boxes[:, 0] == 0)
    assert pushed_out.sum() > 50
    # clipping cut them: narrower than under equation (5), which kept the noisy width
    assert (width["oa"][pushed_out] <= width["ai"][pushed_out] + 1e-9).all()
    assert (width["oa"][pushed_out] < width["ai"][pushed_out] - 1e-6).mean() > 0.5


@pytest.mark.parametrize("ratio", [0.1, 0.2, 0.4])
def test_una_component_counts_and_rates_are_unas(tmp_path, ratio):
    """Reference: UNA's una_inj.py: int(rN) dropped, int(rN) relocated and reclassed among
    the rest (a uniform class over all K, own included), round(rN/(1-r)) added round-robin."""
    from .datasets import coco_document

    document = coco_document(images=300, boxes_per_image=4)
    annotations = read_annotations(write_coco(tmp_path / "t.json", document))
    changes, report = corrupt(annotations, NoiseConfig(eta=ratio, protocol="una"), seed=3)
    n = report.perturbed  # the eligible boxes: crowd ones are left alone
    k, classes = int(ratio * n), len(annotations.categories)
    assert report.dropped == k and (~changes.keep).sum() == k
    assert report.moved == k
    kept = changes.keep
    moved = (changes.boxes != annotations.boxes).any(axis=1) & kept
    assert moved.sum() <= k and moved.sum() > 0.9 * k  # a relocated box can land where it was
    flipped = (changes.category != annotations.category) & kept
    expected = k * (classes - 1) / classes
    assert abs(flipped.sum() - expected) < 4 * np.sqrt(k * (1 / classes) * (1 - 1 / classes))
    added = round(n * ratio / (1 - ratio))
    assert report.spurious == added == len(changes.added_boxes)
    np.testing.assert_array_equal(changes.added_image, np.arange(added) % annotations.num_images)
    sizes = annotations.image_size[changes.added_image]
    boxes = changes.added_boxes
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= sizes).all()
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
    # relocated corners stay within half a size of the box, clamped to the image
    x1, _, x2, _ = annotations.boxes[moved].T
    new = changes.boxes[moved]
    assert (new[:, 0] >= np.maximum(0, x1 - (x2 - x1) / 2) - 1e-9).all()
    assert (new[:, 2] <= np.minimum(annotations.image_size[annotations.image[moved], 0],
                                    x2 + (x2 - x1) / 2) + 1e-9).all()  # fmt: skip


def test_una_is_stable_under_a_seed_and_combines_with_other_models(tmp_path):
    from .datasets import coco_document

    annotations = read_annotations(write_coco(tmp_path / "t.json", coco_document(images=50)))
    once, _ = corrupt(annotations, NoiseConfig(eta=0.2, protocol="una"), seed=7)
    again, _ = corrupt(annotations, NoiseConfig(eta=0.2, protocol="una"), seed=7)
    np.testing.assert_array_equal(once.boxes, again.boxes)
    np.testing.assert_array_equal(once.keep, again.keep)
    both, report = corrupt(annotations, NoiseConfig(eta=0.2, protocol="una", drop=0.1), seed=7)
    assert report.dropped > int(0.2 * len(annotations))  # UNA's drops and noisybox's own
    assert (~both.keep >= ~once.keep).all()


def _splitmix64_reference(state: int) -> tuple[int, int]:
    """Vigna's splitmix64.c ``next()`` in Python integers: (new state, output)."""
    mask = 2**64 - 1
    state = (state + 0x9E3779B97F4A7C15) & mask
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return state, z ^ (z >> 31)


def test_keys_against_their_references():
    """Reference: SplitMix64 (Vigna, splitmix64.c; seeded with 0 its first output is
    0xE220A8397B1DCDAF), BLAKE2b's digest read little-endian, two's complement ids, and
    keyed_uniform's own definition in Python integers: the draws a seed gives are fixed
    forever, so a changed constant would silently change every noisy dataset."""
    import hashlib

    from noisybox.keys import _splitmix64, integer_keys, keyed_uniform, text_key

    _, first = _splitmix64_reference(0)
    assert first == 0xE220A8397B1DCDAF
    inputs = np.array([0, 1, 2**63, 2**64 - 1, 0x0123456789ABCDEF], np.uint64)
    expected = [_splitmix64_reference(int(v))[1] for v in inputs]
    assert _splitmix64(inputs).tolist() == expected
    digest = hashlib.blake2b(b"image 7", digest_size=8).digest()
    assert text_key("image 7") == int.from_bytes(digest, "little")
    assert integer_keys([-1, 5]).tolist() == [2**64 - 1, 5]
    edges = [-(2**63), 2**63 - 1, 2**63, -(2**63) - 1]
    assert integer_keys(edges).tolist() == [
        2**63, 2**63 - 1, text_key(str(2**63)), text_key(str(-(2**63) - 1))
    ]  # fmt: skip
    keys = np.array([3, 2**40 + 9], np.uint64)
    draws = keyed_uniform(11, "uniform", keys, 2)
    base = text_key("noisybox/11/uniform")
    for row, key in enumerate(keys.tolist()):
        mixed = _splitmix64_reference(key ^ base)[1]
        for column in range(2):
            counter = (mixed + (column + 1) * 0x9E3779B97F4A7C15) % 2**64
            bits = _splitmix64_reference(_splitmix64_reference(counter)[1])[1]
            assert draws[row, column] == (bits >> 11) * 2.0**-53


@pytest.mark.parametrize("protocol", ["alpha-iou", "oa-mil", "una"])
def test_noise_in_blocks_is_the_noise_in_one_pass(tmp_path, monkeypatch, protocol):
    """Large datasets are moved NOISE_BLOCK boxes at a time; blocks of 5 must give the very
    numbers (and report) of one pass, for every box model."""
    import importlib

    corrupt_module = importlib.import_module("noisybox.noise.corrupt")

    annotations = read_annotations(write_coco(tmp_path / "a.json", coco_document(images=9)))
    config = NoiseConfig(
        eta=0.3, gaussian=0.05, shift=0.1, scale=0.1, box_fraction=0.7, protocol=protocol
    )
    whole, whole_report = corrupt_module.corrupt(annotations, config, seed=4)
    monkeypatch.setattr(corrupt_module, "NOISE_BLOCK", 5)
    blocked, blocked_report = corrupt_module.corrupt(annotations, config, seed=4)
    np.testing.assert_array_equal(blocked.boxes, whole.boxes)
    np.testing.assert_array_equal(blocked.keep, whole.keep)
    assert blocked_report.to_dict() == whole_report.to_dict()


# ---- the pure noise functions against box-by-box references --------------------------------


def _una_reference(boxes, categories, keys, image_of_box, image_size, class_ids, ratio, seed,
                   min_size):  # fmt: skip
    """UNA's una_inj.py, box by box in Python (Ryoo et al. 2023), with noisybox's documented
    draws in place of Python's ``random``: each stage picks the k boxes of smallest keyed
    uniform, corners are two sorted draws per axis in ``[x1 − w/2, x2 + w/2]`` clamped to the
    image (a box left thinner than ``min_size``: the central half of the original), a class
    uniform over all, and ``round(N·r/(1 − r))`` boxes added round-robin over the images."""
    from noisybox.keys import keyed_uniform

    n = len(boxes)
    k = int(ratio * n)

    def pick(stage, among):
        draws = keyed_uniform(seed, stage, keys, 1)[:, 0]
        order = sorted((i for i in range(n) if among[i]), key=lambda i: (draws[i], i))
        return {i: True for i in order[:k]}

    dropped = pick("una-missing", [True] * n)
    relocated = pick("una-location", [i not in dropped for i in range(n)])
    reclassed = pick("una-class", [i not in dropped for i in range(n)])
    new, classes = boxes.astype(float).tolist(), categories.tolist()
    for i in sorted(relocated):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        w, h = x2 - x1, y2 - y1
        u = keyed_uniform(seed, "una-corners", keys[i : i + 1], 4)[0]
        width, height = (float(v) for v in image_size[image_of_box[i]])
        xs = sorted((x1 - w / 2) + a * ((x2 + w / 2) - (x1 - w / 2)) for a in u[:2])
        ys = sorted((y1 - h / 2) + a * ((y2 + h / 2) - (y1 - h / 2)) for a in u[2:])
        xs = [min(max(v, 0.0), width) for v in xs]
        ys = [min(max(v, 0.0), height) for v in ys]
        if xs[1] - xs[0] < min_size[i, 0] or ys[1] - ys[0] < min_size[i, 1]:
            new[i] = [x1 + w / 4, y1 + h / 4, x2 - w / 4, y2 - h / 4]
        else:
            new[i] = [xs[0], ys[0], xs[1], ys[1]]
    for i in sorted(reclassed):
        draw = keyed_uniform(seed, "una-class-choice", keys[i : i + 1], 1)[0, 0]
        classes[i] = int(class_ids[min(int(draw * len(class_ids)), len(class_ids) - 1)])
    added = round(n * ratio / (1 - ratio))
    spurious = []
    for j in range(added):
        image = j % len(image_size)
        u = keyed_uniform(seed, "una-spurious", np.array([j], np.uint64), 5)[0]
        width, height = (float(v) for v in image_size[image])
        xs, ys = sorted([u[0] * width, u[1] * width]), sorted([u[2] * height, u[3] * height])
        category = int(class_ids[min(int(u[4] * len(class_ids)), len(class_ids) - 1)])
        spurious.append((image, [xs[0], ys[0], xs[1], ys[1]], category))
    return dropped, relocated, reclassed, new, classes, spurious


@pytest.mark.parametrize("ratio", [0.0, 0.15, 0.5])
def test_una_noise_equals_the_box_by_box_reference(ratio):
    """Every box's fate, new corners (borders, thin boxes), new class and every added box
    equal :func:`_una_reference`'s, on 4 images of different sizes."""
    from noisybox.noise.una import una_noise

    rng = np.random.default_rng(5)
    n = 240
    image_size = np.array([[640.0, 480.0], [200.0, 300.0], [50.0, 900.0], [1000.0, 100.0]])
    image_of_box = rng.integers(0, 4, n)
    size = image_size[image_of_box]
    corner = rng.uniform(0, 0.9, (n, 2)) * size
    corner[:20] = 0.0  # at the top left border
    extent = rng.uniform(0.02, 0.6, (n, 2)) * size
    boxes = np.concatenate([corner, np.minimum(corner + extent, size)], axis=1)
    categories = rng.choice([3, 7, 8], n)
    keys = integer_keys(rng.permutation(10 * n)[:n].tolist())
    min_size = np.where(rng.random((n, 2)) < 0.3, extent * 0.9, 1.0)  # many left too thin
    class_ids = np.array([3, 7, 8, 12])
    found = una_noise(boxes, categories, keys, image_of_box, image_size, class_ids, ratio, 9,
                      min_size)  # fmt: skip
    dropped, relocated, reclassed, new, classes, spurious = _una_reference(
        boxes, categories, keys, image_of_box, image_size, class_ids, ratio, 9, min_size
    )
    assert np.flatnonzero(found.dropped).tolist() == sorted(dropped)
    assert np.flatnonzero(found.relocated).tolist() == sorted(relocated)
    assert np.flatnonzero(found.reclassed).tolist() == sorted(reclassed)
    np.testing.assert_array_equal(found.boxes, np.array(new))
    assert found.classes.tolist() == classes
    assert found.added_image.tolist() == [image for image, _, _ in spurious]
    np.testing.assert_array_equal(found.added_boxes.reshape(-1, 4),
                                  np.array([b for _, b, _ in spurious]).reshape(-1, 4))  # fmt: skip
    assert found.added_category.tolist() == [c for _, _, c in spurious]
    if ratio:  # the cases the reference exercises
        thin = [i for i in relocated if new[i][0] > boxes[i][0] and new[i][2] < boxes[i][2]]
        assert len(thin) > 3 and len(spurious) > 40
        assert any(new[i][0] == 0.0 for i in relocated)


def _flip_reference(category, class_ids, probability, uniforms, confusion=None):
    """Box by box: flip when the first uniform is below ``probability``, to the first class
    whose cumulative share (the true class's row of ``confusion`` without its diagonal,
    normalised; a row of zeros or no matrix: all others equally) exceeds the second."""
    ids = [int(c) for c in class_ids]
    out = []
    for value, (u_flip, u_class) in zip(category.tolist(), uniforms.tolist(), strict=True):
        if len(ids) < 2 or u_flip >= probability:
            out.append(value)
            continue
        row = ids.index(value)
        weights = [0.0 if j == row else (1.0 if confusion is None else float(confusion[row][j]))
                   for j in range(len(ids))]  # fmt: skip
        if sum(weights) == 0:
            weights = [0.0 if j == row else 1.0 for j in range(len(ids))]
        total, cumulative, chosen = sum(weights), 0.0, len(ids) - 1
        for j, weight in enumerate(weights):
            cumulative += weight / total
            if cumulative > u_class:
                chosen = j
                break
        out.append(ids[chosen])
    return out


def test_flip_classes_equals_the_box_by_box_reference():
    from noisybox.noise.labels import flip_classes

    rng = np.random.default_rng(2)
    class_ids = np.array([2, 5, 9, 11])
    category = rng.choice(class_ids, 2000)
    uniforms = rng.random((2000, 2))
    confusion = np.array([[0, 3, 1, 0], [0, 0, 0, 0], [1, 1, 5, 2], [0, 0, 4, 0]], float)
    for matrix in (None, confusion):
        found = flip_classes(category, class_ids, 0.3, uniforms, matrix)
        expected = _flip_reference(category, class_ids, 0.3, uniforms, matrix)
        assert found.tolist() == expected
        flipped = found != category
        assert abs(flipped.mean() - 0.3) < 0.04 and not (flipped & (uniforms[:, 0] >= 0.3)).any()
    # class 5's row is zeros: its boxes go to the three others; class 11's only to 9
    found = flip_classes(category, class_ids, 1.0, uniforms, confusion)
    assert set(found[category == 5].tolist()) == {2, 9, 11}
    assert set(found[category == 11].tolist()) == {9}
    assert (
        flip_classes(category[:5], np.array([2]), 1.0, uniforms[:5]).tolist()
        == category[:5].tolist()
    )


def test_spurious_boxes_equal_the_box_by_box_reference():
    """Each parent with its first uniform below the probability spawns one box: width and
    height its own times 0.5 + u (kept in (0, 1]), centre uniform where the box fits, a
    uniform class."""
    from noisybox.noise.labels import spurious_boxes

    rng = np.random.default_rng(4)
    boxes = np.column_stack([rng.random((500, 2)), rng.uniform(0.01, 0.9, (500, 2))])
    boxes[:10, 2:] = 0.95  # grown past the image: clipped to 1
    uniforms = rng.random((500, 6))
    uniforms[:10, 0] = 0.0
    class_ids = np.array([4, 6, 10])
    parents, new, classes = spurious_boxes(boxes, class_ids, 0.25, uniforms)
    expected = []
    for row, (box, u) in enumerate(zip(boxes.tolist(), uniforms.tolist(), strict=True)):
        if u[0] >= 0.25:
            continue
        w = min(max(box[2] * (0.5 + u[1]), 1e-6), 1.0)
        h = min(max(box[3] * (0.5 + u[2]), 1e-6), 1.0)
        category = int(class_ids[min(int(u[5] * 3), 2)])
        expected.append((row, [w / 2 + u[3] * (1 - w), h / 2 + u[4] * (1 - h), w, h], category))
    assert parents.tolist() == [row for row, _, _ in expected]
    np.testing.assert_array_equal(new, np.array([b for _, b, _ in expected]))
    assert classes.tolist() == [c for _, _, c in expected]
    assert (new[:, 2] == 1.0).sum() >= 5  # the clipped ones are in the test
    assert (
        (new[:, :2] - new[:, 2:] / 2 >= -1e-12) & (new[:, :2] + new[:, 2:] / 2 <= 1 + 1e-12)
    ).all()


def test_a_noise_config_describes_what_a_manifest_records():
    """The rates switched on (in the order applied), the confusion weights, include_crowd,
    and box_fraction and protocol only where they differ from the defaults."""
    assert NoiseConfig().describe() == {"confusion": None, "include_crowd": False}
    config = NoiseConfig(eta=0.2, flip=0.1, drop=0.05, confusion={"a": {"b": 2.0}},
                         include_crowd=True, box_fraction=0.5, protocol="oa-mil")  # fmt: skip
    described = config.describe()
    assert described == {
        "eta": 0.2, "flip": 0.1, "drop": 0.05, "confusion": {"a": {"b": 2.0}},
        "include_crowd": True, "box_fraction": 0.5, "protocol": "oa-mil",
    }  # fmt: skip
    assert list(described)[:3] == ["eta", "flip", "drop"]
    assert list(NoiseConfig(spurious=0.1, gaussian=0.2, scale=0.3, shift=0.4).rates()) == [
        "gaussian", "shift", "scale", "spurious"
    ]  # fmt: skip
    assert "box_fraction" not in NoiseConfig(box_fraction=1.0).describe()
    assert "protocol" not in NoiseConfig(protocol="alpha-iou").describe()


@pytest.mark.parametrize("units", ["pixels", "normalized"])
def test_clip_keep_empty_equals_oa_mil_s_rule_box_by_box(units):
    """Reference: OA-MIL's noise generator clips to [0, W − 1] × [0, H − 1] pixels; a box
    left empty keeps its clean original; ``clipped`` marks the boxes the clip changed."""
    from noisybox.noise.protocols import clip_keep_empty

    rng = np.random.default_rng(8)
    n = 400
    scale = np.tile(rng.uniform(50, 500, (n, 2)), 2) if units == "pixels" else np.ones((n, 4))
    noisy = np.column_stack([rng.uniform(-0.3, 1.3, (n, 2)), rng.uniform(0.01, 0.6, (n, 2))])
    noisy[:15, 0] = -0.5  # wholly outside on the left: emptied
    clean = rng.uniform(0, 1, (n, 4)) * scale
    found, flags = clip_keep_empty(noisy, clean, scale, np.ones((n, 2)), units)
    one = 1.0 if units == "pixels" else 0.0
    for i in range(n):
        cx, cy, w, h = noisy[i]
        box = [(cx - w / 2) * scale[i, 0], (cy - h / 2) * scale[i, 1],
               (cx + w / 2) * scale[i, 2], (cy + h / 2) * scale[i, 3]]  # fmt: skip
        clipped = [max(box[0], 0.0), max(box[1], 0.0),
                   min(box[2], scale[i, 2] - one), min(box[3], scale[i, 3] - one)]  # fmt: skip
        empty = clipped[2] <= clipped[0] or clipped[3] <= clipped[1]
        expected = clean[i].tolist() if empty else clipped
        np.testing.assert_allclose(found[i], expected, rtol=1e-12, atol=1e-9)
        assert flags["kept_original"][i] == empty
        assert flags["clipped"][i] == (not empty and not np.allclose(clipped, box, 0, 1e-12))
    assert flags["kept_original"].sum() >= 15 and flags["clipped"].sum() > 50


#: the configurations whose exact output for one seed is pinned in tests/golden/noise.json
GOLDEN_CONFIGS = {
    "eta": ("coco", NoiseConfig(eta=0.7)),
    "eta oa-mil": ("coco", NoiseConfig(eta=0.7, protocol="oa-mil")),
    "una": ("coco", NoiseConfig(eta=0.3, protocol="una")),
    "una yolo": ("yolo", NoiseConfig(eta=0.3, protocol="una")),
    "eta yolo": ("yolo", NoiseConfig(eta=0.4, shift=0.3)),
    "gaussian shift scale": ("coco", NoiseConfig(gaussian=0.4, shift=0.5, scale=0.5,
                                                  box_fraction=0.6)),
    "labels": ("coco", NoiseConfig(flip=0.4, confusion={"cat": {"dog": 1.0}}, drop=0.2,
                                   spurious=0.3)),
    "crowd": ("coco", NoiseConfig(eta=0.2, include_crowd=True)),
}  # fmt: skip


def _golden_outputs(tmp_path) -> dict:
    """What ``corrupt`` gives at seed 11 for each of :data:`GOLDEN_CONFIGS`, as JSON."""
    document = coco_document(images=8, boxes_per_image=5, seed=4)
    document["annotations"][4]["bbox"][2] = -3.0  # an invalid box, left alone
    sources = {
        "coco": read_annotations(write_coco(tmp_path / "golden.json", document), on_invalid="keep"),
        "yolo": read_annotations(write_yolo(tmp_path / "golden-yolo", files=4, seed=4)),
    }
    outputs = {}
    for name, (source, config) in GOLDEN_CONFIGS.items():
        changes, report = corrupt(sources[source], config, seed=11)
        outputs[name] = {
            "boxes": changes.boxes.tolist(),
            "category": changes.category.tolist(),
            "keep": changes.keep.tolist(),
            "added": [
                changes.added_image.tolist(),
                changes.added_category.tolist(),
                changes.added_boxes.tolist(),
            ],
            "report": report.to_dict(),
            "fitted": None if report.fitted is None else report.fitted.tolist(),
            "spurious_parents": np.asarray(report.spurious_parents).tolist(),
        }
    return json.loads(json.dumps(outputs))


def test_a_seed_gives_the_same_noisy_annotations_forever(tmp_path):
    """The exact output of every noise model for one seed, pinned: a noisy dataset is a pure
    function of (file, settings, seed), and bench re-derives training files from it, so a
    changed stage name, draw count or sign (each invisible to the statistical tests above)
    would silently change every study's data. The statistics of these models are checked
    against their references above; this pins the stream. After a deliberate change, rewrite
    the file with ``NOISYBOX_WRITE_GOLDEN=1 pytest tests/test_noise.py -k forever`` and say
    so in the change log."""
    import os
    from pathlib import Path

    golden = Path(__file__).parent / "golden" / "noise.json"
    outputs = _golden_outputs(tmp_path)
    if os.environ.get("NOISYBOX_WRITE_GOLDEN"):
        golden.write_text(json.dumps(outputs, indent=1) + "\n")
    expected = json.loads(golden.read_text())
    assert outputs.keys() == expected.keys()
    for name in expected:
        assert outputs[name] == expected[name], name
    # the fixture exercises what it pins
    assert expected["crowd"]["report"]["untouched_crowd"] == 0
    assert expected["eta"]["report"]["untouched_crowd"] == 1
    assert expected["eta"]["report"]["untouched_invalid"] == 1
    assert sum(expected["labels"]["keep"]) < len(expected["labels"]["keep"])
    assert expected["labels"]["added"][0] and expected["una"]["added"][0]
    assert any(expected["eta"]["fitted"]) and expected["labels"]["spurious_parents"]
    clamped = expected["eta"]["report"]["clamped"]
    assert clamped["x"] and clamped["y"] and expected["eta oa-mil"]["report"]["clamped"]["clipped"]
    assert expected["gaussian shift scale"]["report"]["clamped"]["height"]


#: one bad value of each kind of setting
BAD_NOISE_SETTINGS = {"protocol": "gaussian", "box_fraction": 1.5, "eta": float("inf"),
                      "shift": -0.1, "drop": 1.5, "spurious": 2.0, "scale": 1.0}  # fmt: skip


@pytest.mark.parametrize(("parameter", "value"), BAD_NOISE_SETTINGS.items())
def test_a_bad_noise_setting_names_its_parameter(parameter, value):
    """The error names the setting as the library calls it (the command line shows it as
    its flag)."""
    with pytest.raises(NoisyboxError, match=parameter) as raised:
        NoiseConfig(**{parameter: value})
    assert raised.value.parameter == parameter


def test_una_at_ratio_one_drops_every_box_and_adds_none():
    from noisybox.noise.una import una_noise

    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 30.0]])
    image_size, classes = np.array([[40.0, 40.0]]), np.array([1, 2])
    found = una_noise(boxes, classes, integer_keys([1, 2]), np.array([0, 0]), image_size,
                      classes, 1.0, 3, np.ones((2, 2)))  # fmt: skip
    assert found.dropped.all() and len(found.added_boxes) == 0 and len(found.added_image) == 0
