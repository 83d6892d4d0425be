"""Fixtures of the verification tests; the field generators live in ``_verify_fields``."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20240521)
