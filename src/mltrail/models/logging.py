"""Logging a model into a run: save to a temp dir, upload as run artifacts, optionally register.

Shared by every flavor's ``log_model``. The model lands at
``<run artifact uri>/<name>``, so ``runs:/<run_id>/<name>`` finds it, and the
run gets MLflow's ``mlflow.log-model.history`` tag.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrail.models.model import Model

_HISTORY_TAG = "mlflow.log-model.history"


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
        model_id = f"m-{uuid.uuid4().hex}"
        meta = Model(artifact_path=name, run_id=run_id, model_id=model_id)
        with tempfile.TemporaryDirectory(prefix="mltrail-model-") as tmp:
            local = Path(tmp) / "model"
            save_fn(path=str(local), mlflow_model=meta, **save_kwargs)
            mltrail.log_artifacts(str(local), name)
        _append_history(run_id, meta)
        _record_logged_model(run, name, model_id)
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
            model_id=model_id,
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


def _record_logged_model(run, name: str, model_id: str) -> None:
    """On a SQL tracking store, record the model as an MLflow 3 logged model (READY) whose files are
    the ones just logged under the run, so ``models:/<model_id>`` resolves and UIs list it.

    Over REST the server chooses logged-model ids and locations, so there the model is
    reachable through ``runs:/`` and the registry only.
    """
    from mltrail.tracking._store_registry import plan_store
    from mltrail.tracking._uris import get_tracking_uri

    kind, target, _root = plan_store(get_tracking_uri())
    if kind != "sql":
        return
    from mltrail.store.sql.logged_models import SqlLoggedModelStore

    SqlLoggedModelStore(target).create_logged_model(
        run.info.experiment_id,
        name=name,
        source_run_id=run.info.run_id,
        model_id=model_id,
        artifact_location=f"{run.info.artifact_uri.rstrip('/')}/{name}",
        status="READY",
    )


def _append_history(run_id: str, meta: Model) -> None:
    from mltrail.store.validation import MAX_TAG_VAL_LENGTH
    from mltrail.tracking import MlflowClient

    client = MlflowClient()
    entry = {
        k: v
        for k, v in meta.to_dict().items()
        if k
        in (
            "artifact_path",
            "flavors",
            "run_id",
            "utc_time_created",
            "model_uuid",
            "model_id",
            "mlflow_version",
        )
    }
    tags = client.get_run(run_id).data.tags
    try:
        history = json.loads(tags.get(_HISTORY_TAG, "[]"))
    except ValueError:
        history = []
    history.append(entry)
    text = json.dumps(history)
    if len(text) <= MAX_TAG_VAL_LENGTH:  # a run tag's limit; the model is logged either way
        client.set_tag(run_id, _HISTORY_TAG, text)
