"""MLflow's composite column types: ``Array``, ``Map``, ``Object`` (of ``Property``) and ``AnyType``.

A :class:`~mltrail.models.signature.ColSpec` type is either a primitive
:class:`~mltrail.models.signature.DataType` name (``"string"``, ``"long"`` …) or
one of these. Their JSON is MLflow's, so a signature inferred from
``list[list[str]]``, ``list[dict[str, int]]`` or a pydantic model reads the same in
both tools::

    {"type": "array", "items": {"type": "string"}}
    {"type": "map", "values": {"type": "long"}}
    {"type": "object", "properties": {"q": {"type": "string", "required": true}}}
    {"type": "any"}

Example::

    ColSpec(Array(DataType.string), "tags")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from mltrail.exceptions import invalid

# The primitive names a composite type may hold (the keys of signature.DATA_TYPES).
PRIMITIVES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")


def _check_dtype(dtype: Any) -> ColumnType:
    if isinstance(dtype, Array | Map | Object | AnyType):
        return dtype
    name = getattr(dtype, "name", dtype)
    if name not in PRIMITIVES:
        raise invalid(
            f"Unsupported data type {dtype!r}: use one of {', '.join(PRIMITIVES)}, Array, Map, Object or AnyType"
        )
    return name


def dtype_to_dict(dtype: ColumnType) -> dict[str, Any]:
    """``{"type": ...}`` plus the composite's own keys."""
    if isinstance(dtype, str):
        return {"type": dtype}
    return dtype.to_dict()


def dtype_from_dict(d: dict[str, Any]) -> ColumnType:
    """The column type described by one JSON object (the inverse of :func:`dtype_to_dict`)."""
    kind = d.get("type")
    if kind == "array":
        return Array(dtype_from_dict(d["items"]))
    if kind == "map":
        return Map(dtype_from_dict(d["values"]))
    if kind == "object":
        return Object(
            [
                Property(name, dtype_from_dict(p), p.get("required", True))
                for name, p in d["properties"].items()
            ]
        )
    if kind == "any":
        return AnyType()
    return _check_dtype(kind)


@dataclass(frozen=True)
class AnyType:
    """Any value: MLflow does not validate it."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "any"}

    def __repr__(self) -> str:
        return "Any"


@dataclass(frozen=True)
class Array:
    """A list whose elements all have ``dtype``."""

    dtype: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", _check_dtype(self.dtype))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "array", "items": dtype_to_dict(self.dtype)}

    def __repr__(self) -> str:
        return f"Array({self.dtype!r})"


@dataclass(frozen=True)
class Map:
    """A dict from strings to values of ``value_type``."""

    value_type: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "value_type", _check_dtype(self.value_type))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "map", "values": dtype_to_dict(self.value_type)}

    def __repr__(self) -> str:
        return f"Map(str -> {self.value_type!r})"


@dataclass(frozen=True)
class Property:
    """One named field of an :class:`Object`."""

    name: str
    dtype: Any
    required: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise invalid(f"A Property needs a non-empty string name, got {self.name!r}")
        object.__setattr__(self, "dtype", _check_dtype(self.dtype))

    def to_dict(self) -> dict[str, Any]:
        return {self.name: {**dtype_to_dict(self.dtype), "required": self.required}}


@dataclass(frozen=True)
class Object:
    """A dict with named, typed fields (what a pydantic model's type hint becomes)."""

    properties: tuple[Property, ...]

    def __init__(self, properties: list[Property] | tuple[Property, ...]) -> None:
        props = tuple(sorted(properties, key=lambda p: p.name))
        names = [p.name for p in props]
        if len(set(names)) != len(names):
            raise invalid(f"Object properties must have unique names, got {names}")
        object.__setattr__(self, "properties", props)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p in self.properties:
            out.update(p.to_dict())
        return {"type": "object", "properties": out}

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{p.name}: {p.dtype!r}" for p in self.properties) + "}"


ColumnType = Union[str, Array, Map, Object, AnyType]  # noqa: UP007 (a runtime alias)


def matches(value: Any, dtype: ColumnType) -> bool:
    """Whether one Python value fits ``dtype`` (``None`` never does; the caller handles optional)."""
    import datetime as _dt

    if isinstance(dtype, AnyType):
        return True
    if isinstance(dtype, Array):
        if hasattr(value, "tolist") and not isinstance(value, str | bytes):
            value = value.tolist()
        return isinstance(value, list | tuple) and all(matches(v, dtype.dtype) for v in value)
    if isinstance(dtype, Map):
        return isinstance(value, dict) and all(
            isinstance(k, str) and matches(v, dtype.value_type) for k, v in value.items()
        )
    if isinstance(dtype, Object):
        if not isinstance(value, dict):
            return False
        known = {p.name for p in dtype.properties}
        if set(value) - known:
            return False
        for p in dtype.properties:
            if p.name not in value or value[p.name] is None:
                if p.required:
                    return False
                continue
            if not matches(value[p.name], p.dtype):
                return False
        return True
    if dtype == "string":
        return isinstance(value, str)
    if dtype == "boolean":
        return isinstance(value, bool) or type(value).__name__ == "bool_"
    if dtype in ("integer", "long"):
        return not isinstance(value, bool) and (
            isinstance(value, int) or type(value).__name__.startswith("int")
        )
    if dtype in ("float", "double"):
        return not isinstance(value, bool) and (
            isinstance(value, int | float) or type(value).__name__.startswith(("float", "int"))
        )
    if dtype == "binary":
        return isinstance(value, bytes | bytearray | str)
    if dtype == "datetime":
        return isinstance(value, _dt.datetime | _dt.date | str) or type(value).__name__ == "Timestamp"
    return True
