"""``models:/`` and ``runs:/`` URIs -> the concrete artifact URI behind them.

==============================  ==============================================
``models:/Name/3``              version 3's source
``models:/Name@champion``       the version the alias points at
``models:/Name/Production``     the newest version in that stage
``models:/Name/latest``         the newest version, whatever its stage
``runs:/<run_id>/path``         ``<run artifact uri>/path``
anything else                   returned unchanged (paths, ``mlflow-artifacts:/``, s3 …)
==============================  ==============================================

A version's source may itself be a ``runs:/`` URI; it is resolved too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid

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


def _registry_client(tracking_uri: str | None):
    from mltrail.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def model_version_for(uri: str, tracking_uri: str | None = None):
    """The :class:`~mltrail.entities.model_registry.ModelVersion` a ``models:/`` URI names."""
    name, version, stage, alias = parse_models_uri(uri)
    client = _registry_client(tracking_uri)
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
        mv = model_version_for(uri, tracking_uri)
        client = _registry_client(tracking_uri)
        source = client.get_model_version_download_uri(mv.name, mv.version)
        return resolve_model_uri(source, tracking_uri) if source.startswith(("runs:", "models:")) else source
    if scheme == "runs":
        from mltrail.artifacts import resolve_artifact_uri

        return resolve_artifact_uri(uri, tracking_uri)
    return uri


def _logged_model_location(model_id: str, tracking_uri: str | None) -> str:
    """``models:/<model_id>`` (MLflow 3 logged models) -> the model's artifact location."""
    client = _registry_client(tracking_uri)
    getter = getattr(client, "get_logged_model", None)
    if getter is None:
        raise MltrailException(f"Logged model '{model_id}' not found", error_code=RESOURCE_DOES_NOT_EXIST)
    return getter(model_id).artifact_location
