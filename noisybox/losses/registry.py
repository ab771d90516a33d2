"""Box losses by name: the names used by the trainer, the benchmark grid and the CLI.

A loss is named ``NAME`` or ``NAME:ALPHA`` (e.g. ``alpha-diou:2.5``); the names are
:data:`noisybox.config.LOSSES`, parsed by :class:`noisybox.config.LossSpec`.
"""

from __future__ import annotations

from torch import nn

from ..config import LOSSES, LossSpec
from .gaussian import GaussianDistanceLoss, NWDLoss
from .modules import AlphaIoULoss, CoordinateLoss
from .variants import WiseIoULoss

__all__ = ["FAMILIES", "LOSSES", "build_loss", "parse_loss_spec"]

#: a :data:`LOSSES` entry's ``family`` -> the module class it builds
FAMILIES: dict[str, type[nn.Module]] = {
    "iou": AlphaIoULoss,
    "wise": WiseIoULoss,
    "nwd": NWDLoss,
    "gaussian": GaussianDistanceLoss,
    "coordinate": CoordinateLoss,
}
#: families with additive penalty terms (``alpha_penalty``) and a compiled form
_IOU_BASED = ("iou", "wise")


def parse_loss_spec(spec: str) -> tuple[str, float | None]:
    """Split ``"NAME[:ALPHA]"`` into the registered name and the α it sets (or ``None``);
    :class:`noisybox.config.LossSpec` checks it."""
    parsed = LossSpec.parse(spec)
    return parsed.name, parsed.alpha


def build_loss(
    spec: str,
    *,
    alpha: float | None = None,
    alpha_penalty: float | None = None,
    image_size: tuple[float, float] | None = None,
    **kwargs: object,
) -> nn.Module:
    """Build the loss named ``spec`` (``NAME`` or ``NAME:ALPHA``).

    Args:
        spec: a key of :data:`LOSSES`, optionally with ``:ALPHA``.
        alpha: α for an ``alpha-*`` loss (overrides ``:ALPHA``). The plain names keep α = 1:
            asking them for another α is an error, since ``alpha-*`` names exist for that.
        alpha_penalty: α of the penalty terms (equation (3)); IoU-based losses only.
        image_size: the input images' ``(width, height)``, for the losses that use it
            (``mpdiou``, ``alpha-mpdiou``); ignored by the others.
        **kwargs: passed on to the module, e.g. ``box_format``, ``reduction``, ``compile``,
            or a setting of the name's own (``inner_ratio`` of ``inner-iou``).

    Returns:
        The module of the name's family (:data:`FAMILIES`), ``forward(pred, target)``.
    """
    name, spec_alpha = parse_loss_spec(spec)
    alpha = spec_alpha if alpha is None else alpha
    settings = dict(LOSSES[name])
    family = str(settings.pop("family"))
    if "alpha" not in settings:
        if alpha is not None or alpha_penalty is not None:
            raise ValueError(f"loss {name!r} takes no alpha")
    elif alpha is not None:
        if not name.startswith("alpha-") and alpha != settings["alpha"]:
            raise ValueError(f"loss {name!r} has alpha = 1; use 'alpha-{name}' for another alpha")
        settings["alpha"] = alpha
    if family in _IOU_BASED:
        settings["alpha_penalty"] = alpha_penalty
        if settings.get("kind") == "mpdiou":
            settings["image_size"] = image_size
    else:
        if alpha_penalty is not None:
            raise ValueError(f"loss {name!r} has no penalty terms: it takes no alpha_penalty")
        if kwargs.get("compile"):
            raise ValueError(f"loss {name!r} has no compiled form; only IoU-based losses do")
        kwargs.pop("compile", None)
    try:
        return FAMILIES[family](**{**settings, **kwargs})
    except TypeError as error:  # an argument the family does not take
        raise ValueError(f"loss {name!r}: {error}") from None
