"""MLflow's model registry REST endpoints (model_registry.proto), as thin calls into the registry store.

Model-version sources are checked here, where the server's own disk is at
stake (MLflow CVE-2023-1177, CVE-2024-1483): traversal, fragments and control
characters are refused for every scheme, and a *local* source (a plain path or
``file://``) is accepted only together with a ``run_id`` whose local artifact
directory contains it. ``runs:/`` and ``models:/<model_id>`` sources are
resolved to the artifact location the version's files are downloaded from.
As in MLflow, a version whose run this server does not know is registered
(a local source still needs a run it knows); a ``runs:/`` source of an unknown
run is resolved when its files are downloaded. Whatever the source, the server
reads a version's files only inside its artifact roots (:mod:`mltrail.server.roots`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mltrail.artifacts.paths import is_local_uri
from mltrail.entities import ModelVersionTag, RegisteredModelTag
from mltrail.entities.prompt import PROMPT_SOURCES, is_prompt_tags
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.protocol.registry import (  # noqa: F401 (the wire types, declared with the endpoints)
    KV,
    REGISTRY,
    AliasReq,
    CreateModelVersion,
    CreateRegisteredModel,
    Empty,
    GetLatestVersions,
    ModelVersionResponse,
    ModelVersionTagReq,
    NameReq,
    RegisteredModelResponse,
    RegisteredModelTagReq,
    RenameRegisteredModel,
    SearchReq,
    TransitionStage,
    UpdateModelVersion,
    UpdateRegisteredModel,
    VersionReq,
)
from mltrail.server.handlers.artifacts import run_artifact_uri
from mltrail.server.handlers.logged_models import logged_model_store
from mltrail.server.roots import local_path
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.webhook_events import with_webhook_events
from mltrail.server.wire import page_json


def _need(value: Any, field: str) -> Any:
    if value is None or value == "":
        raise invalid(f"Missing value for required parameter '{field}'.")
    return value


def _rm(call: Call, model: Any) -> dict[str, Any]:
    return {"registered_model": model.to_dict()}


def _mv(model_version: Any) -> dict[str, Any]:
    return {"model_version": model_version.to_dict()}


# ------------------------------------------------------------- registered models


def create_registered_model(call: Call) -> dict[str, Any]:
    b: CreateRegisteredModel = call.body
    tags = [RegisteredModelTag(t.key, t.value) for t in b.tags]
    return _rm(call, call.registry_store.create_registered_model(_need(b.name, "name"), tags, b.description))


def get_registered_model(call: Call) -> dict[str, Any]:
    return _rm(call, call.registry_store.get_registered_model(_need(call.body.name, "name")))


def rename_registered_model(call: Call) -> dict[str, Any]:
    b: RenameRegisteredModel = call.body
    return _rm(
        call,
        call.registry_store.rename_registered_model(_need(b.name, "name"), _need(b.new_name, "new_name")),
    )


def update_registered_model(call: Call) -> dict[str, Any]:
    b: UpdateRegisteredModel = call.body
    return _rm(call, call.registry_store.update_registered_model(_need(b.name, "name"), b.description))


def delete_registered_model(call: Call) -> dict[str, Any]:
    call.registry_store.delete_registered_model(_need(call.body.name, "name"))
    return {}


def search_registered_models(call: Call) -> dict[str, Any]:
    b: SearchReq = call.body
    page = call.registry_store.search_registered_models(
        b.filter or None,
        b.max_results if b.max_results is not None else 100,
        b.order_by or None,
        b.page_token,
    )
    return page_json("registered_models", page, lambda m: m.to_dict())


def get_latest_versions(call: Call) -> dict[str, Any]:
    b: GetLatestVersions = call.body
    versions = call.registry_store.get_latest_versions(_need(b.name, "name"), b.stages or None)
    return {"model_versions": [mv.to_dict() for mv in versions]}


def set_registered_model_tag(call: Call) -> dict[str, Any]:
    b: RegisteredModelTagReq = call.body
    call.registry_store.set_registered_model_tag(
        _need(b.name, "name"), RegisteredModelTag(_need(b.key, "key"), b.value)
    )
    return {}


def delete_registered_model_tag(call: Call) -> dict[str, Any]:
    b: RegisteredModelTagReq = call.body
    call.registry_store.delete_registered_model_tag(_need(b.name, "name"), _need(b.key, "key"))
    return {}


# ----------------------------------------------------------------- model versions


def _bad_local_source(source: str) -> MltrailException:
    return invalid(
        f"Invalid model version source: '{source}'. To use a local path as a model version source, "
        "the run_id request parameter has to be specified and the local path has to be contained "
        "within the artifact directory of the run specified by the run_id."
    )


def _find_run(call: Call, run_id: str) -> Any | None:
    """The run, or None when this server has no such run (MLflow registers such versions too)."""
    try:
        return call.tracking_store.get_run(run_id)
    except MltrailException as err:
        if err.error_code == RESOURCE_DOES_NOT_EXIST:
            return None
        raise


def _not_contained(source: str, id_name: str) -> MltrailException:
    """MLflow's message when the run or model named does not hold the source."""
    return invalid(
        f"Invalid model version source: '{source}'. The {id_name} request parameter must "
        "identify the resource that contains the source."
    )


def _uri_parts(uri: str) -> tuple[str, str, tuple[str, ...]]:
    """Scheme, authority and path segments (percent-decoded until stable), for containment checks."""
    parts = urlsplit(uri)
    segments = []
    for seg in parts.path.split("/"):
        while (decoded := unquote(seg)) != seg:
            seg = decoded
        if seg:
            segments.append(seg)
    return parts.scheme.lower(), parts.netloc.lower(), tuple(segments)


def _within(source: str, root: str) -> bool:
    src, top = _uri_parts(source), _uri_parts(root)
    return src[:2] == top[:2] and src[2][: len(top[2])] == top[2]


def _is_proxy_source(source: str) -> bool:
    """``mlflow-artifacts:`` URIs and http(s) URLs into a server's artifact proxy (MLflow's rule)."""
    scheme, _, segments = _uri_parts(source)
    route = ("api", "2.0", "mlflow-artifacts", "artifacts")
    return scheme == "mlflow-artifacts" or (
        scheme in ("http", "https")
        and any(segments[i : i + len(route)] == route for i in range(len(segments) - len(route) + 1))
    )


def _owner_root(call: Call, source: str, run_id: str | None, model_id: str | None) -> tuple[str, str]:
    """The artifact root of the logged model (``model_id``) or else the run (``run_id``) named."""
    if model_id:
        try:
            return _logged_models(call).get_logged_model(model_id).artifact_location, "model_id"
        except MltrailException as err:
            if err.error_code == RESOURCE_DOES_NOT_EXIST:
                raise _not_contained(source, "model_id") from None
            raise
    run = _find_run(call, run_id) if run_id else None
    if run is None:
        raise _not_contained(source, "run_id")
    return run.info.artifact_uri, "run_id"


def _check_local_source(call: Call, source: str, run_id: str | None, model_id: str | None) -> str:
    """A path on this server's disk: inside the run's (or logged model's) local artifact directory.

    As MLflow, the path is resolved first, so ``…/artifacts/a/../model`` is fine while it stays
    inside; the version stores the resolved path (in the form given: plain or ``file://``).
    """
    if not (run_id or model_id):
        raise _bad_local_source(source)
    try:
        root, _ = _owner_root(call, source, run_id, model_id)
    except MltrailException:
        raise _bad_local_source(source) from None
    if not is_local_uri(root):
        raise _bad_local_source(source)
    try:
        real_root = os.path.realpath(local_path(root))
        real_src = os.path.realpath(local_path(source))
    except MltrailException:  # a network path or a drive letter: not this server's disk
        raise _bad_local_source(source) from None
    if os.path.commonpath([real_root, real_src]) != real_root:
        raise _bad_local_source(source)
    return Path(real_src).as_uri() if urlsplit(source).scheme.lower() == "file" else real_src


def check_source(call: Call, source: str, run_id: str | None, model_id: str | None) -> tuple[str, str | None]:
    """Validate a version's source; return the source to store and the location to download from.

    Accepted as MLflow accepts them: ``runs:/<run_id>/…`` of the run named by ``run_id``
    (or of a run this server does not know), ``models:/<model_id>`` and
    ``models:/<name>/<version>``, a path or ``file://`` URI inside the run's (or, with
    ``model_id``, the logged model's) local artifact directory, and ``mlflow-artifacts:``
    URIs or proxy URLs inside that run's or model's artifact root. Nothing here reads
    files: downloads later go through the server's artifact roots
    (:func:`mltrail.server.handlers.artifacts.uri_destination`), whatever the source says.
    """
    # Imported here: the SQL registry module loads on first use, not while the server starts.
    with LAZY_IMPORTS:
        from mltrail.store.sql.registry import validate_source

    if is_local_uri(source):
        source = _check_local_source(call, source, run_id, model_id)
    validate_source(source)
    scheme = urlsplit(source).scheme.lower()
    if scheme == "runs":
        src_run = source[len("runs:") :].lstrip("/").partition("/")[0]
        if _find_run(call, _need(src_run, "run_id in source")) is None:
            return source, None  # as MLflow: stored as given, resolved when its files are downloaded
        return source, run_artifact_uri(call, source)
    if scheme == "models":
        rest = source[len("models:") :].lstrip("/")
        if rest.startswith("m-") and "/" not in rest:
            return source, _logged_models(call).get_logged_model(rest).artifact_location
        return source, None  # models:/Name/Version: the store resolves it (copy_model_version)
    if _is_proxy_source(source):
        root, id_name = _owner_root(call, source, run_id, model_id)
        if not _within(source, root):
            raise _not_contained(source, id_name)
    return source, None


def _logged_models(call: Call):
    return logged_model_store(call)


def _check_prompt_source(source: str) -> None:
    """MLflow's server: a prompt version's source is one of MLflow's placeholders, nothing else."""
    if source not in PROMPT_SOURCES:
        raise invalid(f"Invalid prompt source: '{source}'. Prompt sources must use an MLflow placeholder.")


def _refuse_prompt_source(call: Call, source: str) -> None:
    """MLflow's server: a model version is never copied from a prompt version (``models:/<prompt>/1``)."""
    if not source.startswith("models:/") or source[len("models:/") :].startswith("m-"):
        return
    src_name = source[len("models:/") :].strip("/").split("/")[0].split("@")[0]
    if src_name and is_prompt_tags(call.registry_store.get_registered_model(src_name).tags):
        raise invalid(
            f"Invalid model version source: '{source}'. Prompt versions cannot be used as model version sources."
        )


def create_model_version(call: Call) -> dict[str, Any]:
    b: CreateModelVersion = call.body
    name = _need(b.name, "name")
    source = _need(b.source, "source")
    storage = None
    if is_prompt_tags({t.key: t.value for t in b.tags}):  # a repeated tag: the last value wins
        _check_prompt_source(source)
    else:
        source, storage = check_source(call, source, b.run_id, b.model_id)
        _refuse_prompt_source(call, source)
    if b.model_id:
        _logged_models(call).get_logged_model(b.model_id)  # 404 for a model id nobody logged
    tags = [ModelVersionTag(t.key, t.value) for t in b.tags]
    mv = call.registry_store.create_model_version(
        name,
        source,
        run_id=b.run_id or None,
        tags=tags,
        run_link=b.run_link or None,
        description=b.description,
        model_id=b.model_id or None,
        storage_location=storage,
    )
    return _mv(mv)


def get_model_version(call: Call) -> dict[str, Any]:
    b: VersionReq = call.body
    return _mv(call.registry_store.get_model_version(_need(b.name, "name"), _need(b.version, "version")))


def update_model_version(call: Call) -> dict[str, Any]:
    b: UpdateModelVersion = call.body
    return _mv(
        call.registry_store.update_model_version(
            _need(b.name, "name"), _need(b.version, "version"), b.description
        )
    )


def transition_stage(call: Call) -> dict[str, Any]:
    b: TransitionStage = call.body
    return _mv(
        call.registry_store.transition_model_version_stage(
            _need(b.name, "name"),
            _need(b.version, "version"),
            _need(b.stage, "stage"),
            b.archive_existing_versions,
        )
    )


def delete_model_version(call: Call) -> dict[str, Any]:
    b: VersionReq = call.body
    call.registry_store.delete_model_version(_need(b.name, "name"), _need(b.version, "version"))
    return {}


def search_model_versions(call: Call) -> dict[str, Any]:
    b: SearchReq = call.body
    page = call.registry_store.search_model_versions(
        b.filter or None,
        b.max_results if b.max_results is not None else 10000,
        b.order_by or None,
        b.page_token,
    )
    return page_json("model_versions", page, lambda mv: mv.to_dict())


def get_download_uri(call: Call) -> dict[str, Any]:
    b: VersionReq = call.body
    uri = call.registry_store.get_model_version_download_uri(
        _need(b.name, "name"), _need(b.version, "version")
    )
    return {"artifact_uri": uri}


def set_model_version_tag(call: Call) -> dict[str, Any]:
    b: ModelVersionTagReq = call.body
    call.registry_store.set_model_version_tag(
        _need(b.name, "name"), _need(b.version, "version"), ModelVersionTag(_need(b.key, "key"), b.value)
    )
    return {}


def delete_model_version_tag(call: Call) -> dict[str, Any]:
    b: ModelVersionTagReq = call.body
    call.registry_store.delete_model_version_tag(
        _need(b.name, "name"), _need(b.version, "version"), _need(b.key, "key")
    )
    return {}


# ------------------------------------------------------------------------ aliases


def set_alias(call: Call) -> dict[str, Any]:
    b: AliasReq = call.body
    call.registry_store.set_registered_model_alias(
        _need(b.name, "name"), _need(b.alias, "alias"), _need(b.version, "version")
    )
    return {}


def delete_alias(call: Call) -> dict[str, Any]:
    b: AliasReq = call.body
    call.registry_store.delete_registered_model_alias(_need(b.name, "name"), _need(b.alias, "alias"))
    return {}


def get_by_alias(call: Call) -> dict[str, Any]:
    b: AliasReq = call.body
    return _mv(call.registry_store.get_model_version_by_alias(_need(b.name, "name"), _need(b.alias, "alias")))


R = REGISTRY
_W = {"write": True}
ENDPOINTS: list[Endpoint] = [
    implement(R.create_registered_model, create_registered_model, **_W),
    implement(R.get_registered_model, get_registered_model),
    implement(R.rename_registered_model, rename_registered_model, **_W),
    implement(R.update_registered_model, update_registered_model, **_W),
    implement(R.delete_registered_model, delete_registered_model, **_W),
    implement(R.search_registered_models, search_registered_models),
    implement(R.get_latest_versions, get_latest_versions),
    implement(R.get_latest_versions_get, get_latest_versions),
    implement(R.set_registered_model_tag, set_registered_model_tag, **_W),
    implement(R.delete_registered_model_tag, delete_registered_model_tag, **_W),
    implement(R.set_registered_model_alias, set_alias, **_W),
    implement(R.delete_registered_model_alias, delete_alias, **_W),
    implement(R.get_model_version_by_alias, get_by_alias),
    implement(R.create_model_version, create_model_version, **_W),
    implement(R.get_model_version, get_model_version),
    implement(R.update_model_version, update_model_version, **_W),
    implement(R.transition_model_version_stage, transition_stage, **_W),
    implement(R.delete_model_version, delete_model_version, **_W),
    implement(R.search_model_versions, search_model_versions),
    implement(R.get_model_version_download_uri, get_download_uri),
    implement(R.set_model_version_tag, set_model_version_tag, **_W),
    implement(R.delete_model_version_tag, delete_model_version_tag, **_W),
]
# Registry writes fire MLflow 3's webhook events (model version created, tags, aliases, prompts).
ENDPOINTS = with_webhook_events(ENDPOINTS)
