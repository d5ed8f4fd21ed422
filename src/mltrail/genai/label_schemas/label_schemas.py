"""Label schema records (MLflow 3.14's ``mlflow.genai.label_schemas.label_schemas``).

The input widgets a reviewer answers with, the schema type, and :class:`LabelSchema`;
each converts to and from the wire form (``LabelSchemaInput`` as JSON). ``InputTextList``
and ``InputCategoricalList`` exist for code written for Databricks; a tracking server
refuses them, as MLflow's does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mltrail.exceptions import invalid


class InputType:
    """Base class of the input widgets."""

    def to_wire(self) -> dict[str, Any]:
        raise invalid(
            f"Label schema input of type {type(self).__name__!r} cannot be stored on a tracking server. "
            "Supported types are InputPassFail, InputCategorical, InputNumeric, InputText."
        )


@dataclass
class InputPassFail(InputType):
    """A thumbs-up / thumbs-down choice; the answer is a boolean (``True``: ``positive_label``)."""

    positive_label: str
    negative_label: str

    def to_wire(self) -> dict[str, Any]:
        return {"pass_fail": {"positive_label": self.positive_label, "negative_label": self.negative_label}}


@dataclass
class InputCategorical(InputType):
    """One of ``options`` (a list of them with ``multi_select=True``)."""

    options: list[str]
    multi_select: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"categorical": {"options": list(self.options), "multi_select": self.multi_select}}


@dataclass
class InputCategoricalList(InputType):
    """Several of ``options`` (Databricks only; use ``InputCategorical(multi_select=True)``)."""

    options: list[str]


@dataclass
class InputNumeric(InputType):
    """A number, optionally within ``[min_value, max_value]``."""

    min_value: float | None = None
    max_value: float | None = None

    def to_wire(self) -> dict[str, Any]:
        body = {
            k: v for k, v in (("min_value", self.min_value), ("max_value", self.max_value)) if v is not None
        }
        return {"numeric": body}


@dataclass
class InputText(InputType):
    """Free text, at most ``max_length`` characters when set."""

    max_length: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"text": {} if self.max_length is None else {"max_length": self.max_length}}


@dataclass
class InputTextList(InputType):
    """Several texts (Databricks only)."""

    max_length_each: int | None = None
    max_count: int | None = None


def input_from_wire(spec: dict[str, Any]) -> InputType:
    """The widget of a ``LabelSchemaInput`` JSON object."""
    if "pass_fail" in spec:
        b = spec["pass_fail"]
        return InputPassFail(
            positive_label=b.get("positive_label", ""), negative_label=b.get("negative_label", "")
        )
    if "categorical" in spec:
        b = spec["categorical"]
        return InputCategorical(
            options=list(b.get("options", [])), multi_select=bool(b.get("multi_select", False))
        )
    if "numeric" in spec:
        b = spec["numeric"]
        return InputNumeric(min_value=b.get("min_value"), max_value=b.get("max_value"))
    if "text" in spec:
        return InputText(max_length=(spec["text"] or {}).get("max_length"))
    raise invalid(f"Unknown label schema input: {sorted(spec)}")


class LabelSchemaType(StrEnum):
    """Whether answers are recorded as Feedback or as Expectation assessments."""

    FEEDBACK = "feedback"
    EXPECTATION = "expectation"


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


@dataclass(frozen=True)
class LabelSchema:
    """A question for reviewers, unique by ``(experiment_id, name)``; ``name`` is also the assessment's name."""

    name: str
    type: LabelSchemaType
    input: InputType
    instruction: str | None = None
    enable_comment: bool = False
    schema_id: str | None = None
    experiment_id: str | None = None
    created_by: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    is_default: bool = False

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> LabelSchema:
        """From MLflow's ``LabelSchema`` message as JSON."""
        kind = str(wire.get("type", "FEEDBACK")).lower()
        return cls(
            name=wire["name"],
            type=LabelSchemaType(kind if kind in ("feedback", "expectation") else "feedback"),
            input=input_from_wire(wire.get("input") or {}),
            instruction=wire.get("instruction"),
            enable_comment=bool(wire.get("enable_comment", False)),
            schema_id=wire.get("schema_id"),
            experiment_id=wire.get("experiment_id"),
            created_by=wire.get("created_by"),
            created_at=_int(wire.get("created_at")),
            updated_at=_int(wire.get("last_updated_at")),
            is_default=bool(wire.get("is_default", False)),
        )
