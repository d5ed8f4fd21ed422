"""Project tests: a clean fluent state per test and the example project's folder."""

from pathlib import Path

import pytest

from support.sdk_state import clean_fluent_state  # noqa: F401  (autouse fixture)

EXAMPLE = Path(__file__).parent / "example"


@pytest.fixture
def example_project() -> Path:
    return EXAMPLE
