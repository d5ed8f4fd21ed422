"""Logging a model: save it to a temp dir, upload it once to its LoggedModel, optionally register.

Shared by every flavor's ``log_model``. As MLflow 3.17's ``Model.log`` does, it
creates a PENDING LoggedModel (in the active run's experiment and store, or the
active experiment when no run is active), saves the model with that ``model_id``,
uploads its files once, to the LoggedModel's artifact location
(``<experiment>/models/<model_id>/artifacts``, embedded or over HTTP), records it
as an output of the run, copies the run's metrics at the model's ``step`` onto it
and finalizes it READY (FAILED if saving or uploading fails).

Nothing is written under the run's artifacts: ``runs:/<run_id>/<name>`` resolves
through the run's logged models (:mod:`mltrail.tracking._model_uris`), and
``ModelInfo.model_uri`` is ``models:/<model_id>``. The run also gets MLflow's
``mlflow.log-model.history`` tag.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mltrail
from mltrail.entities import Metric
from mltrail.entities.logged_model import LoggedModelOutput, LoggedModelStatus
from mltrail.models.model import Model
from mltrail.models.model_info import ModelInfo
from mltrail.models.registration import register_model
from mltrail.store.logged_models import BAD_NAME_CHARS
from mltrail.store.validation import MAX_TAG_VAL_LENGTH
from mltrail.tracking import context
from mltrail.tracking._default_tags import default_tags
from mltrail.tracking._fluent_models import note_logged_model

if TYPE_CHECKING:
    from mltrail.entities import Run
    from mltrail.entities.logged_model import LoggedModel
    from mltrail.tracking.client import MlflowClient

__all__ = ["ModelInfo", "log_model_with"]

_HISTORY_TAG = "mlflow.log-model.history"
_log = logging.getLogger(__name__)


def log_model_with(
    save_fn: Callable[..., Any],
    name: str | None,
    registered_model_name: str | None = None,
    await_registration_for: int = 300,
    *,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    **save_kwargs: Any,
) -> ModelInfo:
    """Save with ``save_fn(path=..., mlflow_model=..., **save_kwargs)`` and log it as a LoggedModel.

    ``params``, ``tags``, ``model_type``, ``step`` and ``model_id`` are MLflow 3's
    ``log_model`` arguments: extra params and tags for the LoggedModel, its type, the
    run step it belongs to (the run's metrics at that step are copied onto it), and an
    existing (PENDING) LoggedModel to log the files to instead of a new one.
    """
    name = _logged_model_name(name or "model")
    run = mltrail.active_run()
    run_id = run.info.run_id if run is not None else None
    client = context.client_for_uri(run._tracking_uri) if run is not None else context.client()
    current = client.get_run(run_id) if run_id else None
    if model_id is not None:
        model = client.get_logged_model(model_id)
    else:
        model = _create_logged_model(client, current, name, params, tags, model_type)
    note_logged_model(model.model_id)
    meta = Model(
        artifact_path=model.artifact_location,
        run_id=run_id,
        model_id=model.model_id,
        model_uuid=model.model_id,
    )
    try:
        if run_id is not None:
            client.log_outputs(run_id, [LoggedModelOutput(model.model_id, int(step))])
            _copy_step_metrics(client, model.model_id, run_id, int(step))
        with tempfile.TemporaryDirectory(prefix="mltrail-model-") as tmp:
            local = Path(tmp) / "model"
            save_fn(path=str(local), mlflow_model=meta, **save_kwargs)
            client.log_model_artifacts(model.model_id, str(local))
    except BaseException:
        _finalize_failed(client, model.model_id)
        raise
    if model.tags.get("mlflow.model.isExternal", "false").lower() == "true":
        client.delete_logged_model_tag(model.model_id, "mlflow.model.isExternal")
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    if current is not None:
        _append_history(client, current, meta)
    info = ModelInfo.from_model(meta, client.get_logged_model(model.model_id))
    if registered_model_name:
        mv = register_model(
            info.model_uri, registered_model_name, await_registration_for=await_registration_for
        )
        info.registered_model_version = int(mv.version)
    return info


def _copy_step_metrics(client: MlflowClient, model_id: str, run_id: str, step: int) -> None:
    """The run's metric values at ``step`` logged again with ``model_id``, as MLflow's ``Model.log`` does.

    Each distinct (key, value, timestamp, step) is copied once, even if the history holds it twice.
    """
    copied: dict[tuple[str, float, int, int], Metric] = {}
    for key in client.get_run(run_id).data.metrics:
        for m in client.get_metric_history(run_id, key):
            if m.step == step and m.model_id is None:
                copied.setdefault(
                    (m.key, m.value, m.timestamp, m.step),
                    Metric(
                        m.key,
                        m.value,
                        m.timestamp,
                        m.step,
                        m.dataset_name,
                        m.dataset_digest,
                        run_id,
                        model_id,
                    ),
                )
    if copied:
        client.log_batch(run_id, metrics=list(copied.values()))


def _logged_model_name(name: str) -> str:
    """``name`` if MLflow's LoggedModel name rule allows it, else with the refused characters as ``-``.

    An artifact path may be nested (``models/clf``); a LoggedModel name may not contain ``/``.
    """
    for ch in BAD_NAME_CHARS:
        name = name.replace(ch, "-")
    return name


def _create_logged_model(
    client: MlflowClient,
    run: Run | None,
    name: str,
    params: dict[str, Any] | None,
    tags: dict[str, Any] | None,
    model_type: str | None,
) -> LoggedModel:
    """A PENDING LoggedModel with MLflow's system tags and the run's params, in the run's experiment.

    The store picks its id and location, embedded or over HTTP, as for the official client.
    """
    all_params = {
        **{str(k): str(v) for k, v in (params or {}).items()},
        **(dict(run.data.params) if run else {}),
    }
    all_tags = {**default_tags(), **{str(k): str(v) for k, v in (tags or {}).items()}}
    experiment_id = run.info.experiment_id if run is not None else context.experiment_id(client)
    return client.create_logged_model(
        experiment_id,
        name=name,
        source_run_id=run.info.run_id if run is not None else None,
        tags=all_tags,
        params=all_params,
        model_type=model_type,
    )


def _finalize_failed(client: MlflowClient, model_id: str) -> None:
    """Mark the model FAILED; the original error is the one worth raising, so a failure here is logged."""
    try:
        client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
    except Exception:  # secondary to the error being raised
        _log.warning("Could not mark logged model %s as FAILED", model_id, exc_info=True)


def _append_history(client: MlflowClient, run: Run, meta: Model) -> None:
    """Add the model to the run's ``mlflow.log-model.history`` tag (skipped past a run tag's limit)."""
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
