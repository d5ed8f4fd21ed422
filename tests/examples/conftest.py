"""SDK tests: every test starts with a clean fluent state; fixtures shared with tests/examples."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from support.openai_server import OpenAIServer, openai_server  # noqa: F401  (fixture)
from support.sdk_backends import backend  # noqa: F401  (fixture)
from support.sdk_state import clean_fluent_state  # noqa: F401  (autouse fixture)


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[OpenAIServer]:
    """The OpenAI fake answering grading prompts with a verdict, for the README and example scripts."""
    from tour_support import judge_responder

    with OpenAIServer(judge_responder) as server:
        yield server


@pytest.fixture
def tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The official client in this process talks to the server of the test (nothing leaks out)."""
    for var in [v for v in os.environ if v.startswith(("MLFLOW_", "MLTRAIL_"))]:
        monkeypatch.delenv(var)


