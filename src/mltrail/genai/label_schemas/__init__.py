"""``mltrail.genai.label_schemas``: MLflow 3.14's label schemas (the questions reviewers answer).

A schema belongs to an experiment and is identified by ``schema_id`` (or by
``(experiment_id, name)``); its ``name`` is the name of the assessment a reviewer's
answer becomes on the trace. Works on a server URI (REST) and on a database URI.

Example::

    import mltrail as mlflow
    from mltrail.genai import label_schemas

    tone = label_schemas.create_label_schema(
        "tone", type="feedback", input=label_schemas.InputCategorical(options=["ok", "rude"])
    )
    label_schemas.list_label_schemas()   # the default "Feedback" question and "tone"

See docs/review.md.
"""

from __future__ import annotations

from typing import Literal

from mltrail.entities.tracking import PagedList
from mltrail.exceptions import invalid
from mltrail.genai._review_backend import ReviewBackend, resolve_experiment
from mltrail.genai.label_schemas.label_schemas import (
    InputCategorical,
    InputCategoricalList,
    InputNumeric,
    InputPassFail,
    InputText,
    InputTextList,
    InputType,
    LabelSchema,
    LabelSchemaType,
)
from mltrail.protocol.review import LABEL_SCHEMAS as LS
from mltrail.protocol.review import (
    CreateLabelSchema,
    LabelSchemaByName,
    LabelSchemaRef,
    ListLabelSchemas,
    UpdateLabelSchema,
)

EXPECTED_FACTS = "expected_facts"
GUIDELINES = "guidelines"
EXPECTED_RESPONSE = "expected_response"

__all__ = [
    "EXPECTED_FACTS",
    "EXPECTED_RESPONSE",
    "GUIDELINES",
    "InputCategorical",
    "InputCategoricalList",
    "InputNumeric",
    "InputPassFail",
    "InputText",
    "InputTextList",
    "LabelSchema",
    "LabelSchemaType",
    "create_label_schema",
    "delete_label_schema",
    "get_label_schema",
    "list_label_schemas",
    "update_label_schema",
]


def _databricks_only(title: str | None, overwrite: bool) -> None:
    if title is not None:
        raise invalid("`title` is only supported on a Databricks tracking URI (the ReviewApp).")
    if overwrite:
        raise invalid("`overwrite` is only supported on a Databricks tracking URI (the ReviewApp).")


def create_label_schema(
    name: str,
    *,
    type: Literal["feedback", "expectation"],
    input: InputType,
    instruction: str | None = None,
    enable_comment: bool = False,
    title: str | None = None,
    overwrite: bool = False,
    experiment_id: str | None = None,
) -> LabelSchema:
    """Create a schema in ``experiment_id`` (default: the current experiment); the name must be new there."""
    _databricks_only(title, overwrite)
    exp = resolve_experiment(experiment_id)
    spec = input.to_wire()
    kind = str(LabelSchemaType(str(type).lower()).value).upper()
    body = CreateLabelSchema(
        experiment_id=exp,
        name=name,
        type=kind,
        input=spec,
        instruction=instruction,
        enable_comment=enable_comment,
    )
    wire = ReviewBackend().call(
        LS.create_label_schema,
        body,
        lambda s: {"label_schema": s.create_label_schema(exp, name, kind, spec, instruction, enable_comment)},
    )
    return LabelSchema.from_wire(wire["label_schema"])


def get_label_schema(
    name: str | None = None, *, schema_id: str | None = None, experiment_id: str | None = None
) -> LabelSchema:
    """A schema by ``schema_id``, or by ``experiment_id`` and ``name``."""
    backend = ReviewBackend()
    if schema_id is not None:
        if name is not None or experiment_id is not None:
            raise invalid("Pass either `schema_id` or `(experiment_id, name)`, not both.")
        wire = backend.call(
            LS.get_label_schema,
            LabelSchemaRef(schema_id=schema_id),
            lambda s: {"label_schema": s.get_label_schema(schema_id)},
        )
        return LabelSchema.from_wire(wire["label_schema"])
    if experiment_id is None or name is None:
        raise invalid("Provide `schema_id`, or both `experiment_id` and `name`.")
    exp = str(experiment_id)
    wire = backend.call(
        LS.get_label_schema_by_name,
        LabelSchemaByName(experiment_id=exp, name=name),
        lambda s: {"label_schema": s.get_label_schema_by_name(exp, name)},
    )
    return LabelSchema.from_wire(wire["label_schema"])


def delete_label_schema(name: str | None = None, *, schema_id: str | None = None) -> None:
    """Delete a schema by ``schema_id`` (nothing happens when it does not exist)."""
    if name is not None:
        raise invalid("`name` is only supported on a Databricks tracking URI; use `schema_id`.")
    if schema_id is None:
        raise invalid("`schema_id` is required.")
    ReviewBackend().call(
        LS.delete_label_schema,
        LabelSchemaRef(schema_id=schema_id),
        lambda s: s.delete_label_schema(schema_id),
    )


def list_label_schemas(
    experiment_id: str | None = None, *, max_results: int = 100, page_token: str | None = None
) -> PagedList:
    """One page of the experiment's schemas, newest first (``.token`` resumes)."""
    exp = resolve_experiment(experiment_id)

    def local(s):
        rows, token = s.list_label_schemas(exp, max_results, page_token)
        return {"label_schemas": rows, "next_page_token": token or ""}

    body = ListLabelSchemas(experiment_id=exp, max_results=max_results, page_token=page_token)
    wire = ReviewBackend().call(LS.list_label_schemas, body, local)
    rows = [LabelSchema.from_wire(w) for w in wire.get("label_schemas", [])]
    return PagedList(rows, wire.get("next_page_token") or None)


def update_label_schema(
    schema_id: str,
    *,
    name: str | None = None,
    instruction: str | None = None,
    enable_comment: bool | None = None,
    input: InputType | None = None,
) -> LabelSchema:
    """Change what is given (``None``: unchanged); the type and the input's kind never change."""
    spec = input.to_wire() if input is not None else None
    body = UpdateLabelSchema(
        schema_id=schema_id, name=name, instruction=instruction, enable_comment=enable_comment, input=spec
    )
    wire = ReviewBackend().call(
        LS.update_label_schema,
        body,
        lambda s: {
            "label_schema": s.update_label_schema(
                schema_id, name=name, instruction=instruction, enable_comment=enable_comment, input=spec
            )
        },
    )
    return LabelSchema.from_wire(wire["label_schema"])
