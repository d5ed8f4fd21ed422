"""Fixtures for model, registry and serving tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from model_helpers import Served

from support.openai_server import openai_server  # noqa: F401  (fixture)
from support.sdk_state import clean_fluent_state  # noqa: F401  (autouse fixture)


@pytest.fixture
def served() -> Iterator[list[Served]]:
    """Collects servers a test starts and stops them afterwards."""
    started: list[Served] = []
    yield started
    for s in started:
        s.stop()
