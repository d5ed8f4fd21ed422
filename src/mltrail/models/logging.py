"""Logging a model into a run: save to a temp dir, upload, record a LoggedModel, optionally register.

Shared by every flavor's ``log_model``. As MLflow 3.17's ``Model.log`` does, it
creates a PENDING LoggedModel in the run's store (embedded or over REST), saves the
model with that ``model_id``, makes its files the LoggedModel's, records the model
as an output of the run and finalizes it READY (FAILED if saving or uploading
fails); ``last_logged_model()`` then returns it and ``models:/<model_id>`` loads it.

MLflow 3.17 no longer writes the model under the run's artifacts (its ``runs:/``
resolver falls back to the run's logged models). mltrail's ``runs:/`` resolver does
not yet, so the model also lands at ``<run artifact uri>/<name>`` and
``ModelInfo.model_uri`` stays ``runs:/<run_id>/<name>``. On an embedded store that
copy *is* the LoggedModel's artifact location (one write); over REST the server
chooses the location (``<experiment>/models/<model_id>/artifacts``) and the files
are uploaded there as well. The run also gets MLflow's ``mlflow.log-model.history`` tag.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mltrail.models.model import Model

if TYPE_CHECKING:
    from mltrail.entities import Run
    from mltrail.entities.logged_model import LoggedModel
    from mltrail.tracking.client import MlflowClient

_HISTORY_TAG = "mlflow.log-model.history"
_log = logging.getLogger(__name__)


@dataclass
class ModelInfo:
    """What ``log_model`` returns (MLflow's ``ModelInfo`` fields)."""

    artifact_path: str
    flavors: dict[str, Any]
    model_uri: str
    model_uuid: str
    run_id: str | None
    saved_input_example_info: dict[str, Any] | None
    signature: Any
    utc_time_created: str
    mlflow_version: str | None
    model_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    registered_model_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def signature_dict(self) -> dict[str, Any] | None:
        return self.signature.to_dict() if self.signature is not None else None


def log_model_with(
    save_fn: Callable[..., Any],
    name: str | None,
    registered_model_name: str | None = None,
    await_registration_for: int = 300,
    **save_kwargs: Any,
) -> ModelInfo:
    """Run ``save_fn(path=..., mlflow_model=..., **save_kwargs)`` and log the result to the active run."""
    import mltrail
    from mltrail.artifacts.paths import validate_artifact_path
    from mltrail.entities.logged_model import LoggedModelOutput, LoggedModelStatus
    from mltrail.tracking import fluent
    from mltrail.tracking._fluent_models import note_logged_model

    name = validate_artifact_path(name or "model")
    if not name:
        from mltrail.exceptions import invalid

        raise invalid("A model name (artifact path) must not be empty")
    run = mltrail.active_run()
    started = run is None
    if started:
        run = mltrail.start_run()
    try:
        run_id = run.info.run_id
        client = fluent.client_for_uri(run._tracking_uri)
        current = client.get_run(run_id)
        model = _create_logged_model(client, current, name)
        note_logged_model(model.model_id)
        meta = Model(artifact_path=name, run_id=run_id, model_id=model.model_id)
        try:
            client.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
            with tempfile.TemporaryDirectory(prefix="mltrail-model-") as tmp:
                local = Path(tmp) / "model"
                save_fn(path=str(local), mlflow_model=meta, **save_kwargs)
                mltrail.log_artifacts(str(local), name)
                if model.artifact_location != _run_copy(current, name):
                    client.log_model_artifacts(model.model_id, str(local))
        except BaseException:
            _finalize_failed(client, model.model_id)
            raise
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
        _append_history(client, current, meta)
        info = ModelInfo(
            artifact_path=name,
            flavors=meta.flavors,
            model_uri=f"runs:/{run_id}/{name}",
            model_uuid=meta.model_uuid,
            run_id=run_id,
            saved_input_example_info=meta.saved_input_example_info,
            signature=meta.signature,
            utc_time_created=meta.utc_time_created,
            mlflow_version=meta.mlflow_version,
            model_id=model.model_id,
            name=name,
            metadata=meta.metadata,
        )
        if registered_model_name:
            from mltrail.models.registration import register_model

            mv = register_model(
                info.model_uri, registered_model_name, await_registration_for=await_registration_for
            )
            info.registered_model_version = int(mv.version)
        return info
    finally:
        if started:
            mltrail.end_run()


def _run_copy(run: Run, name: str) -> str:
    """Where the model's copy under the run's artifacts lives."""
    return f"{run.info.artifact_uri.rstrip('/')}/{name}"


def _logged_model_name(name: str) -> str:
    """``name`` if MLflow's LoggedModel name rule allows it, else with the refused characters as ``-``.

    An artifact path may be nested (``models/clf``); a LoggedModel name may not contain ``/``.
    """
    from mltrail.store.logged_models import _BAD_NAME_CHARS

    for ch in _BAD_NAME_CHARS:
        name = name.replace(ch, "-")
    return name


def _create_logged_model(client: MlflowClient, run: Run, name: str) -> LoggedModel:
    """A PENDING LoggedModel of the run, in the run's store, with MLflow's tags and the run's params.

    An embedded (SQL) store points it at the run's copy of the files; a server picks its own
    id and location, as for the official client.
    """
    from mltrail.tracking._default_tags import default_tags
    from mltrail.tracking._store_registry import plan_store

    tags = default_tags()
    params = dict(run.data.params)
    if plan_store(client.tracking_uri)[0] == "sql":
        from mltrail.store.sql.logged_models import SqlLoggedModelStore

        store = client._logged_model_store
        assert isinstance(store, SqlLoggedModelStore)
        return store.create_logged_model(
            run.info.experiment_id,
            name=name,
            source_run_id=run.info.run_id,
            tags=tags,
            params=params,
            model_id=f"m-{uuid.uuid4().hex}",
            artifact_location=_run_copy(run, name),
        )
    return client.create_logged_model(
        run.info.experiment_id,
        name=_logged_model_name(name),
        source_run_id=run.info.run_id,
        tags=tags,
        params=params,
    )


def _finalize_failed(client: MlflowClient, model_id: str) -> None:
    """Mark the model FAILED; the original error is the one worth raising, so a failure here is logged."""
    from mltrail.entities.logged_model import LoggedModelStatus

    try:
        client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
    except Exception:  # secondary to the error being raised
        _log.warning("Could not mark logged model %s as FAILED", model_id, exc_info=True)


def _append_history(client: MlflowClient, run: Run, meta: Model) -> None:
    """Add the model to the run's ``mlflow.log-model.history`` tag (skipped past a run tag's limit)."""
    from mltrail.store.validation import MAX_TAG_VAL_LENGTH

    keep = (
        "artifact_path",
        "flavors",
        "run_id",
        "utc_time_created",
        "model_uuid",
        "model_id",
        "mlflow_version",
    )
    entry = {k: v for k, v in meta.to_dict().items() if k in keep}
    try:
        history = json.loads(run.data.tags.get(_HISTORY_TAG, "[]"))
    except ValueError:
        history = []
    history.append(entry)
    text = json.dumps(history)
    if len(text) <= MAX_TAG_VAL_LENGTH:  # a run tag's limit; the model is logged either way
        client.set_tag(run.info.run_id, _HISTORY_TAG, text)
