"""Box losses by name: the names used by the trainer, the benchmark grid and the CLI.

A loss is named ``NAME`` or ``NAME:ALPHA`` (e.g. ``alpha-diou:2.5``); the names are
:data:`noisybox.config.LOSSES`, parsed by :class:`noisybox.config.LossSpec`.
"""

from __future__ import annotations

from torch import nn

from ..config import LOSSES, LossSpec
from .modules import AlphaIoULoss, CoordinateLoss

__all__ = ["LOSSES", "build_loss", "parse_loss_spec"]


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
