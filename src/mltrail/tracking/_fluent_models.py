"""MLflow 3's fluent LoggedModel functions and the active model.

``set_active_model`` and ``create_external_model`` write an ``MLmodel`` file, which
the models layer knows how to write, so they live in :mod:`mltrail.models.external`
(the functions here are what they build on). ``set_active_model`` names the LoggedModel (an app or agent version) that
traces started afterwards belong to: each new trace carries its id as metadata
``mlflow.modelId``, so ``search_traces(model_id=...)`` finds a version's traces.
The active model is per thread (see :mod:`mltrail.tracking._model_context`).

Example::

    import mltrail as mlflow

    mlflow.set_experiment("support-agent")
    with mlflow.set_active_model(name="agent-v2") as model:

        @mlflow.trace
        def answer(q: str) -> str:
            return "42"

        answer("meaning of life?")
    traces = mlflow.search_traces(model_id=model.model_id, return_type="list")
"""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import Any

from mltrail import _exported_by
from mltrail.entities.logged_model import LoggedModel, LoggedModelOutput, LoggedModelStatus
from mltrail.exceptions import invalid
from mltrail.store.logged_models import SEARCH_LOGGED_MODELS_MAX_RESULTS_THRESHOLD
from mltrail.tracking import _model_context, context
from mltrail.tracking._default_tags import default_tags
from mltrail.tracking.client import MlflowClient
from mltrail.tracking.context import ActiveRun
from mltrail.tracking.fluent import start_run

# The public names are listed once, in mltrail/__init__.py's lazy table.
__all__ = _exported_by(__name__)

_last = threading.local()  # per thread, as MLflow's last logged model


def _active_run() -> ActiveRun | None:
    stack = context.run_stack()
    return stack[-1] if stack else None


def _client() -> MlflowClient:
    """The client of the active run's store, else of the tracking URI in effect."""
    run = _active_run()
    return context.client_for_uri(run._tracking_uri) if run is not None else context.client()


def note_logged_model(model_id: str) -> None:
    """Remember ``model_id`` as this thread's last logged model (what ``last_logged_model`` returns)."""
    _last.model_id = model_id


# ------------------------------------------------------------------ active model
class ActiveModel(LoggedModel):
    """The model ``set_active_model`` returns: a :class:`LoggedModel` that is also a context manager.

    Leaving the ``with`` block makes the previously active model (or none) active again.
    """

    def __init__(self, logged_model: LoggedModel, set_by_user: bool = True) -> None:
        super().__init__(**{f.name: getattr(logged_model, f.name) for f in fields(LoggedModel)})
        self.last_active_model_context = _model_context.current()
        _model_context.set_active_model_id(self.model_id, set_by_user)

    def __enter__(self) -> ActiveModel:
        return self

    def __exit__(self, *exc: object) -> None:
        _model_context.restore(self.last_active_model_context)


def get_active_model_id() -> str | None:
    """This thread's active model id: ``set_active_model``, else ``MLFLOW_ACTIVE_MODEL_ID``, else ``None``."""
    return _model_context.active_model_id()


def clear_active_model() -> None:
    """No active model any more (in any thread); ``MLFLOW_ACTIVE_MODEL_ID`` is unset too."""
    _model_context.clear()


# ------------------------------------------------------------ creating models
def create_pending_model(
    name: str | None,
    source_run_id: str | None,
    tags: dict[str, Any] | None,
    params: dict[str, Any] | None,
    model_type: str | None,
    experiment_id: str | None,
) -> tuple[MlflowClient, LoggedModel]:
    """A PENDING model with the system tags, in the active run's experiment unless told otherwise.

    Returns the client it used (the active run's store, else the tracking URI's), so that the
    caller adds files and finalizes it in the same store (``models.external.create_external_model``).
    """
    run = _active_run()
    client = _client()
    if source_run_id is None and run is not None:
        source_run_id = run.info.run_id
    if experiment_id is None:
        experiment_id = run.info.experiment_id if run is not None else context.experiment_id(client)
    all_tags = {**default_tags(), **{str(k): str(v) for k, v in (tags or {}).items()}}
    model = client.create_logged_model(str(experiment_id), name, source_run_id, all_tags, params, model_type)
    return client, model


def initialize_logged_model(
    name: str | None = None,
    source_run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    model_type: str | None = None,
    experiment_id: str | None = None,
) -> LoggedModel:
    """A new PENDING LoggedModel (no files yet): add files, then ``finalize_logged_model(id, "READY")``.

    ``source_run_id`` and ``experiment_id`` default to the active run's.

    Example::

        model = mlflow.initialize_logged_model(name="ranker", params={"depth": "6"})
        mlflow.finalize_logged_model(model.model_id, "READY")
    """
    _client_used, model = create_pending_model(name, source_run_id, tags, params, model_type, experiment_id)
    note_logged_model(model.model_id)
    return model


# ----------------------------------------------------------------- reading
def get_logged_model(model_id: str) -> LoggedModel:
    """The LoggedModel with that id (``RESOURCE_DOES_NOT_EXIST`` if unknown)."""
    return _client().get_logged_model(model_id)


def last_logged_model() -> LoggedModel | None:
    """The model most recently logged, initialized or created in this thread, or ``None``."""
    model_id = getattr(_last, "model_id", None)
    return get_logged_model(model_id) if model_id else None


def search_logged_models(
    experiment_ids: list[str] | None = None,
    filter_string: str | None = None,
    datasets: list[dict[str, str]] | None = None,
    max_results: int | None = None,
    order_by: list[dict[str, Any]] | None = None,
    output_format: str = "pandas",
) -> Any:
    """Logged models matching a filter, as a pandas DataFrame (default) or a list (``output_format="list"``).

    ``experiment_ids`` default to the active experiment; every page is read
    unless ``max_results`` caps the count. See :mod:`mltrail.store.logged_models`
    for the filter grammar.

    Example::

        mlflow.search_logged_models(filter_string="params.depth = '6' AND status = 'READY'",
                                    order_by=[{"field_name": "creation_time", "ascending": True}],
                                    output_format="list")
    """
    if output_format not in ("pandas", "list"):
        raise invalid(
            f"Unsupported output format: {output_format!r}. Supported string values are 'pandas' or 'list'"
        )
    if max_results is not None and (
        isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1
    ):
        raise invalid(f"Invalid max_results {max_results!r}: it must be a positive integer")
    client = _client()
    ids = [str(e) for e in experiment_ids] if experiment_ids else [context.experiment_id(client)]
    models: list[LoggedModel] = []
    token: str | None = None
    while max_results is None or len(models) < max_results:
        want = SEARCH_LOGGED_MODELS_MAX_RESULTS_THRESHOLD
        if max_results is not None:
            want = min(want, max_results - len(models))
        page = client.search_logged_models(ids, filter_string, datasets, want, order_by, token)
        models.extend(page)
        token = page.token
        if not token:
            break
    if output_format == "list":
        return models
    import pandas as pd

    rows = []
    for m in models:
        row = m.to_dictionary()
        row["status"] = LoggedModelStatus.from_int(row["status"])
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------- changing
def finalize_logged_model(model_id: str, status: str | LoggedModelStatus) -> LoggedModel:
    """Set a model's final status, ``READY`` or ``FAILED``, and return it."""
    return _client().finalize_logged_model(model_id, status)


def set_logged_model_tags(model_id: str, tags: dict[str, Any]) -> None:
    """Set (or overwrite) tags on a model."""
    _client().set_logged_model_tags(model_id, tags)


def delete_logged_model_tag(model_id: str, key: str) -> None:
    """Remove a tag from a model."""
    _client().delete_logged_model_tag(model_id, key)


def log_model_params(params: dict[str, Any], model_id: str | None = None) -> None:
    """Log params on a model: ``model_id``, else the active model."""
    model_id = model_id or get_active_model_id()
    if not model_id:
        raise invalid("log_model_params needs a model_id: pass one or call set_active_model first")
    _client().log_model_params(model_id, params)


def log_outputs(models: list[LoggedModelOutput] | None = None) -> None:
    """Record logged models as outputs of the active run (a run is started if none is active)."""
    client, run_id = context.run_client(None, start_run)
    client.log_outputs(run_id, list(models or []))
