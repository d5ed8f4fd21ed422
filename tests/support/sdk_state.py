"""A fixture that gives each test a clean fluent-API state (no active runs, URIs, experiment or model).

It also keeps ``MLFLOW_*``/``MLTRAIL_*`` environment variables from leaking
between tests: the real ``mlflow.set_experiment`` exports
``MLFLOW_EXPERIMENT_ID`` (for subprocesses), which would otherwise send a later
test's runs to an experiment of another store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

_PREFIXES = ("MLFLOW_", "MLTRAIL_")
# Chosen per test, never inherited from an earlier one.
_PER_TEST_VARS = (
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLTRAIL_EXPERIMENT_ID",
    "MLTRAIL_EXPERIMENT_NAME",
    "MLFLOW_RUN_ID",
    "MLTRAIL_RUN_ID",
)


def _reset() -> None:
    import mltrail
    from mltrail.tracking import _fluent_models, _model_context, context

    while mltrail.active_run() is not None:
        try:
            mltrail.end_run()
        except Exception:  # a test may have broken its store on purpose
            context.run_stack().pop()
    mltrail.set_tracking_uri(None)
    mltrail.set_registry_uri(None)
    context.set_active_experiment("", None)
    context._state.last_run = None
    _model_context.clear()  # no active model (MLflow 3), in any thread
    _fluent_models._last.__dict__.clear()  # no last logged model


def _snapshot() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_PREFIXES)}


@pytest.fixture(autouse=True)
def clean_fluent_state() -> Iterator[None]:
    for var in _PER_TEST_VARS:
        os.environ.pop(var, None)
    before = _snapshot()
    _reset()
    yield
    _reset()
    after = _snapshot()
    for key in after.keys() - before.keys():
        del os.environ[key]
    for key, value in before.items():
        os.environ[key] = value
