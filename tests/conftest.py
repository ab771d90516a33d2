"""Test-wide settings: one torch thread per pytest worker (the suite runs with -n 2)."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "noisybox", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "noisybox"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread_per_worker():
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The toy shapes dataset (``datasets.TOY``), made once per test module."""
    from noisybox.shapes import make_shapes_dataset

    from .datasets import TOY

    folder = tmp_path_factory.mktemp("data") / "shapes"
    make_shapes_dataset(folder, TOY, seed=3)
    return folder
