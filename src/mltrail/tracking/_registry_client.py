"""Model-registry methods of :class:`mltrail.tracking.MlflowClient` (MLflow's names and arguments).

The registry store is chosen from ``self._registry_uri`` the same way the
tracking store is (:func:`mltrail.tracking._store_registry.plan_store`): a SQL
URI or local folder gives :class:`~mltrail.store.sql.registry.SqlRegistryStore`
on the same database, ``http(s)://`` gives
:class:`~mltrail.store.rest_registry.RestRegistryStore`.

Example::

    client = MlflowClient()
    client.create_registered_model("MyLLMApp")
    mv = client.create_model_version("MyLLMApp", f"runs:/{run_id}/llm_model", run_id=run_id)
    client.transition_model_version_stage("MyLLMApp", mv.version, "Production")
    client.set_registered_model_alias("MyLLMApp", "champion", mv.version)
"""

from __future__ import annotations

import logging
import posixpath
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mltrail.artifacts import get_artifact_repository
from mltrail.entities import (
    ModelVersion,
    ModelVersionStages,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)
from mltrail.exceptions import invalid, not_found
from mltrail.tracking._model_uris import model_version_for
from mltrail.tracking._store_registry import StoreCache

if TYPE_CHECKING:
    from mltrail.store.registry import RegistryStore

_log = logging.getLogger(__name__)

def _build_registry_store(kind: str, target: str, _uri: str) -> RegistryStore:
    if kind == "rest":
        from mltrail.store.rest_registry import RestRegistryStore

        return RestRegistryStore(target)
    from mltrail.store.sql.registry import SqlRegistryStore

    return SqlRegistryStore(target)


_registry_stores = StoreCache(_build_registry_store)


def get_registry_store(registry_uri: str) -> RegistryStore:
    """The (cached) registry store for a resolved registry URI."""
    return _registry_stores.get(registry_uri)


def _tag_list(tags: dict[str, Any] | None, cls: type) -> list[Any]:
    return [cls(str(k), str(v)) for k, v in (tags or {}).items()]


class RegistryClientMixin:
    """Registry half of the client; expects ``self._registry_uri`` to be set by ``__init__``."""

    _registry_uri: str

    @property
    def _registry_store(self) -> RegistryStore:
        return get_registry_store(self._registry_uri)

    # ------------------------------------------------------- registered models
    def create_registered_model(
        self,
        name: str,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        deployment_job_id: str | None = None,
    ) -> RegisteredModel:
        """Create a registered model; ``RESOURCE_ALREADY_EXISTS`` if the name is taken."""
        return self._registry_store.create_registered_model(
            name, _tag_list(tags, RegisteredModelTag), description
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._registry_store.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self._registry_store.rename_registered_model(name, new_name)

    def update_registered_model(
        self, name: str, description: str | None = None, deployment_job_id: str | None = None
    ) -> RegisteredModel:
        return self._registry_store.update_registered_model(name, description)

    def delete_registered_model(self, name: str) -> None:
        self._registry_store.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of registered models (filter on ``name``, ``tags.<key>``)."""
        return self._registry_store.search_registered_models(filter_string, max_results, order_by, page_token)

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each stage (or in each of ``stages``)."""
        return self._registry_store.get_latest_versions(name, list(stages) if stages else None)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self._registry_store.set_registered_model_tag(name, RegisteredModelTag(str(key), str(value)))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._registry_store.delete_registered_model_tag(name, key)

    # ---------------------------------------------------------- model versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        model_id: str | None = None,
    ) -> ModelVersion:
        """A new version of ``name`` whose files live at ``source``; keeps ``run_id``/``run_link`` lineage.

        A ``source`` without an ``MLmodel`` file is registered all the same, as
        in MLflow, but with a warning: such a version cannot be loaded or served.
        """
        if run_id and not run_link:
            run_link = self._run_link(run_id)
        mv = self._registry_store.create_model_version(
            name,
            source,
            run_id=run_id,
            tags=_tag_list(tags, ModelVersionTag),
            run_link=run_link,
            description=description,
            model_id=model_id,
        )
        self._warn_if_not_a_model(source)
        return mv

    def _warn_if_not_a_model(self, source: str) -> None:
        """Warn when ``source`` (a folder, ``runs:/``, ``models:/`` …) holds no MLmodel file; never fail."""
        try:
            repo = get_artifact_repository(source, tracking_uri=getattr(self, "_tracking_uri", None))
            files = repo.list_artifacts(None)
        except Exception as err:  # the check is advice: a source we cannot list is not an error here
            _log.debug("Could not list model version source %r: %s", source, err)
            return
        if not any(not f.is_dir and posixpath.basename(f.path) == "MLmodel" for f in files):
            warnings.warn(
                f"Model version source {source!r} holds no MLmodel file: the version is registered, but "
                "it cannot be loaded or served. Register the folder that log_model wrote "
                "(e.g. runs:/<run_id>/model).",
                UserWarning,
                stacklevel=3,
            )

    def _run_link(self, run_id: str) -> str | None:
        """``<ui>/#/experiments/<exp>/runs/<run>`` — where the UI shows the version's run."""
        try:
            run = self.get_run(run_id)  # type: ignore[attr-defined]
        except Exception:  # a version may name a run this tracking store does not know
            return None
        base = self._tracking_uri if str(getattr(self, "_tracking_uri", "")).startswith("http") else ""
        return f"{base.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run_id}"

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self._registry_store.get_model_version(name, str(version))

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        return self._registry_store.update_model_version(name, str(version), description)

    def delete_model_version(self, name: str, version: str | int) -> None:
        self._registry_store.delete_model_version(name, str(version))

    def transition_model_version_stage(
        self, name: str, version: str | int, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """Move a version to None, Staging, Production or Archived (optionally archiving the others)."""
        return self._registry_store.transition_model_version_stage(
            name, str(version), stage, archive_existing_versions
        )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of versions (filter on ``name``, ``version_number``, ``run_id``, ``source_path``, tags)."""
        return self._registry_store.search_model_versions(filter_string, max_results, order_by, page_token)

    def get_model_version_stages(self, name: str, version: str | int) -> list[str]:
        """The stages a version can move to (MLflow's fixed list)."""
        self.get_model_version(name, version)  # 404 for an unknown version, as MLflow
        return list(ModelVersionStages.ALL)

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        return self._registry_store.get_model_version_download_uri(name, str(version))

    def set_model_version_tag(
        self,
        name: str,
        version: str | int | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        version = self._version_or_stage(name, version, stage)
        self._registry_store.set_model_version_tag(name, version, ModelVersionTag(str(key), str(value)))

    def delete_model_version_tag(
        self, name: str, version: str | int | None = None, key: str | None = None, stage: str | None = None
    ) -> None:
        version = self._version_or_stage(name, version, stage)
        self._registry_store.delete_model_version_tag(name, version, str(key))

    def _version_or_stage(self, name: str, version: str | int | None, stage: str | None) -> str:
        if version is not None and stage is not None:
            raise invalid("version and stage cannot be set together")
        if version is not None:
            return str(version)
        if stage is None:
            raise invalid("version or stage must be set")
        latest = self.get_latest_versions(name, [stage])
        if not latest:
            raise not_found(f"Could not find any model version for {stage} stage")
        return latest[0].version

    def copy_model_version(self, src_model_uri: str, dst_name: str) -> ModelVersion:
        """Copy the version at ``models:/Name/3`` (or ``@alias``/stage) into ``dst_name``."""
        src = model_version_for(src_model_uri, self)
        return self._registry_store.copy_model_version(src, dst_name)

    # ----------------------------------------------------------------- aliases
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        self._registry_store.set_registered_model_alias(name, alias, str(version))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._registry_store.delete_registered_model_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._registry_store.get_model_version_by_alias(name, alias)
