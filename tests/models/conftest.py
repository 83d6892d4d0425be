"""Fixtures of the model tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run each model test on one intra-op thread.

    On a 2-core machine shared with other test processes, two OpenMP threads
    spin at every barrier while the other is descheduled: the same small
    training loop then costs 5–10× more CPU time than with one thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded generator for data; also seeds the global RNG for parameter initialisation."""
    torch.manual_seed(0)
    return torch.Generator().manual_seed(1234)
