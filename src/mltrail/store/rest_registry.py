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
from mltrail.store._http import HttpSession
from mltrail.store.registry import (
    SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    RegistryStore,
)

API = "/api/2.0/mlflow"


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


class RestRegistryStore(RegistryStore):
    """Registry calls as HTTP requests (keep-alive, retries on 5xx and dropped connections)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = HttpSession(self.base_url)

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.http.call("GET", API + path, params=_clean(params))

    def _send(self, method: str, path: str, **body: Any) -> dict[str, Any]:
        return self.http.call(method, API + path, json=_clean(body))

    # ------------------------------------------------------- registered models
    def create_registered_model(
        self, name: str, tags: Sequence[RegisteredModelTag] | None = None, description: str | None = None
    ) -> RegisteredModel:
        out = self._send(
            "POST",
            "/registered-models/create",
            name=name,
            description=description,
            tags=[t.to_dict() for t in tags or ()],
        )
        return RegisteredModel.from_dict(out["registered_model"])

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        out = self._send("PATCH", "/registered-models/update", name=name, description=description)
        return RegisteredModel.from_dict(out["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        out = self._send("POST", "/registered-models/rename", name=name, new_name=new_name)
        return RegisteredModel.from_dict(out["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._send("DELETE", "/registered-models/delete", name=name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return RegisteredModel.from_dict(self._get("/registered-models/get", name=name)["registered_model"])

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        out = self._get(
            "/registered-models/search",
            filter=filter_string or None,
            max_results=max_results,
            order_by=list(order_by) if order_by else None,
            page_token=page_token,
        )
        return PagedList(
            [RegisteredModel.from_dict(m) for m in out.get("registered_models", [])],
            out.get("next_page_token") or None,
        )

    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        out = self._send(
            "POST",
            "/registered-models/get-latest-versions",
            name=name,
            stages=list(stages) if stages else None,
        )
        return [ModelVersion.from_dict(v) for v in out.get("model_versions", [])]

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        self._send("POST", "/registered-models/set-tag", name=name, key=tag.key, value=tag.value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._send("DELETE", "/registered-models/delete-tag", name=name, key=key)

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
        out = self._send(
            "POST",
            "/model-versions/create",
            name=name,
            source=source,
            run_id=run_id,
            run_link=run_link,
            description=description,
            model_id=model_id,
            tags=[t.to_dict() for t in tags or ()],
        )
        return ModelVersion.from_dict(out["model_version"])

    def update_model_version(self, name: str, version: str, description: str | None) -> ModelVersion:
        out = self._send(
            "PATCH", "/model-versions/update", name=name, version=str(version), description=description
        )
        return ModelVersion.from_dict(out["model_version"])

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        out = self._send(
            "POST",
            "/model-versions/transition-stage",
            name=name,
            version=str(version),
            stage=stage,
            archive_existing_versions=archive_existing_versions,
        )
        return ModelVersion.from_dict(out["model_version"])

    def delete_model_version(self, name: str, version: str) -> None:
        self._send("DELETE", "/model-versions/delete", name=name, version=str(version))

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        return ModelVersion.from_dict(
            self._get("/model-versions/get", name=name, version=str(version))["model_version"]
        )

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        return self._get("/model-versions/get-download-uri", name=name, version=str(version))["artifact_uri"]

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        out = self._get(
            "/model-versions/search",
            filter=filter_string or None,
            max_results=max_results,
            order_by=list(order_by) if order_by else None,
            page_token=page_token,
        )
        return PagedList(
            [ModelVersion.from_dict(v) for v in out.get("model_versions", [])],
            out.get("next_page_token") or None,
        )

    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None:
        self._send(
            "POST", "/model-versions/set-tag", name=name, version=str(version), key=tag.key, value=tag.value
        )

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        self._send("DELETE", "/model-versions/delete-tag", name=name, version=str(version), key=key)

    # ----------------------------------------------------------------- aliases
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self._send("POST", "/registered-models/alias", name=name, alias=alias, version=str(version))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._send("DELETE", "/registered-models/alias", name=name, alias=alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return ModelVersion.from_dict(
            self._get("/registered-models/alias", name=name, alias=alias)["model_version"]
        )
