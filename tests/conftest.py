"""Shared fixtures. Statistical tolerances: see tests/stats.py."""
import os

import numpy as np
import pytest

TEST_SEED = int(os.environ.get("FASTGIBBS_TEST_SEED", "42"))


@pytest.fixture
def rng():
    """A fresh Generator; the seed comes from FASTGIBBS_TEST_SEED (default 42)."""
    return np.random.default_rng(TEST_SEED)
