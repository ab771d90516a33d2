"""Each loss equals its authors' published code (transcribed in ``reference_losses.py`` with
source, commit and every adaptation) on random, nested, disjoint, identical and
coincident-centre pairs, in float64; and each equals its paper's formula written out here."""

import math

import pytest
import torch

from noisybox.losses import (
    WiseIoULoss,
    alpha_iou_loss,
    build_loss,
    focal_eiou_loss,
    gwd_loss,
    inner_iou_loss,
    kld_loss,
    mpdiou_loss,
    nwd_loss,
    shape_iou_loss,
    siou_loss,
    wise_iou_loss,
)

from . import reference_losses as ref

#: the reference codes put eps in other places (heights, union, centre offsets); in float64 at
#: pixel sizes that moves a loss by ~1e-9
CLOSE = {"rtol": 1e-6, "atol": 1e-7}


def pairs(n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel xyxy float64 pairs: overlapping, nested both ways, disjoint, identical, and
    centres that coincide with different sizes (each a sixth of the set)."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 300
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 150 + 5
    target = torch.cat([xy, xy + wh], 1)
    pred = target + torch.randn(n, 4, generator=g, dtype=torch.float64) * wh.repeat(1, 2) * 0.3
    pred[:, 2:] = torch.maximum(pred[:, 2:], pred[:, :2] + 1)
    k = n // 6
    inside = torch.tensor([0.1, 0.2, -0.3, -0.25], dtype=torch.float64)  # off-centre nesting
    pred[k : 2 * k] = target[k : 2 * k] + wh[k : 2 * k].repeat(1, 2) * inside
    pred[2 * k : 3 * k] = target[2 * k : 3 * k] - wh[2 * k : 3 * k].repeat(1, 2) * inside
    pred[3 * k : 4 * k] = target[3 * k : 4 * k] + 400  # disjoint
    pred[4 * k : 5 * k] = target[4 * k : 5 * k]  # identical
    centre = (target[5 * k :, :2] + target[5 * k :, 2:]) / 2  # same centre, other size
    half = wh[5 * k :].flip(1) / 2
    pred[5 * k :] = torch.cat([centre - half, centre + half], 1)
    return pred, target


def test_the_case_mix_covers_every_relation():
    pred, target = pairs()
    iou = 1 - alpha_iou_loss(pred, target, alpha=1.0)
    k = len(pred) // 6
    assert (iou[3 * k : 4 * k] == 0).all() and (iou[4 * k : 5 * k] > 1 - 1e-9).all()
    nested = torch.cat([pred[k : 2 * k], target[2 * k : 3 * k]])
    around = torch.cat([target[k : 2 * k], pred[2 * k : 3 * k]])
    assert (nested[:, :2] > around[:, :2]).all() and (nested[:, 2:] < around[:, 2:]).all()
    centres = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
    torch.testing.assert_close(centres(pred[5 * k :]), centres(target[5 * k :]))


def test_siou_equals_yolov6():
    pred, target = pairs()
    expected = ref.siou_loss_yolov6(pred, target, eps=1e-7, center_eps=True)
    torch.testing.assert_close(siou_loss(pred, target), expected, **CLOSE)


def test_siou_is_finite_where_yolov6_gives_nan():
    """meituan's stored YOLOv6 has no eps in the centre offset: identical boxes give NaN."""
    box = torch.tensor([[10.0, 10.0, 30.0, 50.0]], dtype=torch.float64)
    assert torch.isnan(ref.siou_loss_yolov6(box, box)).all()
    assert siou_loss(box, box).abs().item() < 1e-6


def test_wise_iou_v1_equals_the_authors_code():
    pred, target = pairs()
    authors = ref.WiseIoUAuthor(n=100, t=10, monotonous=None)
    torch.testing.assert_close(wise_iou_loss(pred, target), authors(pred, target), **CLOSE)


def test_wise_iou_v3_follows_the_authors_code_step_by_step():
    """Same running mean, same focusing, three training steps on different batches; the
    authors' momentum 1 - 0.05^(1/(n t)) for n t training steps."""
    steps = 3
    authors = ref.WiseIoUAuthor(n=steps, t=1, monotonous=False)
    ours = WiseIoULoss(focusing=True, momentum=authors.momentum, reduction="none")
    ours.double()
    for seed in range(steps):
        pred, target = pairs(seed=seed)
        torch.testing.assert_close(ours(pred, target), authors(pred, target), **CLOSE)
        assert ours.iou_mean.item() == pytest.approx(authors.iou_mean.item(), rel=1e-6)


def test_mpdiou_equals_the_common_implementation_normalised_by_the_image():
    """No code from the MPDIoU authors is published; the widely copied YOLO snippet
    normalises by the input image's w² + h² as the paper does."""
    pred, target = pairs()
    expected = ref.mpdiou_loss_community(pred, target, feat_h=480, feat_w=640)
    torch.testing.assert_close(mpdiou_loss(pred, target, image_size=(640, 480)), expected, **CLOSE)


@pytest.mark.parametrize("ratio", [0.7, 1.0, 1.3])
def test_inner_losses_equal_the_authors_code(ratio):
    pred, target = pairs()
    for kind, reference in (
        ("iou", ref.inner_iou_loss),
        ("ciou", ref.inner_ciou_loss),
        ("siou", ref.inner_siou_loss),
    ):
        ours = inner_iou_loss(pred, target, kind=kind, ratio=ratio)
        torch.testing.assert_close(ours, reference(pred, target, ratio=ratio), **CLOSE)


def test_inner_losses_are_the_plain_loss_plus_iou_minus_inner_iou():
    """The paper's definition, L_inner-X = L_X + IoU - IoU_inner, for every inner kind."""
    pred, target = pairs()
    iou = 1 - alpha_iou_loss(pred, target, alpha=1.0)
    inner = 1 - inner_iou_loss(pred, target, ratio=0.8)
    for kind in ("iou", "giou", "diou", "ciou", "eiou", "siou"):
        plain = alpha_iou_loss(pred, target, kind=kind, alpha=1.0)
        torch.testing.assert_close(
            inner_iou_loss(pred, target, kind=kind, ratio=0.8), plain + iou - inner
        )


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0])
def test_shape_iou_equals_the_authors_code(scale):
    pred, target = pairs()
    expected = ref.shape_iou_loss(pred, target, scale=scale)
    torch.testing.assert_close(shape_iou_loss(pred, target, scale=scale), expected, **CLOSE)


def test_focal_eiou_equals_the_common_implementation():
    """The Focal-EIoU authors published no code; the widely copied YOLO snippet detaches
    IoU^γ as here (so disjoint pairs get 0 loss and no gradient)."""
    pred, target = pairs()
    expected = ref.focal_eiou_loss_community(pred, target, gamma=0.5)
    torch.testing.assert_close(focal_eiou_loss(pred, target), expected, **CLOSE)


def test_nwd_equals_the_authors_code():
    pred, target = pairs()
    torch.testing.assert_close(nwd_loss(pred, target), ref.nwd_loss(pred, target), **CLOSE)
    expected = ref.nwd_loss(pred, target, constant=4.0)
    torch.testing.assert_close(nwd_loss(pred, target, constant=4.0), expected, **CLOSE)


@pytest.mark.parametrize("tau", [1.0, 2.0, 0.0])
def test_gwd_and_kld_equal_mmrotate_at_angle_zero(tau):
    pred, target = pairs()
    for ours, theirs in ((gwd_loss, ref.gwd_loss_mmrotate), (kld_loss, ref.kld_loss_mmrotate)):
        torch.testing.assert_close(ours(pred, target, tau=tau), theirs(pred, target, tau=tau))


@pytest.mark.parametrize("kind", ["giou", "diou", "ciou"])
@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_alpha_iou_equals_the_official_code_in_both_penalty_forms(kind, alpha):
    """The α-IoU repository has held two DIoU penalties: (ρ_x^2α + ρ_y^2α)/(c_w^2α + c_h^2α)
    (commit 2554b46, ``penalty_form="official"``) and the paper's (ρ²/c²)^α (39d439e)."""
    pred, target = pairs()
    flags = {kind.upper().replace("IOU", "IoU"): True}
    for ours_form, their_form in (("official", "beta"), ("paper", "pow")):
        if kind == "giou":  # GIoU has no distance term: both versions are the paper's
            ours_form = "paper"
        ours = alpha_iou_loss(pred, target, kind=kind, alpha=alpha, penalty_form=ours_form)
        theirs = ref.alpha_iou_loss_official(
            pred, target, alpha=alpha, penalty_form=their_form, **flags
        )
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


def test_the_two_penalty_forms_differ_by_a_lot_per_pair():
    """Why the option exists: two thin boxes side by side in a square enclosing box, centres
    9.9 apart on x: the official form gives 9.9^6 / (10^6 + 10^6), the paper's
    (9.9² / (10² + 10²))^3, 0.47 against 0.12 at α = 3."""
    pred = torch.tensor([[0.0, 0.0, 0.1, 10.0]], dtype=torch.float64)
    target = torch.tensor([[9.9, 0.0, 10.0, 10.0]], dtype=torch.float64)
    forms = {
        form: alpha_iou_loss(pred, target, kind="diou", penalty_form=form).item() - 1
        for form in ("paper", "official")
    }
    assert forms["official"] == pytest.approx(9.9**6 / (2 * 10**6), rel=1e-8)
    assert forms["paper"] == pytest.approx((9.9**2 / 200) ** 3, rel=1e-8)
    assert forms["official"] - forms["paper"] > 0.35
    built = build_loss("alpha-diou", penalty_form="official", reduction="none")
    assert built(pred, target).item() == pytest.approx(1 + forms["official"])


# ---- each paper's formula, written out per pair in float64 ----------------------------------


def _iou(p, g):
    return 1 - alpha_iou_loss(torch.tensor([p]), torch.tensor([g]), alpha=1.0).item()


def _paper_siou(p, g, theta=4.0):
    """SIoU, Gevorgyan 2022, eq. (1)-(11), one pair of xyxy lists: (IoU, [penalty terms])."""
    sx, sy = (g[0] + g[2] - p[0] - p[2]) / 2, (g[1] + g[3] - p[1] - p[3]) / 2
    sigma = math.hypot(sx, sy)
    angle = math.asin(min(abs(sx), abs(sy)) / sigma)  # to the nearer axis
    lam = 1 - 2 * math.sin(angle - math.pi / 4) ** 2  # eq. (3)
    cw, ch = max(p[2], g[2]) - min(p[0], g[0]), max(p[3], g[3]) - min(p[1], g[1])
    gamma = 2 - lam
    delta = sum(1 - math.exp(-gamma * rho) for rho in ((sx / cw) ** 2, (sy / ch) ** 2))
    w, h, wg, hg = p[2] - p[0], p[3] - p[1], g[2] - g[0], g[3] - g[1]
    omega = sum((1 - math.exp(-abs(a - b) / max(a, b))) ** theta for a, b in ((w, wg), (h, hg)))
    return _iou(p, g), [(delta + omega) / 2]


def _paper_mpdiou(p, g, width=640, height=480):
    """MPDIoU, Ma & Xu 2023, eq. (1)-(3): (IoU, [d1²/(W²+H²), d2²/(W²+H²)])."""
    d1 = (p[0] - g[0]) ** 2 + (p[1] - g[1]) ** 2
    d2 = (p[2] - g[2]) ** 2 + (p[3] - g[3]) ** 2
    return _iou(p, g), [d1 / (width**2 + height**2), d2 / (width**2 + height**2)]


def _paper_nwd(p, g, c=12.8):
    """NWD, Wang et al. 2021, eq. (5)-(6), Gaussians N((cx, cy), diag(w²/4, h²/4)): (NWD, [])."""
    half = lambda b: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, (b[2] - b[0]) / 2, (b[3] - b[1]) / 2)  # noqa: E731
    w2 = sum((a - b) ** 2 for a, b in zip(half(p), half(g), strict=True))
    return math.exp(-math.sqrt(w2) / c), []


@pytest.mark.parametrize("alpha", [1.0, 3.0, 0.5])
def test_siou_mpdiou_and_nwd_equal_their_papers_formulas_with_the_alpha_rule(alpha):
    """1 - S^α + Σ P^α: S the IoU (NWD's similarity), P each additive penalty term."""
    pred, target = pairs()
    keep = slice(0, 4 * (len(pred) // 6))  # SIoU's angle is undefined at equal centres
    p, g = pred[keep], target[keep]
    for ours, formula in (
        (siou_loss(p, g, alpha=alpha), _paper_siou),
        (mpdiou_loss(p, g, image_size=(640, 480), alpha=alpha), _paper_mpdiou),
        (nwd_loss(p, g, alpha=alpha), _paper_nwd),
    ):
        expected = []
        for a, b in zip(p.tolist(), g.tolist(), strict=True):
            similarity, terms = formula(a, b)
            expected.append(1 - similarity**alpha + sum(t**alpha for t in terms))
        torch.testing.assert_close(ours, torch.tensor(expected, dtype=torch.float64), **CLOSE)
