"""Box losses by name: the names used by the trainer, the benchmark grid and the CLI.

A loss is named ``NAME`` or ``NAME:ALPHA`` (e.g. ``alpha-diou:2.5``); see :data:`LOSSES`.
"""

from __future__ import annotations

from torch import nn

from .modules import AlphaIoULoss, CoordinateLoss

#: name -> keyword arguments of the loss it builds. The ``alpha-*`` entries are the paper's
#: α = 3 losses and take another α from ``NAME:ALPHA`` or ``alpha=``; the plain IoU-based
#: names are their α = 1 originals; ``l1`` and ``smooth-l1`` (β = 1/9, torchvision's Faster
#: R-CNN setting) are the classic coordinate-regression baselines.
LOSSES: dict[str, dict[str, float | str]] = {
    "iou": {"kind": "iou", "alpha": 1.0},
    "giou": {"kind": "giou", "alpha": 1.0},
    "diou": {"kind": "diou", "alpha": 1.0},
    "ciou": {"kind": "ciou", "alpha": 1.0},
    "alpha-iou": {"kind": "iou", "alpha": 3.0},
    "alpha-giou": {"kind": "giou", "alpha": 3.0},
    "alpha-diou": {"kind": "diou", "alpha": 3.0},
    "alpha-ciou": {"kind": "ciou", "alpha": 3.0},
    "l1": {"beta": 0.0},
    "smooth-l1": {"beta": 1.0 / 9.0},
}


def parse_loss_spec(spec: str) -> tuple[str, float | None]:
    """Split ``"NAME[:ALPHA]"`` into the registered name and the α it sets (or ``None``)."""
    name, _, alpha_text = spec.strip().lower().partition(":")
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    if not alpha_text:
        return name, None
    try:
        alpha = float(alpha_text)
    except ValueError:
        raise ValueError(f"loss {spec!r}: {alpha_text!r} is not a number") from None
    return name, alpha


def build_loss(
    spec: str,
    *,
    alpha: float | None = None,
    alpha_penalty: float | None = None,
    **kwargs: object,
) -> nn.Module:
    """Build the loss named ``spec`` (``NAME`` or ``NAME:ALPHA``).

    Args:
        spec: a key of :data:`LOSSES`, optionally with ``:ALPHA``.
        alpha: α for an ``alpha-*`` loss (overrides ``:ALPHA``). The plain names keep α = 1:
            asking them for another α is an error, since ``alpha-*`` names exist for that.
        alpha_penalty: α of the penalty term (equation (3)); IoU-based losses only.
        **kwargs: passed on to the module, e.g. ``box_format``, ``reduction``, ``compile``.

    Returns:
        An :class:`AlphaIoULoss` or a :class:`CoordinateLoss` (``forward(pred, target)``).
    """
    name, spec_alpha = parse_loss_spec(spec)
    alpha = spec_alpha if alpha is None else alpha
    settings = dict(LOSSES[name])
    if "beta" in settings:
        if alpha is not None or alpha_penalty is not None:
            raise ValueError(f"loss {name!r} takes no alpha")
        reduction = kwargs.pop("reduction", "mean")
        if kwargs:
            raise ValueError(f"loss {name!r} takes no {', '.join(kwargs)}")
        return CoordinateLoss(beta=float(settings["beta"]), reduction=str(reduction))
    if alpha is not None and not name.startswith("alpha-"):
        if alpha != settings["alpha"]:
            raise ValueError(f"loss {name!r} has alpha = 1; use 'alpha-{name}' for another alpha")
    if alpha is not None:
        settings["alpha"] = alpha
    return AlphaIoULoss(**settings, alpha_penalty=alpha_penalty, **kwargs)  # type: ignore[arg-type]
