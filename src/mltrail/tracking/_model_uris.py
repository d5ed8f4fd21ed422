"""``models:/`` and ``runs:/`` URIs -> the concrete artifact URI behind them.

==============================  ==============================================
``models:/Name/3``              version 3's source
``models:/Name@champion``       the version the alias points at
``models:/Name/Production``     the newest version in that stage
``models:/Name/latest``         the newest version, whatever its stage
``runs:/<run_id>/name/path``    the run's logged model ``name`` (its location + path),
                                else ``<run artifact uri>/name/path``
anything else                   returned unchanged (paths, ``mlflow-artifacts:/``, s3 …)
==============================  ==============================================

A version's source may itself be a ``runs:/`` URI; it is resolved too.

These answers belong to the SDK (they ask the tracking store and the
registry), so they live here and are handed to :mod:`mltrail.artifacts`,
which sits below, through :func:`register_artifact_hooks`;
:mod:`mltrail.models.uri` re-exports them for model code.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mltrail.artifacts._hooks import register
from mltrail.artifacts.paths import validate_artifact_path
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.store.logged_models import validate_logged_model_name
from mltrail.tracking._store_registry import plan_store
from mltrail.tracking._uris import get_tracking_uri, resolve_tracking_uri
from mltrail.tracking.context import client_for_uri

if TYPE_CHECKING:
    from mltrail.entities.logged_model import LoggedModel
    from mltrail.entities.model_registry import ModelVersion
    from mltrail.tracking._registry_client import RegistryClientMixin
    from mltrail.tracking.client import MlflowClient

_STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None, str | None]:
    """``(name, version, stage, alias)`` of a ``models:/`` URI (exactly one of the last three set).

    ``latest`` is returned as stage ``"latest"``.
    """
    if not uri.startswith("models:/"):
        raise invalid(f"Not a models URI: {uri!r}")
    rest = uri[len("models:/") :].strip("/")
    if "@" in rest and "/" not in rest.split("@", 1)[1]:
        name, alias = rest.rsplit("@", 1)
        if not name or not alias:
            raise invalid(f"Invalid model URI {uri!r}: expected models:/<name>@<alias>")
        return name, None, None, alias
    name, sep, suffix = rest.rpartition("/")
    if not sep or not name or not suffix:
        raise invalid(
            f"Invalid model URI {uri!r}: expected models:/<name>/<version|stage|latest> "
            "or models:/<name>@<alias>"
        )
    if suffix.isdigit():
        return name, suffix, None, None
    if suffix.lower() == "latest":
        return name, None, "latest", None
    stage = _STAGES.get(suffix.lower())
    if stage is None:
        raise invalid(
            f"Invalid model URI {uri!r}: '{suffix}' is not a version number, a stage "
            "(None, Staging, Production, Archived) or 'latest'"
        )
    return name, None, stage, None


_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")


def _is_version_suffix(suffix: str) -> bool:
    return suffix.isdigit() or suffix.lower() in _STAGES or suffix.lower() == "latest"


def _registry_client(tracking_uri: str | None) -> MlflowClient:
    return client_for_uri(resolve_tracking_uri(tracking_uri))


def model_version_for(uri: str, client: RegistryClientMixin) -> ModelVersion:
    """The :class:`~mltrail.entities.model_registry.ModelVersion` a ``models:/`` URI names, asked of ``client``."""
    name, version, stage, alias = parse_models_uri(uri)
    if alias is not None:
        return client.get_model_version_by_alias(name, alias)
    if version is not None:
        return client.get_model_version(name, version)
    stages = None if stage == "latest" else [stage]
    found = client.get_latest_versions(name, stages)
    if not found:
        raise MltrailException(
            f"No versions of model '{name}' " + ("exist" if stages is None else f"in stage '{stage}'"),
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    return max(found, key=lambda mv: int(mv.version))


def resolve_model_uri(uri: str, tracking_uri: str | None = None) -> str:
    """The concrete artifact URI behind a ``models:/`` or ``runs:/`` URI (others unchanged).

    Example::

        resolve_model_uri("models:/MyLLMApp@champion")  # ".../artifacts/llm_model"
    """
    if not isinstance(uri, str) or not uri:
        raise invalid("A model URI must be a non-empty string")
    scheme = urlsplit(uri).scheme.lower()
    if scheme == "models":
        rest = uri[len("models:/") :].strip("/")
        if rest.startswith("m-") and "/" not in rest and "@" not in rest:
            return _logged_model_location(rest, tracking_uri)
        model_id, _, inner = rest.partition("/")
        if _MODEL_ID.fullmatch(model_id) and inner and not _is_version_suffix(inner):
            # `models:/<model_id>/MLmodel`: a file of a logged model (what download_artifacts splits off)
            location = _logged_model_location(model_id, tracking_uri)
            return location.rstrip("/") + "/" + validate_artifact_path(inner)
        client = _registry_client(tracking_uri)
        mv = model_version_for(uri, client)
        source = client.get_model_version_download_uri(mv.name, mv.version)
        return resolve_model_uri(source, tracking_uri) if source.startswith(("runs:", "models:")) else source
    if scheme == "runs":
        return resolve_runs_uri(uri, tracking_uri)
    return uri


def resolve_runs_uri(uri: str, tracking_uri: str | None = None) -> str:
    """``runs:/<run_id>/<path>`` -> ``<the run's artifact_uri>/<path>``.

    ``runs:<run_id>/<path>`` and ``runs:///<run_id>`` are accepted too.
    """
    rest = uri[len("runs:") :].lstrip("/")
    run_id, _, rel = rest.partition("/")
    if not run_id:
        raise invalid(f"Invalid runs URI {uri!r}: expected runs:/<run_id>/<path>")
    rel = validate_artifact_path(rel)
    client = _registry_client(tracking_uri)
    run = client.get_run(run_id)
    if rel:
        # MLflow 3 writes a model once, at its LoggedModel's location: `runs:/<run>/<name>/…`
        # names the run's logged model `<name>` when the run has one.
        name, _, inner = rel.partition("/")
        location = _run_logged_model_location(client, run.info.experiment_id, run_id, name)
        if location is not None:
            return location.rstrip("/") + "/" + inner if inner else location
    base = run.info.artifact_uri
    return base.rstrip("/") + "/" + rel if rel else base


def _run_logged_model_location(
    client: MlflowClient, experiment_id: str, run_id: str, name: str
) -> str | None:
    model = _run_logged_model(client, experiment_id, run_id, name)
    return model.artifact_location if model is not None else None


def _run_logged_model(client: MlflowClient, experiment_id: str, run_id: str, name: str) -> LoggedModel | None:
    """The newest READY logged model ``name`` whose source run is ``run_id`` (``None`` if there is none)."""
    try:
        validate_logged_model_name(name)  # also keeps the name safe inside the filter below
    except MltrailException:
        return None
    token: str | None = None
    while True:
        page = client.search_logged_models(
            [experiment_id], filter_string=f"name = '{name}'", max_results=100, page_token=token
        )
        for model in page:
            if model.source_run_id == run_id and model.status == "READY":
                return model
        token = page.token
        if not token:
            return None


def logged_model_for_runs_uri(uri: str, tracking_uri: str | None = None) -> LoggedModel | None:
    """The logged model ``runs:/<run_id>/<name>`` names (MLflow 3), or ``None`` (a plain run artifact path)."""
    rest = uri[len("runs:") :].lstrip("/")
    run_id, _, rel = rest.partition("/")
    name = rel.strip("/").split("/", 1)[0]
    if not run_id or not name or "/" in rel.strip("/"):
        return None
    client = _registry_client(tracking_uri)
    return _run_logged_model(client, client.get_run(run_id).info.experiment_id, run_id, name)


def _logged_model_location(model_id: str, tracking_uri: str | None) -> str:
    """``models:/<model_id>`` (MLflow 3 logged models) -> the model's artifact location."""
    client = _registry_client(tracking_uri)
    getter = getattr(client, "get_logged_model", None)
    if getter is None:
        raise MltrailException(f"Logged model '{model_id}' not found", error_code=RESOURCE_DOES_NOT_EXIST)
    return getter(model_id).artifact_location


def embedded_artifact_root(tracking_uri: str | None) -> str | None:
    """Where a server on the same database keeps ``mlflow-artifacts:/`` files, or ``None`` over HTTP.

    A server started on the embedded store's database writes proxied artifacts
    under its ``--artifacts-destination`` (``MLFLOW_ARTIFACTS_DESTINATION``),
    whose default is the same ``./mltrail-artifacts`` folder the embedded store
    uses; so runs created by the server stay readable and writable without it.
    """
    kind, _target, root = plan_store(resolve_tracking_uri(tracking_uri))
    if kind != "sql":
        return None
    configured = os.environ.get("MLFLOW_ARTIFACTS_DESTINATION")  # what `mltrail server` reads too
    if configured and not urlsplit(configured).scheme:
        return os.path.abspath(configured)  # a folder, as the server would read it from this cwd
    return configured or root


def register_artifact_hooks() -> None:
    """Hand :mod:`mltrail.artifacts` what it needs from the SDK (called by ``mltrail.tracking``)."""
    register(
        resolvers={"runs": resolve_runs_uri, "models": resolve_model_uri},
        tracking_uri=get_tracking_uri,
        embedded_root=embedded_artifact_root,
    )
