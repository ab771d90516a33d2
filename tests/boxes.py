"""Hypothesis strategies for box pairs, in xyxy pixels, covering every overlap relation."""

import numpy as np
import torch
from hypothesis import strategies as st

UNIT = [0.0, 0.0, 1.0, 1.0]
#: (prediction, target) pairs, xyxy pixels, where losses divide by zero or take powers of it
CORNER_CASES = {
    "zero-area prediction": ([0.5, 0.5, 0.5, 0.5], UNIT),
    "zero-width prediction": ([0.5, 0.0, 0.5, 1.0], UNIT),
    "zero-height prediction": ([0.0, 0.5, 1.0, 0.5], UNIT),
    "both zero-area, same point": ([0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]),
    "both zero-area, apart": ([0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0]),
    "both zero-width, same x": ([2.0, 0.0, 2.0, 1.0], [2.0, 0.5, 2.0, 3.0]),
    "identical": (UNIT, UNIT),
    "coincident centres": ([0.25, 0.0, 0.75, 1.0], [0.0, 0.25, 1.0, 0.75]),
    "disjoint": ([5.0, 5.0, 6.0, 7.0], UNIT),
    "touching": ([1.0, 0.0, 2.0, 1.0], UNIT),
    "nested": ([0.25, 0.25, 0.5, 0.75], UNIT),
    "tiny (1e-6 px)": ([0.0, 0.0, 1e-6, 1e-6], [0.0, 0.0, 1.5e-6, 1e-6]),
    "tiny disjoint": ([0.0, 0.0, 1e-6, 1e-6], [2e-6, 0.0, 3e-6, 1e-6]),
    "tiny (1e-4 px)": ([0.0, 0.0, 1e-4, 1e-4], [0.0, 0.0, 1.5e-4, 1e-4]),
    "huge (1e4 px)": ([0.0, 0.0, 1e4, 1e4], [10.0, 20.0, 1.2e4, 9e3]),
    "huge disjoint": ([0.0, 0.0, 1e4, 1e4], [2e4, 2e4, 3e4, 3e4]),
}

coordinate = st.floats(min_value=-500.0, max_value=500.0, allow_nan=False)
size = st.floats(min_value=1.0, max_value=400.0, allow_nan=False)
fraction = st.floats(min_value=0.05, max_value=0.95)


@st.composite
def box_pair(draw) -> tuple[list[float], list[float]]:
    """One pair (prediction, target): overlapping, nested either way, disjoint or identical."""
    x, y, w, h = draw(coordinate), draw(coordinate), draw(size), draw(size)
    target = [x, y, x + w, y + h]
    relation = draw(st.sampled_from(["random", "inside", "around", "disjoint", "identical"]))
    if relation == "identical":
        return list(target), target
    if relation == "inside":  # prediction nested in the target
        fx, fy, fw, fh = (draw(fraction) for _ in range(4))
        px, py = x + fx * w * 0.5, y + fy * h * 0.5
        return [px, py, px + fw * w * 0.5, py + fh * h * 0.5], target
    if relation == "around":  # target nested in the prediction
        mx, my, mw, mh = (draw(size) * 0.5 for _ in range(4))
        return [x - mx, y - my, x + w + mw, y + h + mh], target
    if relation == "disjoint":
        gap, pw, ph = draw(size), draw(size), draw(size)
        return [x + w + gap, y, x + w + gap + pw, y + ph], target
    px, py, pw, ph = draw(coordinate), draw(coordinate), draw(size), draw(size)
    return [px, py, px + pw, py + ph], target


def box_pairs(min_size: int = 1, max_size: int = 16):
    """``(pred, target)`` float64 tensors of shape ``(N, 4)``."""
    return st.lists(box_pair(), min_size=min_size, max_size=max_size).map(
        lambda pairs: tuple(
            torch.tensor(np.array([p[i] for p in pairs]), dtype=torch.float64) for i in (0, 1)
        )
    )


def random_boxes(n: int, generator: torch.Generator, scale: float = 100.0) -> torch.Tensor:
    """``n`` xyxy float64 boxes with positive sizes, overlapping often."""
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64) * scale
    wh = torch.rand(n, 2, generator=generator, dtype=torch.float64) * scale * 0.5 + 1.0
    return torch.cat([xy, xy + wh], dim=1)
