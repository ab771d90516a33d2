"""What each registered loss is: its formula, parameters and source, for ``losses list`` and
the documentation. Torch-free; one entry per penalty kind or family, composed per name."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import LOSSES


@dataclass(frozen=True)
class LossInfo:
    """One registered name, described.

    Attributes:
        name: the key of :data:`noisybox.config.LOSSES`.
        formula: the loss per pair, in plain text (IoU = inter / (union + eps)).
        parameters: the settings it takes besides box format, reduction and eps.
        source: the paper (and the code it is checked against).
    """

    name: str
    formula: str
    parameters: str
    source: str


#: penalty kind or family -> (formula of its α = 1 form, parameters, source)
_BASE: dict[str, tuple[str, str, str]] = {
    "iou": ("1 - IoU", "", "Yu et al. 2016 (UnitBox); torchvision.ops"),
    "giou": ("1 - IoU + |C \\ (B ∪ G)| / |C|", "", "Rezatofighi et al. 2019; torchvision.ops"),
    "diou": ("1 - IoU + ρ²/c²", "", "Zheng et al. 2020; torchvision.ops"),
    "ciou": ("1 - IoU + ρ²/c² + βv", "", "Zheng et al. 2020; torchvision.ops"),
    "eiou": (
        "1 - IoU + ρ²/c² + (w-w_g)²/c_w² + (h-h_g)²/c_h²",
        "",
        "Zhang et al., Neurocomputing 2022 (not mmdetection's EIoULoss)",
    ),
    "siou": (
        "1 - IoU + (Δ + Ω)/2",
        "theta=4",
        "Gevorgyan 2022, arXiv:2205.12740; YOLOv6 code",
    ),
    "mpdiou": (
        "1 - IoU + d1²/(W²+H²) + d2²/(W²+H²)",
        "image_size=(W, H)",
        "Ma & Xu 2023, arXiv:2307.07662",
    ),
    "shape-iou": (
        "1 - IoU + (hh·ρx² + ww·ρy²)/c² + Ω_shape/2",
        "scale=0",
        "Zhang & Zhang 2023, arXiv:2312.17663; authors' code",
    ),
    "wise": (
        "exp(ρ²/(W_g²+H_g²)*) · (1 - IoU)",
        "",
        "Tong et al. 2023, arXiv:2301.10051; authors' code",
    ),
    "nwd": ("1 - exp(-W2/C)", "constant=12.8", "Wang et al. 2021, arXiv:2110.13389; authors' code"),
    "gwd": (
        "1 - 1/(τ + log1p(W2 / (w·h·w_g·h_g)^¼))",
        "tau=1",
        "Yang et al., ICML 2021; mmrotate GDLoss",
    ),
    "kld": ("1 - 1/(τ + log1p(√KL))", "tau=1", "Yang et al., NeurIPS 2021; mmrotate GDLoss"),
    "l1": ("Σ |Δ coordinate|", "", "RetinaNet's box loss"),
    "smooth-l1": ("Σ smooth-L1(Δ coordinate), β = 1/9", "", "Faster R-CNN's box loss"),
}


def describe(name: str) -> LossInfo:
    """The :class:`LossInfo` of a registered name (``KeyError`` for others)."""
    settings = LOSSES[name]
    family = str(settings["family"])
    kind = str(settings.get("kind", settings.get("divergence", family)))
    if family == "coordinate":
        kind = name
    formula, parameters, source = _BASE[kind]
    extras = [parameters] if parameters else []
    if settings.get("weight") == "focal":
        formula, source = f"IoU^γ* · ({formula})", "Zhang et al., Neurocomputing 2022, eq. (13)"
        extras.append("gamma=0.5")
    if "inner_ratio" in settings:
        formula = f"{formula} + IoU - IoU_inner"
        source = f"Inner-IoU, Zhang et al. 2023, arXiv:2311.02877, on {source}"
        extras.append(f"inner_ratio={settings['inner_ratio']:g}")
    if settings.get("focusing"):
        formula = f"r(β) · {formula}"
        extras.append("focusing (running mean in state)")
    if name.startswith("alpha-"):
        formula = f"α rule on {name.removeprefix('alpha-')}: IoU → IoU^α, each penalty P → P^α"
        if family == "nwd":
            formula = "1 - NWD^α"
        source = f"He et al. 2021 (α-IoU); {source}"
        extras.append(f"alpha={settings['alpha']:g}")
    if name in ("diou", "ciou", "alpha-diou", "alpha-ciou"):
        extras.append("penalty_form=paper|official")
    return LossInfo(name, formula, ", ".join(extras), source)


def catalogue() -> list[LossInfo]:
    """Every registered name, described, in :data:`LOSSES` order."""
    return [describe(name) for name in LOSSES]
