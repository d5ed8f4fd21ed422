"""A fixture that gives each test a clean fluent-API state (no active runs, URIs or experiment)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def _reset() -> None:
    import mltrail
    from mltrail.tracking import _run_context

    while mltrail.active_run() is not None:
        try:
            mltrail.end_run()
        except Exception:  # a test may have broken its store on purpose
            _run_context.run_stack().pop()
    mltrail.set_tracking_uri(None)
    mltrail.set_registry_uri(None)
    _run_context.set_active_experiment("", None)
    _run_context._state.last_run = None


@pytest.fixture(autouse=True)
def clean_fluent_state() -> Iterator[None]:
    _reset()
    yield
    _reset()
