"""The model registry store interface (MLflow's ``model_registry.AbstractStore`` names).

Implemented on SQL (:class:`mltrail.store.sql.registry.SqlRegistryStore`) and
over HTTP (:class:`mltrail.store.rest_registry.RestRegistryStore`).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence

from mltrail.entities import (
    ModelVersion,
    ModelVersionTag,
    PagedList,
    RegisteredModel,
    RegisteredModelTag,
)
from mltrail.exceptions import RESOURCE_ALREADY_EXISTS, MltrailException, invalid
from mltrail.store import validation as v

SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT = 100
SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD = 1000
SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT = 10000
SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD = 200000
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")


# ----------------------------------------------------------------- validation (MLflow's rules)
# The length limits themselves live in mltrail.store.validation, with every other limit.


def validate_model_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise invalid(f"Missing value for required parameter '{field}'.")
    if "/" in name or ":" in name:
        raise invalid(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    v.validate_registered_model_name_length(name)
    return name


def validate_version(version: object) -> int:
    try:
        if isinstance(version, bool):
            raise ValueError
        return int(str(version))
    except (TypeError, ValueError):
        raise invalid(f"Parameter 'version' must be an integer, got '{version}'.") from None


def validate_tag(key: object, value: object) -> None:
    """A registry (or logged-model) tag: key ≤ 250, value ≤ 100,000 characters, as in MLflow 3."""
    v.validate_registry_tag(key, value)


def validate_alias(alias: object, *, reserved: bool = True) -> str:
    if not isinstance(alias, str) or alias == "":
        raise invalid("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise invalid(
            f"Invalid alias name: '{alias}'. "
            "Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    v.validate_alias_length(alias)
    if reserved:
        if alias.lower() == "latest":
            raise invalid("'latest' alias name (case insensitive) is reserved.")
        if _VERSION_ALIAS.match(alias):
            raise invalid(f"Version alias name '{alias}' is reserved.")
    return alias


def validate_max_results(max_results: object, threshold: int) -> int:
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise invalid(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results!r}"
        )
    if max_results > threshold:
        raise invalid(
            f"Invalid value for request parameter max_results. "
            f"It must be at most {threshold}, but got value {max_results}"
        )
    return max_results


class RegistryStore(ABC):
    """Registered models, versions, stages, tags and aliases."""

    # ------------------------------------------------------- registered models
    @abstractmethod
    def create_registered_model(
        self, name: str, tags: Sequence[RegisteredModelTag] | None = None, description: str | None = None
    ) -> RegisteredModel:
        """Create a model; ``RESOURCE_ALREADY_EXISTS`` if the name is taken."""

    @abstractmethod
    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: ...

    @abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...

    @abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Delete the model with all its versions, tags and aliases."""

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abstractmethod
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList: ...

    @abstractmethod
    def get_latest_versions(self, name: str, stages: Sequence[str] | None = None) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (all stages when empty)."""

    @abstractmethod
    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None: ...

    @abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    # ---------------------------------------------------------- model versions
    @abstractmethod
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
    ) -> ModelVersion: ...

    @abstractmethod
    def update_model_version(self, name: str, version: str, description: str | None) -> ModelVersion: ...

    @abstractmethod
    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion: ...

    @abstractmethod
    def delete_model_version(self, name: str, version: str) -> None: ...

    @abstractmethod
    def get_model_version(self, name: str, version: str) -> ModelVersion: ...

    @abstractmethod
    def get_model_version_download_uri(self, name: str, version: str) -> str: ...

    @abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList: ...

    @abstractmethod
    def set_model_version_tag(self, name: str, version: str, tag: ModelVersionTag) -> None: ...

    @abstractmethod
    def delete_model_version_tag(self, name: str, version: str, key: str) -> None: ...

    # ----------------------------------------------------------------- aliases
    @abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...

    @abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    def copy_model_version(self, src_mv: ModelVersion, dst_name: str) -> ModelVersion:
        """A new version of ``dst_name`` (created if missing) with ``src_mv``'s source and lineage."""
        try:
            self.create_registered_model(dst_name)
        except MltrailException as err:
            if err.error_code != RESOURCE_ALREADY_EXISTS:
                raise
        source = f"models:/{src_mv.name}/{src_mv.version}"
        return self.create_model_version(
            dst_name,
            source,
            run_id=src_mv.run_id,
            tags=[ModelVersionTag(k, v) for k, v in src_mv.tags.items()],
            run_link=src_mv.run_link,
            description=src_mv.description,
            model_id=src_mv.model_id,
        )
