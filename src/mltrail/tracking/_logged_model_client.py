"""``MlflowClient``'s logged-model methods (MLflow 3's ``LoggedModel`` API, same names and arguments).

Logged models live with the client's tracking URI: a database URI or local
folder gives :class:`~mltrail.store.sql.logged_models.SqlLoggedModelStore` on the
same database, ``http(s)://`` gives
:class:`~mltrail.store.rest_logged_models.RestLoggedModelStore`. A model's files
are under its ``artifact_location`` and go through the artifact repositories.

Example::

    client = MlflowClient()
    model = client.create_logged_model(exp_id, name="agent", params={"temperature": "0.2"})
    client.log_model_artifacts(model.model_id, "build/agent")
    client.finalize_logged_model(model.model_id, "READY")
    page = client.search_logged_models([exp_id], filter_string="params.temperature = '0.2'")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mltrail.artifacts import get_artifact_repository
from mltrail.entities import PagedList
from mltrail.entities.logged_model import LoggedModel, LoggedModelOutput, LoggedModelStatus
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.tracking._store_registry import StoreCache, get_tracking_store

if TYPE_CHECKING:
    from mltrail.artifacts.base import ArtifactRepository
    from mltrail.entities.files import FileInfo
    from mltrail.store.logged_models import LoggedModelStore

def _build_store(kind: str, target: str, uri: str) -> LoggedModelStore:
    if kind == "rest":
        from mltrail.store.rest_logged_models import RestLoggedModelStore

        return RestLoggedModelStore(target)
    from mltrail.store.sql.logged_models import SqlLoggedModelStore

    get_tracking_store(uri)  # builds the schema and the Default experiment first
    return SqlLoggedModelStore(target)


_stores = StoreCache(_build_store)


def logged_model_store_for(tracking_uri: str) -> LoggedModelStore:
    """The (cached) logged-model store of a resolved tracking URI."""
    return _stores.get(tracking_uri)


def _check_model_id(model_id: Any) -> str:
    if not isinstance(model_id, str) or not model_id:
        raise invalid(f"`model_id` must be a non-empty string, but got {model_id!r}")
    return model_id


def _strings(values: dict[str, Any] | None, what: str) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise invalid(f"Invalid {what} {values!r}: expected a dict of names to values")
    return {str(k): str(v) for k, v in values.items()}


class LoggedModelClientMixin:
    """MLflow's ``MlflowClient`` logged-model methods (mixed into :class:`~mltrail.tracking.client.MlflowClient`)."""

    tracking_uri: str  # provided by MlflowClient

    @property
    def _logged_model_store(self) -> LoggedModelStore:
        return logged_model_store_for(self.tracking_uri)

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """A new PENDING logged model in ``experiment_id`` (a random name when ``name`` is ``None``).

        Unlike ``mltrail.initialize_logged_model`` no system tags are added.

        Example::

            model = client.create_logged_model("1", name="agent", model_type="agent")
        """
        if experiment_id is None or str(experiment_id) == "":
            raise invalid("Missing value for required parameter 'experiment_id'.")
        return self._logged_model_store.create_logged_model(
            str(experiment_id),
            name=name,
            source_run_id=source_run_id,
            tags=_strings(tags, "tags"),
            params=_strings(params, "params"),
            model_type=model_type,
        )

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        """The logged model ``model_id`` (what ``models:/<model_id>`` names); ``RESOURCE_DOES_NOT_EXIST`` if unknown."""
        return self._logged_model_store.get_logged_model(_check_model_id(model_id), allow_deleted)

    def search_logged_models(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        datasets: list[dict[str, Any]] | None = None,
        max_results: int | None = None,
        order_by: list[dict[str, Any]] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of logged models (``PagedList``, next page in ``.token``), newest first by default.

        See :mod:`mltrail.store.logged_models` for the filter grammar.

        Example::

            page = client.search_logged_models(
                [exp_id], filter_string="name = 'agent' AND status = 'READY'",
                order_by=[{"field_name": "creation_time", "ascending": False}], max_results=10,
            )
        """
        if isinstance(experiment_ids, (str, int)) or not experiment_ids:
            raise invalid(f"Invalid experiment_ids {experiment_ids!r}: expected a non-empty list of ids")
        return self._logged_model_store.search_logged_models(
            [str(e) for e in experiment_ids], filter_string, max_results, order_by, page_token, datasets
        )

    def finalize_logged_model(self, model_id: str, status: str | LoggedModelStatus) -> LoggedModel:
        """Set the final status (``READY`` or ``FAILED``) and return the model."""
        final = LoggedModelStatus.normalize(status)
        if not LoggedModelStatus.is_finalized(final):
            raise invalid(f"Invalid status {status!r} to finalize a logged model: use READY or FAILED")
        return self._logged_model_store.finalize_logged_model(_check_model_id(model_id), final)

    def delete_logged_model(self, model_id: str) -> None:
        """Move the model to the trash (``get_logged_model(..., allow_deleted=True)`` still reads it)."""
        self._logged_model_store.delete_logged_model(_check_model_id(model_id))

    def set_logged_model_tags(self, model_id: str, tags: dict[str, Any]) -> None:
        """Set (or overwrite) tags; values are stored as strings."""
        tags = _strings(tags, "tags")
        _on_existing(
            model_id, "set tags on", lambda: self._logged_model_store.set_logged_model_tags(model_id, tags)
        )

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove a tag (``RESOURCE_DOES_NOT_EXIST`` if the model or the tag is unknown)."""
        self._logged_model_store.delete_logged_model_tag(_check_model_id(model_id), str(key))

    def log_model_params(self, model_id: str, params: dict[str, Any]) -> None:
        """Log params on the model; values are stored as strings."""
        params = _strings(params, "params")
        _on_existing(
            model_id,
            "log params to",
            lambda: self._logged_model_store.log_logged_model_params(model_id, params),
        )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record logged models as outputs of a run (both must exist)."""
        outputs = [
            m if isinstance(m, LoggedModelOutput) else LoggedModelOutput(m.model_id, m.step) for m in models
        ]
        self._logged_model_store.log_outputs(run_id, outputs)

    # ----------------------------------------------------------------- artifacts
    def _model_repo(self, model_id: str) -> ArtifactRepository:
        location = self.get_logged_model(model_id).artifact_location
        return get_artifact_repository(location, tracking_uri=self.tracking_uri)

    def log_model_artifact(
        self, model_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload a file to the model's artifacts (under ``artifact_path``)."""
        if not os.path.isfile(local_path):
            raise invalid(f"Cannot log model artifact: {str(local_path)!r} is not a file")
        self._model_repo(model_id).log_artifact(str(local_path), artifact_path)

    def log_model_artifacts(
        self, model_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload the contents of a directory to the model's artifacts."""
        if not os.path.isdir(local_dir):
            raise invalid(f"Cannot log model artifacts: {str(local_dir)!r} is not a directory")
        self._model_repo(model_id).log_artifacts(str(local_dir), artifact_path)

    def list_logged_model_artifacts(self, model_id: str, path: str | None = None) -> list[FileInfo]:
        """The model's files one level under ``path`` (``FileInfo`` records)."""
        return self._model_repo(model_id).list_artifacts(path)


def _on_existing(model_id: Any, action: str, write: Any) -> None:
    """Run ``write``; an unknown model is MLflow's INVALID_PARAMETER_VALUE with a clear message."""
    _check_model_id(model_id)
    try:
        write()
    except MltrailException as err:
        if err.error_code != RESOURCE_DOES_NOT_EXIST:
            raise
        raise invalid(
            f"Failed to {action} logged model with ID {model_id}: it does not exist or was deleted. "
            "(To tag a registered model version, use set_model_version_tag.)"
        ) from err
