"""``RestRegistryStore``: the registry store interface over MLflow's registry REST API.

Works against ``mltrail server`` and ``mlflow server`` alike.

Example::

    store = RestRegistryStore("http://127.0.0.1:5000")
    store.get_model_version("MyLLMApp", "1")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mltrail.entities import (
    ModelVersion,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)
from mltrail.protocol import registry as w
from mltrail.protocol.registry import REGISTRY as R
from mltrail.store._http import HttpSession
from mltrail.store.registry import (
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    RegistryStore,
)


def _kvs(tags: Sequence[Any] | None) -> list[w.KV]:
    return [w.KV(t.key, t.value) for t in tags or ()]


class RestRegistryStore(RegistryStore):
    """Registry calls as HTTP requests (keep-alive, retries on 5xx and dropped connections)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = HttpSession(self.base_url)

    # ------------------------------------------------------- registered models
    def create_registered_model(
        self, name: str, tags: Sequence[RegisteredModelTag] | None = None, description: str | None = None
    ) -> RegisteredModel:
        body = w.CreateRegisteredModel(name, _kvs(tags), description)
        return RegisteredModel.from_dict(self.http.send(R.create_registered_model, body)["registered_model"])

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        out = self.http.send(R.update_registered_model, w.UpdateRegisteredModel(name, description))
        return RegisteredModel.from_dict(out["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        out = self.http.send(R.rename_registered_model, w.RenameRegisteredModel(name, new_name))
        return RegisteredModel.from_dict(out["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self.http.send(R.delete_registered_model, w.NameReq(name))

    def get_registered_model(self, name: str) -> RegisteredModel:
        return RegisteredModel.from_dict(self.http.send(R.get_registered_model, w.NameReq(name))["registered_model"])

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        body = w.SearchReq(filter_string or None, max_results, list(order_by or ()), page_token)
        out = self.http.send(R.search_registered_models, body)
        return PagedList(
            [RegisteredModel.from_dict(m) for m in out.get("registered_models", [])],
            out.get("next_page_token") or None,
        )

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        out = self.http.send(R.get_latest_versions, w.GetLatestVersions(name, list(stages or ())))
        return [ModelVersion.from_dict(v) for v in out.get("model_versions", [])]

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        self.http.send(R.set_registered_model_tag, w.RegisteredModelTagReq(name, tag.key, tag.value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.http.send(R.delete_registered_model_tag, w.RegisteredModelTagReq(name, key))

    # ---------------------------------------------------------- model versions
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        local_model_path: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        body = w.CreateModelVersion(name, source, run_id, _kvs(tags), run_link, description, model_id)
        return ModelVersion.from_dict(self.http.send(R.create_model_version, body)["model_version"])

    def update_model_version(self, name: str, version: str, description: str | None) -> ModelVersion:
        body = w.UpdateModelVersion(name, str(version), description)
        return ModelVersion.from_dict(self.http.send(R.update_model_version, body)["model_version"])

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        body = w.TransitionStage(name, str(version), stage, archive_existing_versions)
        return ModelVersion.from_dict(self.http.send(R.transition_model_version_stage, body)["model_version"])

    def delete_model_version(self, name: str, version: str) -> None:
        self.http.send(R.delete_model_version, w.VersionReq(name, str(version)))

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        out = self.http.send(R.get_model_version, w.VersionReq(name, str(version)))
        return ModelVersion.from_dict(out["model_version"])

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        return self.http.send(R.get_model_version_download_uri, w.VersionReq(name, str(version)))["artifact_uri"]

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        body = w.SearchReq(filter_string or None, max_results, list(order_by or ()), page_token)
        out = self.http.send(R.search_model_versions, body)
        return PagedList(
            [ModelVersion.from_dict(v) for v in out.get("model_versions", [])],
            out.get("next_page_token") or None,
        )

    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        self.http.send(R.set_model_version_tag, w.ModelVersionTagReq(name, str(version), tag.key, tag.value))

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        self.http.send(R.delete_model_version_tag, w.ModelVersionTagReq(name, str(version), key))

    # ----------------------------------------------------------------- aliases
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self.http.send(R.set_registered_model_alias, w.AliasReq(name, alias, str(version)))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.http.send(R.delete_registered_model_alias, w.AliasReq(name, alias))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        out = self.http.send(R.get_model_version_by_alias, w.AliasReq(name, alias))
        return ModelVersion.from_dict(out["model_version"])
