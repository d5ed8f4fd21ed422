"""Signature schemas from type hints: a pydantic model or dataclass -> MLflow's column types.

The agent and chat interfaces have fixed signatures that MLflow writes into
``MLmodel`` from the request and response classes. This module derives the same
JSON from mltrail's classes: ``str`` -> string, ``int`` -> long, ``float`` ->
double, ``bool`` -> boolean, ``list[X]`` -> array, ``dict[str, X]`` -> map, a model
or dataclass -> object, and a union of several types (or ``Any``) -> any.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from mltrail.models.schema_types import AnyType, Array, ColumnType, Map, Object, Property
from mltrail.models.signature import ColSpec, Schema

_PRIMITIVES: dict[Any, str] = {str: "string", int: "long", float: "double", bool: "boolean", bytes: "binary"}


def _fields(cls: type) -> list[tuple[str, Any, bool]]:
    """``(name, annotation, required)`` of a pydantic model or dataclass, in declaration order."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            out.append((f.name, hints[f.name], not has_default and not _is_optional(hints[f.name])))
        return out
    return [
        (name, info.annotation, info.is_required() and not _is_optional(info.annotation))
        for name, info in cls.model_fields.items()
    ]


def _is_optional(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and (dataclasses.is_dataclass(tp) or hasattr(tp, "model_fields"))


def column_type(tp: Any, _seen: frozenset[Any] = frozenset()) -> ColumnType:
    """The MLflow column type of one annotation (a class that contains itself is ``any`` inside)."""
    if tp in _seen:
        return AnyType()
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return column_type(args[0], _seen) if len(args) == 1 else AnyType()
    if origin is typing.Literal:
        return column_type(type(typing.get_args(tp)[0]), _seen)
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        args = typing.get_args(tp)
        return Array(column_type(args[0], _seen) if args else AnyType())
    if origin is dict or tp is dict:
        args = typing.get_args(tp)
        return Map(column_type(args[1], _seen) if args else AnyType())
    if tp in _PRIMITIVES:
        return _PRIMITIVES[tp]
    if _is_model(tp):
        return Object([Property(n, column_type(a, _seen | {tp}), req) for n, a, req in _fields(tp)])
    return AnyType()


def columns_of(cls: type, required: tuple[str, ...] = ()) -> Schema:
    """One named column per field of ``cls`` (how MLflow writes a request's input schema).

    ``required`` names fields that are required in the schema although the class gives them a default.
    """
    return Schema([ColSpec(column_type(a), n, req or n in required) for n, a, req in _fields(cls)])


def object_of(cls: type) -> Schema:
    """One unnamed object column holding ``cls`` (how MLflow writes a response's output schema)."""
    return Schema([ColSpec(column_type(cls))])
