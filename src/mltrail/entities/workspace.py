"""A workspace (MLflow 3.17's ``mlflow.entities.Workspace``): a name, a description, a default artifact root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Workspace:
    """Metadata of one workspace (``default`` always exists)."""

    name: str
    description: str | None = None
    default_artifact_root: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "default_artifact_root": self.default_artifact_root,
        }

    @classmethod
    def from_dict(cls, wire: dict[str, Any]) -> Workspace:
        """From MLflow's ``Workspace`` message as JSON."""
        return cls(wire["name"], wire.get("description"), wire.get("default_artifact_root"))
