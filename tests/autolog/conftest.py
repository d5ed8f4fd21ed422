"""Every autologging test starts and ends with autologging off and nothing patched."""

from __future__ import annotations

import pytest

from mltrail.autologging.universal import reset


@pytest.fixture(autouse=True)
def _autologging_reset():
    reset()
    yield
    reset()
