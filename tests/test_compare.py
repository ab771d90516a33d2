"""``noisybox compare``: matching two annotation sets and their equivalent noise level."""

import json
from dataclasses import replace

import numpy as np
import pytest
from noisybox.cli import main

from noisybox.compare import _with_changes, compare_annotations
from noisybox.formats import read_annotations
from noisybox.noise import NoiseConfig, corrupt

from .datasets import SHARED, coco_document, write_coco


def noisy_copy(clean, protocol, eta, seed):
    """``clean`` with ``protocol``'s noise applied, as annotations (dropped rows invalid)."""
    changes, _ = corrupt(clean, NoiseConfig(eta=eta, protocol=protocol), seed)
    noisy, keep = _with_changes(clean, changes)
    return replace(noisy, valid=noisy.valid & keep)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    return read_annotations(write_coco(folder / "t.json", coco_document(images=250, seed=2)))


def test_a_set_against_itself_is_clean(synthetic):
    found = compare_annotations(synthetic, synthetic)
    assert found.mean_iou == 1.0 and found.matched == found.clean_boxes
    assert found.missing_share == found.extra_share == found.class_changed_share == 0
    assert found.equivalent_eta == {"alpha-iou": 0.0, "oa-mil": 0.0, "una": 0.0}


def test_the_eta_of_a_corruption_is_recovered(synthetic):
    noisy = noisy_copy(synthetic, "alpha-iou", 0.2, seed=11)
    found = compare_annotations(synthetic, noisy, ("alpha-iou",))
    assert found.equivalent_eta["alpha-iou"] == pytest.approx(0.2, abs=0.03)
    assert found.missing_share == 0 and found.class_changed_share == 0


def test_missing_extra_and_relabelled_boxes_are_counted(synthetic):
    changes, report = corrupt(synthetic, NoiseConfig(drop=0.2, flip=0.3, spurious=0.1), 4)
    noisy, keep = _with_changes(synthetic, changes)
    found = compare_annotations(synthetic, replace(noisy, valid=noisy.valid & keep), ())
    usable = found.clean_boxes
    assert found.missing_share == pytest.approx(report.dropped / usable, abs=0.02)
    # a spurious box that overlaps a dropped box of its class is taken for it: a few
    assert found.extra_share * found.noisy_boxes == pytest.approx(report.spurious, rel=0.1)
    kept_flips = (changes.category != synthetic.category) & keep[: len(synthetic)]
    assert found.class_changed_share == pytest.approx(kept_flips.sum() / usable, abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["face-mask", "neu-det"])
@pytest.mark.parametrize("protocol", ["alpha-iou", "oa-mil", "una"])
def test_compare_recovers_eta_on_real_photos_within_0_02(protocol, name):
    from noisybox.compare import eta_curve, invert_curve

    if not (SHARED / name).is_dir():
        pytest.skip(f"shared {name} absent")
    clean = read_annotations(SHARED / name / "annotations")
    curve = eta_curve(clean, protocol)  # simulated with seed 0; the corruptions use others
    for eta, seed in ((0.1, 21), (0.2, 22), (0.3, 23)):
        found = compare_annotations(clean, noisy_copy(clean, protocol, eta, seed), ())
        assert invert_curve(curve, found.mean_iou) == pytest.approx(eta, abs=0.02)


@pytest.mark.parametrize("name", ["neu-det", "face-mask"])
def test_real_clean_annotations_against_themselves_give_eta_zero(name):
    if not (SHARED / name).is_dir():
        pytest.skip(f"shared {name} absent")
    clean = read_annotations(SHARED / name / "annotations")
    found = compare_annotations(clean, clean, ("alpha-iou",))
    assert found.equivalent_eta == {"alpha-iou": 0.0} and found.mean_iou == 1.0


def test_compare_command(tmp_path, capsys):
    source = write_coco(tmp_path / "clean.json", coco_document(images=60))
    assert main(["corrupt", str(source), "--eta", "0.2", "-o", str(tmp_path / "n.json")]) == 0
    capsys.readouterr()
    args = ["compare", str(source), str(tmp_path / "n.json"), "--protocol", "alpha-iou"]
    assert main([*args, "--json", "-o", str(tmp_path / "iou.png")]) == 0
    found = json.loads(capsys.readouterr().out)
    assert 0.6 < found["mean_iou"] < 0.8 and 0.1 < found["equivalent_eta"]["alpha-iou"] < 0.3
    assert (tmp_path / "iou.png").read_bytes().startswith(b"\x89PNG")
    assert main(args) == 0 and "equivalent η (alpha-iou)" in capsys.readouterr().out
    assert main([*args[:3], "--protocol", "coco"]) == 2
    assert "--protocol must be one of" in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "iou.gif")]) == 2
    assert np.isfinite(found["iou_quantiles"]["p50"])
