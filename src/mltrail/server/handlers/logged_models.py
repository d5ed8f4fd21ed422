"""MLflow 3's logged-model endpoints (``/logged-models…``) and ``/runs/outputs``.

These are what the official client's ``log_model`` calls: create a PENDING
model (its files then go through the artifact proxy to
``<experiment location>/models/<model_id>/artifacts``), record it as an output
of the run, log params and tags, and finalize it as READY.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mltrail.artifacts.paths import validate_artifact_path
from mltrail.entities.run_io import LoggedModelOutput
from mltrail.exceptions import invalid
from mltrail.protocol.logged_models import (  # noqa: F401 (the wire types, declared with the endpoints)
    KV,
    LOGGED_MODELS,
    CreateLoggedModel,
    Empty,
    FinalizeLoggedModel,
    GetLoggedModel,
    ListArtifacts,
    LoggedModelResponse,
    LogOutputs,
    LogParams,
    ModelOutput,
    OrderBy,
    SearchLoggedModels,
    SetTags,
)
from mltrail.server.handlers.artifacts import uri_destination
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.wire import page_json


def logged_model_store(call: Call) -> Any:
    """The logged-model store of this app (built in ``create_app`` with the others)."""
    return call.logged_model_store


def _model_id(call: Call) -> str:
    # Control characters in path parameters were refused by the dispatcher (server/dispatch.py).
    return call.path_params["model_id"]


def create(call: Call) -> dict[str, Any]:
    b: CreateLoggedModel = call.body
    if not b.experiment_id:
        raise invalid("Missing value for required parameter 'experiment_id'.")
    if b.source_run_id:
        call.tracking_store.get_run(b.source_run_id)  # 404 for an unknown run, before anything is written
    model = logged_model_store(call).create_logged_model(
        b.experiment_id,
        name=b.name,
        source_run_id=b.source_run_id,
        tags={t.key: t.value for t in b.tags},
        params={p.key: p.value for p in b.params},
        model_type=b.model_type,
    )
    return {"model": model.to_dict()}


def get(call: Call) -> dict[str, Any]:
    return {
        "model": logged_model_store(call).get_logged_model(_model_id(call), call.body.allow_deleted).to_dict()
    }


def finalize(call: Call) -> dict[str, Any]:
    return {
        "model": logged_model_store(call).finalize_logged_model(_model_id(call), call.body.status).to_dict()
    }


def delete(call: Call) -> dict[str, Any]:
    logged_model_store(call).delete_logged_model(_model_id(call))
    return {}


def set_tags(call: Call) -> dict[str, Any]:
    logged_model_store(call).set_logged_model_tags(_model_id(call), {t.key: t.value for t in call.body.tags})
    return {}


def delete_tag(call: Call) -> dict[str, Any]:
    logged_model_store(call).delete_logged_model_tag(_model_id(call), call.path_params["tag_key"])
    return {}


def log_params(call: Call) -> dict[str, Any]:
    logged_model_store(call).log_logged_model_params(
        _model_id(call), {p.key: p.value for p in call.body.params}
    )
    return {}


def search(call: Call) -> dict[str, Any]:
    b: SearchLoggedModels = call.body
    if not b.experiment_ids:
        raise invalid("Missing value for required parameter 'experiment_ids'.")
    order_by = [
        {
            "field_name": o.field_name,
            "ascending": o.ascending,
            "dataset_name": o.dataset_name,
            "dataset_digest": o.dataset_digest,
        }
        for o in b.order_by
    ]
    page = logged_model_store(call).search_logged_models(
        b.experiment_ids, b.filter, b.max_results, order_by, b.page_token, datasets=b.datasets or None
    )
    return page_json("models", page, lambda m: m.to_dict())


def log_outputs(call: Call) -> dict[str, Any]:
    """Record models as outputs of a run at their steps (``run.outputs.model_outputs``); both must exist."""
    b: LogOutputs = call.body
    if not b.run_id:
        raise invalid("Missing value for required parameter 'run_id'.")
    if not b.models:  # MLflow requires the list (the official client never sends an empty one)
        raise invalid("Missing value for required parameter 'models'.")
    for m in b.models:
        if not m.model_id:
            raise invalid("Missing value for required parameter 'models.model_id'.")
    logged_model_store(call).log_outputs(b.run_id, [LoggedModelOutput(m.model_id, m.step) for m in b.models])
    return {}


def list_artifacts(call: Call) -> dict[str, Any]:
    rel = validate_artifact_path(call.body.artifact_directory_path or "")
    root = logged_model_store(call).get_logged_model(_model_id(call)).artifact_location
    files = uri_destination(call, root, "logged model artifact location").list(rel)
    if rel:
        files = [{**f, "path": f"{rel}/{f['path']}"} for f in files]
    return {"root_uri": root, "files": files}


class LoggedModelArtifactFile(msgspec.Struct):
    """``?artifact_file_path=`` of MLflow UI's logged-model file download."""

    artifact_file_path: str = ""


async def get_artifact_file(call: Call) -> Response:
    """``/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files``: one file, as MLflow's UI reads it."""
    path = call.body.artifact_file_path
    if not path:
        raise invalid('Request must include the "artifact_file_path" query parameter.')
    rel = validate_artifact_path(path)
    model = await run_in_threadpool(logged_model_store(call).get_logged_model, _model_id(call))
    destination = uri_destination(call, model.artifact_location, "logged model artifact location")
    return await destination.download(rel)


L = LOGGED_MODELS
_W = {"write": True}
ENDPOINTS: list[Endpoint] = [
    implement(L.create_logged_model, create, **_W),
    implement(L.search_logged_models, search),
    implement(L.get_logged_model, get),
    implement(L.finalize_logged_model, finalize, **_W),
    implement(L.delete_logged_model, delete, **_W),
    implement(L.set_logged_model_tags, set_tags, **_W),
    implement(L.delete_logged_model_tag, delete_tag, **_W),
    implement(L.log_logged_model_params, log_params, **_W),
    implement(L.list_logged_model_artifacts, list_artifacts),
    implement(L.log_outputs, log_outputs, **_W),
    Endpoint(
        "/logged-models/{model_id}/artifacts/files",
        ("GET",),
        get_artifact_file,
        request=LoggedModelArtifactFile,
        ajax_only=True,
        summary="Download a logged model's file (MLflow UI)",
    ),
]
