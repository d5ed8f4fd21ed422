"""MLflow's model registry REST API (model_registry.proto): wire types and endpoint declarations."""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol.routes import Message, Route, RouteSet


class KV(msgspec.Struct):
    key: str
    value: str = ""


class NameReq(Message):
    name: str = ""


class CreateRegisteredModel(Message):
    name: str = ""
    tags: list[KV] = []
    description: str | None = None
    deployment_job_id: str | None = None


class RenameRegisteredModel(Message):
    name: str = ""
    new_name: str = ""


class UpdateRegisteredModel(Message):
    name: str = ""
    description: str | None = None
    deployment_job_id: str | None = None


class SearchReq(Message):
    filter: str | None = None
    max_results: int | None = None
    order_by: list[str] = []
    page_token: str | None = None


class GetLatestVersions(Message):
    name: str = ""
    stages: list[str] = []


class RegisteredModelTagReq(Message):
    name: str = ""
    key: str = ""
    value: str = ""


class CreateModelVersion(Message):
    name: str = ""
    source: str = ""
    run_id: str | None = None
    tags: list[KV] = []
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None


class VersionReq(Message):
    name: str = ""
    version: str = ""


class UpdateModelVersion(Message):
    name: str = ""
    version: str = ""
    description: str | None = None


class TransitionStage(Message):
    name: str = ""
    version: str = ""
    stage: str = ""
    archive_existing_versions: bool = False


class ModelVersionTagReq(Message):
    name: str = ""
    version: str = ""
    key: str = ""
    value: str = ""


class AliasReq(Message):
    name: str = ""
    alias: str = ""
    version: str = ""


class RegisteredModelResponse(msgspec.Struct):
    registered_model: dict[str, Any] = {}


class ModelVersionResponse(msgspec.Struct):
    model_version: dict[str, Any] = {}


class Empty(msgspec.Struct):
    pass


# ------------------------------------------------------------------- endpoints

_RM = "/registered-models"
_MV = "/model-versions"


def _r(name: str, method: str, path: str, req: type, resp: type = Empty) -> Route:
    return Route(name, method, path, req, resp, preview=True, tags=("model-registry",))


REGISTRY = RouteSet(
    _r("create_registered_model", "POST", f"{_RM}/create", CreateRegisteredModel, RegisteredModelResponse),
    _r("get_registered_model", "GET", f"{_RM}/get", NameReq, RegisteredModelResponse),
    _r("rename_registered_model", "POST", f"{_RM}/rename", RenameRegisteredModel, RegisteredModelResponse),
    _r("update_registered_model", "PATCH", f"{_RM}/update", UpdateRegisteredModel, RegisteredModelResponse),
    _r("delete_registered_model", "DELETE", f"{_RM}/delete", NameReq),
    _r("search_registered_models", "GET", f"{_RM}/search", SearchReq),
    _r("get_latest_versions", "POST", f"{_RM}/get-latest-versions", GetLatestVersions),
    _r("get_latest_versions_get", "GET", f"{_RM}/get-latest-versions", GetLatestVersions),
    _r("set_registered_model_tag", "POST", f"{_RM}/set-tag", RegisteredModelTagReq),
    _r("delete_registered_model_tag", "DELETE", f"{_RM}/delete-tag", RegisteredModelTagReq),
    _r("set_registered_model_alias", "POST", f"{_RM}/alias", AliasReq),
    _r("delete_registered_model_alias", "DELETE", f"{_RM}/alias", AliasReq),
    _r("get_model_version_by_alias", "GET", f"{_RM}/alias", AliasReq, ModelVersionResponse),
    _r("create_model_version", "POST", f"{_MV}/create", CreateModelVersion, ModelVersionResponse),
    _r("get_model_version", "GET", f"{_MV}/get", VersionReq, ModelVersionResponse),
    _r("update_model_version", "PATCH", f"{_MV}/update", UpdateModelVersion, ModelVersionResponse),
    _r("transition_model_version_stage", "POST", f"{_MV}/transition-stage", TransitionStage, ModelVersionResponse),
    _r("delete_model_version", "DELETE", f"{_MV}/delete", VersionReq),
    _r("search_model_versions", "GET", f"{_MV}/search", SearchReq),
    _r("get_model_version_download_uri", "GET", f"{_MV}/get-download-uri", VersionReq),
    _r("set_model_version_tag", "POST", f"{_MV}/set-tag", ModelVersionTagReq),
    _r("delete_model_version_tag", "DELETE", f"{_MV}/delete-tag", ModelVersionTagReq),
)
