"""A run's links to logged models: models it used (inputs) and models it produced (outputs).

MLflow 3's ``LoggedModelInput``, ``LoggedModelOutput`` and ``RunOutputs``. They
sit in a module of their own, below both :mod:`mltrail.entities.tracking` (a
``Run`` holds them) and :mod:`mltrail.entities.logged_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LoggedModelInput:
    """A logged model a run used (MLflow's ``LoggedModelInput``), e.g. one it evaluated."""

    model_id: str

    def to_dictionary(self) -> dict[str, Any]:
        return {"model_id": self.model_id}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoggedModelInput:
        return cls(model_id=d["model_id"])


@dataclass(frozen=True)
class LoggedModelOutput:
    """A logged model recorded as an output of a run, at a step (MLflow's ``LoggedModelOutput``)."""

    model_id: str
    step: int = 0

    def to_dictionary(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "step": self.step}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoggedModelOutput:
        return cls(model_id=d["model_id"], step=int(d.get("step") or 0))


@dataclass(slots=True)
class RunOutputs:
    """What a run produced: its logged-model outputs (MLflow's ``RunOutputs``)."""

    model_outputs: list[LoggedModelOutput] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"model_outputs": [m.to_dictionary() for m in self.model_outputs]}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> RunOutputs:
        return cls(model_outputs=[LoggedModelOutput.from_dict(m) for m in (d or {}).get("model_outputs", [])])
