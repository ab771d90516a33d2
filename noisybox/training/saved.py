"""Reading what torch saved (weights, checkpoints) without running anything it holds."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import NoisyboxError


def load_state(path: Path, device: str | torch.device = "cpu") -> dict:
    """The dict saved at ``path`` (a state dict, or a checkpoint holding some), its tensors
    on ``device``.

    Read with ``torch.load(weights_only=True)``: tensors, numbers, strings and containers
    only, never code or other objects (a pickle can run code when loaded). A file that is
    not such a dict is one line naming it, whatever torch's loader raised.
    """
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except OSError:
        raise  # the file system's own message (a missing or unreadable file)
    except Exception as error:  # the loader's errors vary: unpickling, zip, EOF, key errors
        reason = (
            "it holds objects other than tensors (refused: loading them could run code)"
            if "Weights only load failed" in str(error)
            else f"not a file torch.save wrote ({type(error).__name__})"
        )
        raise NoisyboxError(f"{path}: cannot be read as weights: {reason}") from None
    if not isinstance(state, dict):
        raise NoisyboxError(
            f"{path}: cannot be read as weights: it holds a {type(state).__name__}, not a "
            "dict of tensors"
        )
    return state
