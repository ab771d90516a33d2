"""What every registered box loss must satisfy, checked name by name through ``build_loss``:
finite loss and gradient on degenerate, tiny, huge and 16-bit boxes; zero (or its stated
floor) at identical boxes; non-negative; symmetric where its formula is; α = 1 of each
``alpha-*`` name equals the plain name; Wise-IoU v3's running mean lives in the state dict."""

import math

import pytest
import torch
from hypothesis import given, settings

from noisybox.losses import LOSSES, WiseIoULoss, build_loss, wise_iou_loss

from .boxes import CORNER_CASES as DEGENERATE
from .boxes import box_pairs

IMAGE = (640.0, 480.0)
IOU_BASED = [name for name, s in LOSSES.items() if s["family"] in ("iou", "wise")]
#: the most a loss can be at identical boxes: 0 where the formula gives it. NWD adds eps
#: (1e-7) to the squared centre distance, as its authors' code does: 1 - exp(-sqrt(eps)/12.8);
#: mmrotate's GWD and KLD floor the distance's square at 1e-7, so KLD gives
#: 1 - 1/(1 + log1p(sqrt(1e-7))) ≈ 3.2e-4 and GWD that distance over the box size, less.
NWD_AT_IDENTICAL = 1 - math.exp(-math.sqrt(1e-7) / 12.8)
AT_IDENTICAL = {
    "nwd": NWD_AT_IDENTICAL,
    "alpha-nwd": 1 - (1 - NWD_AT_IDENTICAL) ** 3,
    "gwd": 1 - 1 / (1 + math.log1p(math.sqrt(1e-7))),
    "kld": 1 - 1 / (1 + math.log1p(math.sqrt(1e-7))),
}
#: losses whose formula is symmetric in prediction and target (others weight one side:
#: CIoU's β, Shape-IoU's target-shape weights, KLD's order, focal/wise weights are symmetric
#: but CIoU/EIoU/SIoU penalties are too; what is not: Shape-IoU, KLD)
ASYMMETRIC = {"shape-iou", "kld", "l1", "smooth-l1"}


def build(name: str, **kwargs) -> torch.nn.Module:
    return build_loss(name, reduction="none", image_size=IMAGE, **kwargs)


def test_every_name_builds_and_names_its_family():
    for name, setting in LOSSES.items():
        loss = build(name)
        assert isinstance(loss, torch.nn.Module)
        if "alpha" in setting:
            assert loss.alpha == setting["alpha"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", list(LOSSES))
def test_finite_loss_and_gradient_on_degenerate_boxes(name, dtype):
    """16-bit inputs (1e4 is exact in both) compute in float32; their gradient is the float32
    one cast back, finite wherever it fits the dtype (a 1e-7 eps over a zero-area enclosing
    box gives gradients beyond float16's 65504, as any float16 computation would)."""
    pred = torch.tensor([p for p, _ in DEGENERATE.values()]).to(dtype).requires_grad_(True)
    target = torch.tensor([t for _, t in DEGENERATE.values()]).to(dtype)
    pred32 = pred.detach().float().requires_grad_(True)
    loss = build(name)(pred, target)
    loss.sum().backward()
    build(name)(pred32, target.float()).sum().backward()
    cases = list(DEGENERATE)
    bad = [cases[i] for i in range(len(cases)) if not torch.isfinite(loss[i])]
    assert not bad, f"{name}: non-finite loss for {bad}"
    bad = [cases[i] for i in range(len(cases)) if not torch.isfinite(pred32.grad[i]).all()]
    assert not bad, f"{name}: non-finite gradient for {bad}"
    fits = pred32.grad.abs() <= torch.finfo(dtype).max
    assert torch.isfinite(pred.grad[fits]).all()


@pytest.mark.parametrize("name", list(LOSSES))
@settings(max_examples=40, deadline=None)
@given(pairs=box_pairs())
def test_zero_at_identical_boxes_and_non_negative(name, pairs):
    pred, target = pairs
    loss = build(name)
    assert (loss(pred, target) >= -1e-12).all()
    at_identical = loss(target, target)
    assert (at_identical >= -1e-12).all()
    # + eps/area at most: IoU = inter / (union + eps), the torchvision convention
    assert (at_identical <= AT_IDENTICAL.get(name, 0.0) * (1 + 1e-6) + 1e-6).all()


@pytest.mark.parametrize("name", [n for n in LOSSES if n not in ASYMMETRIC])
@settings(max_examples=30, deadline=None)
@given(pairs=box_pairs())
def test_symmetric_where_the_formula_is(name, pairs):
    """Up to eps: SIoU adds eps to the centre offset (as YOLOv6), breaking exact symmetry."""
    pred, target = pairs
    loss = build(name).eval()  # Wise-IoU v3 updates its running mean only in training
    torch.testing.assert_close(loss(pred, target), loss(target, pred), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in LOSSES if n.startswith("alpha-")])
@settings(max_examples=20, deadline=None)
@given(pairs=box_pairs())
def test_alpha_one_of_each_alpha_name_is_its_plain_name(name, pairs):
    pred, target = pairs
    plain = name.removeprefix("alpha-")
    torch.testing.assert_close(build(name, alpha=1.0)(pred, target), build(plain)(pred, target))


@pytest.mark.slow  # compiles 14 kernels: about 40 s on 2 cores
@pytest.mark.parametrize("name", IOU_BASED)
def test_iou_based_losses_compile_to_the_eager_values(name):
    """The fused compiled path gives the eager loss and gradient (one case per name)."""
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(64, 2, generator=generator) * 100
    target = torch.cat([target, target + 1 + torch.rand(64, 2, generator=generator) * 50], 1)
    pred = target + torch.randn(64, 4, generator=generator) * 5
    eager, compiled = build(name), build(name, compile=True)
    results = []
    for module in (eager, compiled):
        boxes = pred.clone().requires_grad_(True)
        loss = module(boxes, target)
        loss.sum().backward()
        results.append((loss.detach(), boxes.grad))
    torch.testing.assert_close(results[0], results[1], rtol=1e-4, atol=1e-5)


def test_wise_iou_v3_running_mean_is_state_and_updates_only_in_training():
    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 4.0]])
    target = torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.0, 0.0, 4.0, 4.0]])
    loss = WiseIoULoss(focusing=True, momentum=0.5, reduction="none")
    assert "iou_mean" in loss.state_dict()
    assert "iou_mean" not in WiseIoULoss().state_dict()  # v1 keeps no state
    first = loss(pred, target)
    # mean of 1 - IoU is (2/3 + 0) / 2 = 1/3; the update comes before the scaling
    assert loss.iou_mean.item() == pytest.approx(0.5 * 1 + 0.5 / 3)
    expected = wise_iou_loss(pred, target, iou_mean=loss.iou_mean.item())
    torch.testing.assert_close(first, expected)
    restored = WiseIoULoss(focusing=True, momentum=0.5, reduction="none")
    restored.load_state_dict(loss.state_dict())
    restored.eval()
    torch.testing.assert_close(restored(pred, target), loss.eval()(pred, target))
    assert restored.iou_mean.item() == loss.iou_mean.item()  # eval mode reads only


def test_mpdiou_needs_the_image_size():
    with pytest.raises(ValueError, match="image_size"):
        build_loss("mpdiou")
    assert build_loss("mpdiou", image_size=(320, 320)).recipe.options.image_size == (320, 320)


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        ("gwd:2", {}, "takes no alpha"),
        ("nwd", {"alpha_penalty": 2.0}, "no penalty terms"),
        ("kld", {"compile": True}, "no compiled form"),
        ("siou", {"theta": -1.0}, "theta must be > 0"),
        ("inner-iou", {"inner_ratio": 0.0}, "inner_ratio must be > 0"),
        ("nwd", {"constant": 0.0}, "constant must be > 0"),
        ("wiou-v3", {"momentum": 2.0}, "momentum"),
        ("siou", {"nonsense": 1}, "nonsense"),
        ("giou", {"penalty_form": "official"}, "giou has not"),
    ],
)
def test_registry_errors_name_the_setting(spec, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_loss(spec, **kwargs)
