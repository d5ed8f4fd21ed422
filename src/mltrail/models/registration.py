"""``mltrail.register_model``: create a registered model version from a logged model."""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import RESOURCE_ALREADY_EXISTS, MltrailException
from mltrail.models.download import local_path_of
from mltrail.models.model import Model


def _run_id_of(model_uri: str) -> str | None:
    if model_uri.startswith("runs:"):
        rest = model_uri[len("runs:") :].lstrip("/")
        return rest.split("/", 1)[0] or None
    return None


def register_model(
    model_uri: str,
    name: str,
    await_registration_for: int = 300,
    *,
    tags: dict[str, Any] | None = None,
    env_pack: Any = None,
):
    """Register the model at ``model_uri`` as a new version of ``name`` (created if missing).

    The version keeps lineage: its ``run_id`` (from a ``runs:/`` URI or the
    model's MLmodel) and ``run_link``; its ``source`` is the URI given.

    Example::

        mv = mltrail.register_model(f"runs:/{run_id}/llm_model", "MyLLMApp")
        mv.version  # "1"
    """
    from mltrail.tracking import MlflowClient

    client = MlflowClient()
    try:
        client.create_registered_model(name)
    except MltrailException as err:
        if err.error_code != RESOURCE_ALREADY_EXISTS:
            raise
    if model_uri.startswith("runs:"):
        from mltrail.models.uri import logged_model_for_runs_uri

        logged = logged_model_for_runs_uri(model_uri)
        if logged is not None:  # MLflow 3: the run's logged model, registered by its models:/ URI
            model_uri = f"models:/{logged.model_id}"
            mv = client.create_model_version(
                name,
                model_uri,
                run_id=logged.source_run_id,
                tags=tags,
                await_creation_for=await_registration_for,
                model_id=logged.model_id,
            )
            return mv
    model_id, run_id = _model_ids_from_uri(model_uri, _run_id_of(model_uri))
    if model_id is None and model_uri.startswith("models:/m-") and "/" not in model_uri[len("models:/") :]:
        model_id = model_uri[len("models:/") :]  # MLflow 3: models:/<model_id> names the logged model itself
    if model_id is not None:
        try:  # link the version to the logged model only when the store knows it
            logged_model = client.get_logged_model(model_id)
        except MltrailException:
            model_id = None
        else:  # MLflow 3: the version's run is the model's source run
            run_id = run_id or logged_model.source_run_id
    mv = client.create_model_version(
        name,
        model_uri,
        run_id=run_id,
        tags=tags,
        await_creation_for=await_registration_for,
        model_id=model_id,
    )
    return mv


def _model_ids_from_uri(model_uri: str, run_id: str | None) -> tuple[str | None, str | None]:
    """Best effort: read ``model_id``/``run_id`` from the model's MLmodel (local or remote)."""
    try:
        local = local_path_of(model_uri)
        if local is None and model_uri.startswith("runs:"):
            from mltrail.models.uri import resolve_model_uri

            local = local_path_of(resolve_model_uri(model_uri))
        if local is not None and (local / "MLmodel").is_file():
            meta = Model.load(local)
            return meta.model_id, run_id or meta.run_id
    except MltrailException:
        pass
    return None, run_id
