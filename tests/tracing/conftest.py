"""Tracing tests: clean fluent and tracing state per test, the fake OpenAI server, a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.openai_server import openai_server  # noqa: F401  (fixture)
from support.sdk_backends import backend  # noqa: F401  (fixture: embedded default and PostgreSQL)
from support.sdk_state import clean_fluent_state  # noqa: F401  (autouse fixture)


@pytest.fixture(autouse=True)
def clean_tracing_state() -> Iterator[None]:
    """No autolog patches, no queued traces and no last trace id leak between tests."""
    from mltrail.tracing import _manager
    from mltrail.tracing.export import flush_trace_async_logging

    # Before as well as after: a module of another folder, run earlier on this xdist worker, may
    # have left OpenAI autologging on (then a LangChain chat call would gain an OpenAI span).
    _disable_llm_autologging()
    _manager.set_enabled(True)
    _manager.reset_last_trace_id()
    yield
    flush_trace_async_logging()
    _disable_llm_autologging()
    _manager.set_enabled(True)
    _manager.reset_last_trace_id()


def _disable_llm_autologging() -> None:
    import mltrail.openai

    mltrail.openai.autolog(disable=True)
    try:
        import mltrail.langchain

        mltrail.langchain.autolog(disable=True)
    except ImportError:
        pass


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """One ``mltrail server`` per test module, on a fresh SQLite file."""
    from support.live_server import start_server, stop_server

    server = start_server(tmp_path_factory.mktemp("trace-server"))
    yield server
    stop_server(server)
