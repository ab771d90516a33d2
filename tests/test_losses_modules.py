"""Loss modules, the name registry and the compiled (fused) path."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from noisybox.losses import (
    LOSSES,
    AlphaIoULoss,
    BoxCoxIoULoss,
    CoordinateLoss,
    alpha_iou_loss,
    box_cox_iou_loss,
    build_loss,
    parse_loss_spec,
)

from .boxes import random_boxes


@pytest.fixture
def boxes():
    generator = torch.Generator().manual_seed(7)
    return random_boxes(40, generator).float(), random_boxes(40, generator).float()


def test_every_registered_name_is_in_the_readme_loss_table():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme[readme.index("| name | loss | source |") :].split("\n\n")[0]
    rows = [line.split("|")[1] for line in table.splitlines()[2:]]
    documented = {name.strip(" `") for row in rows for name in row.split(",")}
    assert documented == set(LOSSES)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "ciou"])
def test_registry_builds_the_paper_losses(kind, boxes):
    pred, target = boxes
    plain, powered = build_loss(kind), build_loss(f"alpha-{kind}")
    assert (plain.kind, plain.alpha, powered.kind, powered.alpha) == (kind, 1.0, kind, 3.0)
    expected = alpha_iou_loss(pred, target, kind=kind, alpha=3.0, reduction="mean")
    torch.testing.assert_close(powered(pred, target), expected)


def test_alpha_can_be_overridden_by_spec_or_argument(boxes):
    pred, target = boxes
    assert build_loss("alpha-diou:2.5").alpha == 2.5
    assert build_loss("alpha-diou:2.5", alpha=4.0).alpha == 4.0
    assert build_loss("ALPHA-DIoU").alpha == 3.0
    loss = build_loss("alpha-iou", alpha=1.0)  # alpha = 1 is the plain IoU loss
    torch.testing.assert_close(loss(pred, target), build_loss("iou")(pred, target))
    assert build_loss("alpha-ciou", alpha_penalty=1.0).alpha_penalty == 1.0


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        ("focal-iou", {}, "unknown loss 'focal-iou'; choose from iou, giou"),
        ("alpha-iou:three", {}, "'three' is not a number"),
        ("iou", {"alpha": 3.0}, "use 'alpha-iou'"),
        ("iou:2", {}, "use 'alpha-iou'"),
        ("l1", {"alpha": 3.0}, "takes no alpha"),
        ("alpha-iou:-1", {}, "alpha must be > 0"),
    ],
)
def test_registry_errors_are_clear(spec, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_loss(spec, **kwargs)


def test_parse_loss_spec():
    assert parse_loss_spec("alpha-diou:2.5") == ("alpha-diou", 2.5)
    assert parse_loss_spec(" giou ") == ("giou", None)


def test_coordinate_baselines_match_torch(boxes):
    pred, target = boxes
    torch.testing.assert_close(
        build_loss("l1", reduction="sum")(pred, target), F.l1_loss(pred, target, reduction="sum")
    )
    smooth = build_loss("smooth-l1", reduction="none")
    assert isinstance(smooth, CoordinateLoss) and smooth.beta == pytest.approx(1 / 9)
    expected = F.smooth_l1_loss(pred, target, beta=1 / 9, reduction="none").sum(-1)
    torch.testing.assert_close(smooth(pred, target), expected)


def test_box_cox_module(boxes):
    pred, target = boxes
    module = BoxCoxIoULoss(alpha=0.0, reduction="sum")
    torch.testing.assert_close(
        module(pred, target), box_cox_iou_loss(pred, target, alpha=0.0, reduction="sum")
    )
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        BoxCoxIoULoss(alpha=-0.5)


def test_module_checks_arguments_when_built():
    with pytest.raises(ValueError, match="box_format must be one of"):
        AlphaIoULoss(box_format="yxhw")
    assert "kind='ciou'" in repr(AlphaIoULoss("ciou"))


def test_compiled_module_equals_eager():
    """The fused path: same loss and gradient as eager, on the most involved kind."""
    generator = torch.Generator().manual_seed(8)
    pred = random_boxes(1000, generator).float().reshape(10, 100, 4)
    target = random_boxes(1000, generator).float().reshape(10, 100, 4)
    pred[0, :5, 2:] = pred[0, :5, :2]  # zero-area predictions, as early FCOS produces
    results = []
    for compile in (False, True):
        module = AlphaIoULoss("ciou", 3.0, alpha_penalty=2.0, reduction="none", compile=compile)
        boxes = pred.clone().requires_grad_(True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = module(boxes, target)
        fallbacks = [w for w in caught if "torch.compile failed" in str(w.message)]
        assert not fallbacks, fallbacks[0].message  # it must really have run compiled
        loss.sum().backward()
        results.append((loss.detach(), boxes.grad))
    assert results[1][0].shape == (10, 100)
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-4, atol=1e-6)
    assert torch.isfinite(results[1][1]).all()


def test_compile_failure_falls_back_to_eager(boxes):
    pred, target = boxes
    module = AlphaIoULoss("giou", compile=True)

    def broken_compiler(*args):
        raise RuntimeError("no C++ compiler")

    module._compiled = broken_compiler
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        loss = module(pred.requires_grad_(True), target)
    torch.testing.assert_close(loss, AlphaIoULoss("giou")(pred, target))
    assert module._compiled is None


def test_compiled_module_falls_back_where_fusion_does_not_apply(boxes):
    """No gradient wanted, or a gradient for the target too: computed eagerly, exactly."""
    pred, target = boxes
    module = AlphaIoULoss("diou", compile=True)

    def must_not_run(*args):
        raise AssertionError("the fused path ran")

    module._compiled = must_not_run
    eager = AlphaIoULoss("diou")
    with torch.no_grad():
        torch.testing.assert_close(module(pred, target), eager(pred, target))
    target = target.clone().requires_grad_(True)
    module(pred, target).backward()
    assert target.grad is not None and torch.isfinite(target.grad).all()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"box_format": "yxyx"}, "box_format must be one of xyxy, xywh, cxcywh; got 'yxyx'"),
        ({"reduction": "max"}, "reduction must be one of none, mean, sum; got 'max'"),
        ({"penalty_form": "authors"}, "penalty_form must be one of"),
        ({"inner_ratio": 0.0}, "inner_ratio must be > 0; got 0.0"),
        ({"kind": "siou", "theta": -1.0}, "theta must be > 0; got -1.0"),
        ({"shape_scale": float("inf"), "kind": "shape-iou"}, "shape_scale must be finite; got inf"),
        ({"kind": "mpdiou", "image_size": (0, 10)}, r"image_size must be \(width, height\) > 0"),
        ({"kind": "mpdiou", "image_size": (10, 10, 3)}, r"image_size must be \(width, height\)"),
        ({"kind": "giou", "penalty_form": "official"},
         "penalty_form official changes DIoU's distance term: diou, ciou and eiou have it, giou "
         "has not"),
    ],
)  # fmt: skip
def test_bad_loss_arguments_are_named_with_what_was_given(settings, message):
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match=message):
        alpha_iou_loss(boxes, boxes, **settings)


def test_a_loss_module_names_a_bad_weight_or_gamma_and_accepts_gamma_zero():
    with pytest.raises(ValueError, match="weight must be one of"):
        AlphaIoULoss("iou", weight="heavy")
    with pytest.raises(ValueError, match=r"gamma must be >= 0; got -0\.5"):
        AlphaIoULoss("eiou", weight="focal", gamma=-0.5)
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 2.0]])
    target = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]])
    focal = AlphaIoULoss("eiou", alpha=1.0, weight="focal", gamma=0.0, reduction="none")
    plain = AlphaIoULoss("eiou", alpha=1.0, reduction="none")
    torch.testing.assert_close(focal(boxes, target), plain(boxes, target))  # IoU^0 = 1


def test_image_sizes_and_the_default_alpha_of_box_cox():
    """Box-Cox's default α is 1 (the IoU loss); its default reduction keeps every pair; a
    disjoint pair is floored at eps = 1e-7."""
    from noisybox.losses import box_cox_iou_loss

    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0]])
    target = torch.tensor([[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    found = box_cox_iou_loss(pred, target)
    torch.testing.assert_close(found, torch.tensor([0.5, 1.0 - 1e-7]))
    assert alpha_iou_loss(pred, target, kind="mpdiou", image_size=(64, 48)).shape == (2,)
