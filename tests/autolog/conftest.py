"""Every autologging test starts and ends with autologging off and nothing patched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mltrail
from mltrail.autologging.universal import reset


@pytest.fixture(autouse=True)
def _autologging_reset():
    reset()
    yield
    reset()


@pytest.fixture
def sklearn_autolog():
    """scikit-learn autologging on for the test (use with ``pytest.mark.usefixtures``)."""
    mltrail.sklearn.autolog()
    yield
    mltrail.sklearn.autolog(disable=True)


@pytest.fixture
def classification():
    """80 rows of 3 features with a binary label that mostly follows ``a + 0.3 b > 0``."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    y = (X["a"] + 0.3 * X["b"] > 0).astype(int)
    return X, y
