"""Fixtures of the model tests."""

import pytest
import torch


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded generator for data; also seeds the global RNG for parameter initialisation."""
    torch.manual_seed(0)
    return torch.Generator().manual_seed(1234)
