"""Model registry records: registered models, versions, tags, aliases and stages.

``to_dict`` gives MLflow's REST JSON (versions are strings, tags are
``[{"key", "value"}]`` lists, a registered model's aliases are
``[{"alias", "version"}]`` and a version's aliases a list of names); the
Python attributes follow MLflow's entities (``tags`` is a dict, a registered
model's ``aliases`` a dict alias -> version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mltrail.entities.prompt import Prompt, PromptModelConfig, PromptVersion
from mltrail.exceptions import invalid

# Prompts live in the registry (registered models / versions with prompt tags), as in MLflow.
__all__ = [
    "ModelVersion",
    "ModelVersionStages",
    "ModelVersionStatus",
    "ModelVersionTag",
    "Prompt",
    "PromptModelConfig",
    "PromptVersion",
    "RegisteredModel",
    "RegisteredModelAlias",
    "RegisteredModelTag",
]


class ModelVersionStages:
    """The four stages a version moves through (``transition_model_version_stage``)."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"
    # Versions deleted by the user keep their row (so numbers are never reused) in this stage.
    DELETED_INTERNAL = "Deleted_Internal"

    ALL = (NONE, STAGING, PRODUCTION, ARCHIVED)

    @classmethod
    def normalize(cls, stage: str | None) -> str:
        """The canonical spelling of ``stage`` (case-insensitive), or a clear error."""
        for s in cls.ALL:
            if str(stage).lower() == s.lower():
                return s
        raise invalid(f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(cls.ALL)}.")


class ModelVersionStatus:
    """Registration status; mltrail versions are ``READY`` as soon as they are created."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


def _tags_to_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def _tags_from(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return dict(value)
    return {t["key"]: t.get("value", "") for t in value or []}


@dataclass(slots=True)
class RegisteredModelTag:
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


@dataclass(slots=True)
class ModelVersionTag:
    key: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


@dataclass(slots=True)
class RegisteredModelAlias:
    alias: str
    version: str

    def to_dict(self) -> dict[str, str]:
        return {"alias": self.alias, "version": str(self.version)}


@dataclass
class ModelVersion:
    """One version of a registered model, with its lineage (``run_id``, ``run_link``, ``source``)."""

    name: str
    version: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    user_id: str | None = None
    current_stage: str = ModelVersionStages.NONE
    source: str | None = None
    run_id: str | None = None
    status: str = ModelVersionStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_link: str | None = None
    aliases: list[str] = field(default_factory=list)
    model_id: str | None = None

    def __post_init__(self) -> None:
        self.version = str(self.version)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "user_id": self.user_id or "",
            "current_stage": self.current_stage,
            "description": self.description or "",
            "source": self.source or "",
            "run_id": self.run_id or "",
            "status": self.status,
            "run_link": self.run_link or "",
            "tags": _tags_to_list(self.tags),
            "aliases": list(self.aliases),
        }
        if self.status_message:
            d["status_message"] = self.status_message
        if self.model_id:
            d["model_id"] = self.model_id
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelVersion:
        return cls(
            name=d["name"],
            version=str(d["version"]),
            creation_timestamp=_int(d.get("creation_timestamp")),
            last_updated_timestamp=_int(d.get("last_updated_timestamp")),
            description=d.get("description") or None,
            user_id=d.get("user_id") or None,
            current_stage=d.get("current_stage") or ModelVersionStages.NONE,
            source=d.get("source") or None,
            run_id=d.get("run_id") or None,
            status=d.get("status") or ModelVersionStatus.READY,
            status_message=d.get("status_message") or None,
            tags=_tags_from(d.get("tags")),
            run_link=d.get("run_link") or None,
            aliases=list(d.get("aliases") or []),
            model_id=d.get("model_id") or None,
        )


@dataclass
class RegisteredModel:
    """A named model: its versions, newest per stage in ``latest_versions``, tags and aliases."""

    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: list[ModelVersion] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "description": self.description or "",
            "latest_versions": [mv.to_dict() for mv in self.latest_versions],
            "tags": _tags_to_list(self.tags),
            "aliases": [{"alias": a, "version": str(v)} for a, v in self.aliases.items()],
        }
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegisteredModel:
        return cls(
            name=d["name"],
            creation_timestamp=_int(d.get("creation_timestamp")),
            last_updated_timestamp=_int(d.get("last_updated_timestamp")),
            description=d.get("description") or None,
            latest_versions=[ModelVersion.from_dict(v) for v in d.get("latest_versions") or []],
            tags=_tags_from(d.get("tags")),
            aliases={a["alias"]: str(a["version"]) for a in d.get("aliases") or []},
        )


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)
