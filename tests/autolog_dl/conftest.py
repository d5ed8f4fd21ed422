"""Each test starts and ends with autologging off, nothing patched and no active run."""

from __future__ import annotations

import pytest

import mltrail
from mltrail.autologging.universal import reset


@pytest.fixture(autouse=True)
def _autologging_reset():
    reset()
    yield
    reset()
    while mltrail.active_run() is not None:
        mltrail.end_run()
