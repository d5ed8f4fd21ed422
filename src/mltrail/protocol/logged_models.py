"""MLflow 3's logged-model REST API: wire types and endpoint declarations."""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol.routes import Message, Route, RouteSet


class KV(msgspec.Struct):
    key: str
    value: str = ""


class CreateLoggedModel(Message):
    experiment_id: str = ""
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KV] = []
    tags: list[KV] = []


class GetLoggedModel(Message):
    allow_deleted: bool = False


class FinalizeLoggedModel(msgspec.Struct):
    """Sent in full (``status`` too, though it is the default): what the official client sends."""

    model_id: str | None = None
    status: str | int = "LOGGED_MODEL_READY"


class SetTags(Message):
    model_id: str | None = None
    tags: list[KV] = []


class LogParams(Message):
    model_id: str | None = None
    params: list[KV] = []


class OrderBy(msgspec.Struct):
    field_name: str = ""
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


class SearchLoggedModels(Message):
    experiment_ids: list[str] = []
    filter: str | None = None
    datasets: list[dict[str, Any]] = []
    max_results: int | None = None
    order_by: list[OrderBy] = []
    page_token: str | None = None


class ModelOutput(msgspec.Struct):
    model_id: str
    step: int = 0


class LogOutputs(Message):
    run_id: str = ""
    models: list[ModelOutput] = []


class ListArtifacts(Message):
    artifact_directory_path: str = ""
    page_token: str | None = None


class LoggedModelResponse(msgspec.Struct):
    model: dict[str, Any] = {}


class Empty(msgspec.Struct):
    pass


# ------------------------------------------------------------------- endpoints

_LM = "/logged-models"
_ONE = _LM + "/{model_id}"


def _r(name: str, method: str, path: str, req: type | None, resp: type = Empty) -> Route:
    return Route(name, method, path, req, resp, tags=("logged-models",))


LOGGED_MODELS = RouteSet(
    _r("create_logged_model", "POST", _LM, CreateLoggedModel, LoggedModelResponse),
    _r("search_logged_models", "POST", f"{_LM}/search", SearchLoggedModels),
    _r("get_logged_model", "GET", _ONE, GetLoggedModel, LoggedModelResponse),
    _r("finalize_logged_model", "PATCH", _ONE, FinalizeLoggedModel, LoggedModelResponse),
    _r("delete_logged_model", "DELETE", _ONE, None),
    _r("set_logged_model_tags", "PATCH", f"{_ONE}/tags", SetTags),
    _r("delete_logged_model_tag", "DELETE", f"{_ONE}/tags/{{tag_key}}", None),
    _r("log_logged_model_params", "POST", f"{_ONE}/params", LogParams),
    _r("list_logged_model_artifacts", "GET", f"{_ONE}/artifacts/directories", ListArtifacts),
    _r("log_outputs", "POST", "/runs/outputs", LogOutputs),
)
