"""``predict`` type hints as MLflow 3 reads them: the signature they give, and input checked against them.

A ``PythonModel`` whose ``predict`` says what it takes gets its signature from
that (no input example needed) and its input validated and converted on every call,
as in MLflow 3.17:

==================================  ============================================
``list[str]`` / ``list[int]`` …     ``[{"type": "string", "required": true}]``
``list[list[str]]``                 ``Array(string)``
``list[dict[str, int]]``            ``Map(long)``
``list[MyPydanticModel]``           ``Object`` with one property per field
``list[Any]``                       ``any`` (not validated)
``pd.DataFrame`` / ``np.ndarray``   no signature from the hint; input passed through
``TypeFromExample``                 the input example gives the signature, and
                                    input comes back in the example's form
==================================  ============================================

Lists and dicts reach ``predict`` unchanged (pydantic elements are built from dicts);
a single-column DataFrame (what ``evaluate`` and Spark send) becomes a list.

pydantic is never imported here: a hint can only be a pydantic model if the
user's code imported pydantic already.
"""

from __future__ import annotations

import base64
import datetime as _dt
import inspect
import logging
import os
import sys
import typing
from types import UnionType
from typing import Any, NamedTuple, TypeVar, Union, get_args, get_origin

from mltrail.exceptions import MltrailException, invalid
from mltrail.models.schema_types import AnyType, Array, Map, Object, Property
from mltrail.models.signature import ColSpec, ModelSignature, Schema

_log = logging.getLogger(__name__)

#: A special hint: the input example gives the signature, and input is converted back to its form.
TypeFromExample = TypeVar("TypeFromExample")

_NONE = type(None)
_UNIONS = (Union, UnionType)
_PRIMITIVES = {
    int: "long",
    str: "string",
    bool: "boolean",
    float: "double",
    bytes: "binary",
    _dt.datetime: "datetime",
}
_SUPPORTED = (
    "Type hints must be a list[...] where collection element type is one of these types: "
    f"{list(_PRIMITIVES)}, pydantic BaseModel subclasses, lists and dictionaries of primitive "
    "types, or typing.Any."
)
_OPTIONAL_INPUT = (
    "Input cannot be Optional type. Fix this by removing the Optional wrapper from the type hint. "
    "To use optional fields, use a Pydantic-based type hint definition."
)


class TypeHints(NamedTuple):
    """The input and return hints of a ``predict`` (``None`` when absent)."""

    input: Any = None
    output: Any = None


class InvalidTypeHintError(ValueError):
    """A hint MLflow refuses outright (``list`` without an element type, ``dict[int, str]`` …)."""


def _repr(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) and not get_args(hint) else str(hint)


def is_pydantic_model(hint: Any) -> bool:
    """Whether ``hint`` is a pydantic ``BaseModel`` subclass (without importing pydantic)."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None:
        return False
    try:
        return isinstance(hint, type) and issubclass(hint, pydantic.BaseModel)
    except TypeError:
        return False


def no_signature_hints() -> tuple[type, ...]:
    """Hints that are allowed but give no signature: DataFrame, Series, ndarray (only if loaded)."""
    out: list[type] = []
    pd = sys.modules.get("pandas")
    if pd is not None:
        out += [pd.DataFrame, pd.Series]
    np = sys.modules.get("numpy")
    if np is not None:
        out.append(np.ndarray)
    return tuple(out)


def is_type_from_example(hint: Any) -> bool:
    return hint is TypeFromExample


def context_in_predict(func: Any) -> bool:
    """MLflow's rule: ``predict`` takes a context when a parameter is named ``context`` or it has 3+ non-self args."""
    try:
        params = [p for p in inspect.signature(func).parameters if p != "self"]
    except (TypeError, ValueError):
        return True
    return "context" in params or len(params) >= 3


def extract_type_hints(func: Any, input_arg_index: int) -> TypeHints:
    """The hints of ``func``'s model-input parameter (at ``input_arg_index``, ``self`` skipped) and return."""
    if not hasattr(func, "__annotations__") and callable(func):
        func = func.__call__
    annotations = getattr(func, "__annotations__", None) or {}
    if not annotations:
        return TypeHints()
    try:
        names = [p for p in inspect.signature(func).parameters if p != "self"]
    except (TypeError, ValueError):
        return TypeHints()
    if input_arg_index >= len(names):
        return TypeHints()
    arg = names[input_arg_index]
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # an unresolvable forward reference: treat as unhinted, as MLflow does
        _log.info(
            "Could not resolve the type hints of %s; no signature from them", getattr(func, "__name__", func)
        )
        return TypeHints()
    return TypeHints(hints.get(arg), hints.get("return"))


# ------------------------------------------------------------------ hint -> schema
def _colspec_type(hint: Any) -> tuple[Any, bool]:
    """``(column type, required)`` for one element hint."""
    if hint is Any:
        return AnyType(), True
    if hint in _PRIMITIVES:
        return _PRIMITIVES[hint], True
    if is_pydantic_model(hint):
        return _object_of(hint), True
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is list:
        return Array(_colspec_type(_list_element(hint))[0]), True
    if origin is dict:
        if len(args) != 2:
            raise InvalidTypeHintError(
                f"Dictionary type hint must contain two element types, got {_repr(hint)}"
            )
        if args[0] is not str:
            raise InvalidTypeHintError(
                f"Dictionary key type must be str, got {args[0]} in type hint {_repr(hint)}"
            )
        return Map(_colspec_type(args[1])[0]), True
    if origin in _UNIONS:
        if _NONE in args:
            rest = [a for a in args if a is not _NONE]
            if len(rest) == 1:
                return _colspec_type(rest[0])[0], False
            return AnyType(), False
        return AnyType(), True
    if hint in (list, dict) or hint in _UNIONS:
        raise InvalidTypeHintError(
            f"Invalid type hint `{_repr(hint)}`, it must include a valid element type. {_SUPPORTED}"
        )
    raise TypeError(f"Unsupported type hint `{_repr(hint)}`. {_SUPPORTED}")


def _object_of(model: Any) -> Object:
    props = []
    for name, field in model.model_fields.items():
        dtype, required = _colspec_type(field.annotation)
        if not required and field.is_required():
            raise InvalidTypeHintError(
                f"Optional field `{name}` in Pydantic model `{model.__name__}` doesn't have a default value. "
                "Please set default value to None for this field."
            )
        props.append(Property(name, dtype, required))
    return Object(props)


def _list_element(hint: Any) -> Any:
    args = get_args(hint)
    if _NONE in args:
        raise InvalidTypeHintError(_OPTIONAL_INPUT)
    if not args:
        raise InvalidTypeHintError(
            f"Type hint `{_repr(hint)}` doesn't contain a collection element type. Fix by adding an element "
            "type to the collection type definition, e.g. `list[str]` instead of `list`."
        )
    if len(args) > 1:
        raise InvalidTypeHintError(f"Type hint `{_repr(hint)}` contains {len(args)} element types.")
    return args[0]


def _origin(hint: Any) -> Any:
    origin = get_origin(hint)
    if origin in _UNIONS:
        rest = [a for a in get_args(hint) if a is not _NONE]
        return _origin(rest[0]) if len(rest) == 1 else Any
    return origin


def is_list_hint(hint: Any) -> bool:
    return hint is list or _origin(hint) is list


def schema_from_list_hint(hint: Any) -> Schema:
    """The input schema a ``list[...]`` hint gives: one unnamed column of the element's type."""
    if not is_list_hint(hint):
        raise invalid(
            "Type hints must be wrapped in list[...] because MLflow assumes the predict method to take "
            f"multiple input instances. Specify your type hint as `list[{_repr(hint)}]` for a valid signature."
        )
    return schema_from_hint(_list_element(hint))


def schema_from_hint(hint: Any) -> Schema:
    dtype, required = _colspec_type(hint)
    if not required:
        raise InvalidTypeHintError(_OPTIONAL_INPUT)
    return Schema([ColSpec(dtype)])


def signature_from_type_hints(
    predict: Any, hints: TypeHints, input_example: Any = None, call_predict: Any = None
) -> ModelSignature | None:
    """MLflow 3's signature for a hinted ``predict`` (``None`` when the hints give none).

    The output schema comes from the return hint, ``any`` when there is none or it cannot
    be expressed. When an input example is given, it is checked against the hint and
    ``call_predict(example)`` is run once, as MLflow does, to check the output.
    """
    if hints.input is None or hints.input in no_signature_hints() or is_type_from_example(hints.input):
        return None
    try:
        inputs = schema_from_list_hint(hints.input)
    except InvalidTypeHintError as err:
        raise invalid(
            "The `predict` function has unsupported type hints for the model input arguments. Update it to one "
            f"of supported type hints, or remove type hints to bypass this check. Error: {err}"
        ) from None
    except Exception as err:  # an unsupported element type: MLflow warns and infers nothing
        _log.warning("Failed to infer signature from type hint: %s", err)
        return None
    outputs = Schema([ColSpec(AnyType())])
    output_ok = False
    if hints.output is not None:
        try:
            outputs = (
                schema_from_list_hint(hints.output)
                if is_list_hint(hints.output)
                else schema_from_hint(hints.output)
            )
            output_ok = True
        except Exception as err:
            _log.info("Failed to infer output type hint, setting output schema to AnyType. %s", err)
    if input_example is not None and call_predict is not None:
        try:
            validate_against_hint(input_example, hints.input)
        except Exception as err:
            _log.warning(
                "Input example is not compatible with the type hint of the `predict` function. Error: %s", err
            )
        else:
            try:
                result = call_predict(input_example)
            except Exception:
                _log.warning(
                    "Failed to run the predict function on input example.",
                    exc_info=_log.isEnabledFor(logging.DEBUG),
                )
            else:
                if output_ok:
                    try:
                        validate_against_hint(result, hints.output)
                    except Exception as err:
                        _log.warning(
                            "Failed to validate output against type hint, setting output schema to AnyType. %s",
                            err,
                        )
                        outputs = Schema([ColSpec(AnyType())])
    signature = ModelSignature(inputs, outputs)
    signature._is_signature_from_type_hint = True
    return signature


# ------------------------------------------------------------------ validating data
def _in_serving() -> bool:
    return os.environ.get("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "").lower() in ("true", "1")


def validate_against_hint(data: Any, hint: Any) -> Any:
    """``data`` checked against ``hint`` (dicts become the hint's pydantic model); ``INVALID_PARAMETER_VALUE`` if not."""
    if is_pydantic_model(hint):
        import pydantic  # the hint is a pydantic model, so pydantic is loaded already

        if isinstance(data, pydantic.BaseModel):
            values = data.model_dump()
        elif isinstance(data, dict):
            values = data
        else:
            raise invalid(
                f"Expecting example to be a dictionary or pydantic model instance for Pydantic type hint, got {type(data)}"
            )
        try:
            hint.model_validate(values, strict=True)
        except pydantic.ValidationError as err:
            raise invalid(
                f"Data doesn't match type hint, error: {err}. Expected fields in the type hint: "
                f"{list(hint.model_fields)}; passed data: {values}."
            ) from None
        return hint(**values) if isinstance(data, dict) else data
    if hint is Any:
        return data
    if hint in _PRIMITIVES:
        if _in_serving():
            if hint is bytes and isinstance(data, str):
                data = base64.decodebytes(data.encode("utf8"))
            elif hint is _dt.datetime and isinstance(data, str):
                data = _dt.datetime.fromisoformat(data)
        if isinstance(data, hint) and not (hint is int and isinstance(data, bool)):
            return data
        raise invalid(f"Expected type {_repr(hint)}, but got {type(data).__name__}")
    origin = get_origin(hint)
    args = get_args(hint)
    if origin is list:
        return _validate_list(args[0] if args else Any, data)
    if origin is dict:
        return _validate_dict(args[1] if len(args) == 2 else Any, data)
    if origin in _UNIONS:
        if _NONE in args:
            if data is None:
                return None
            rest = [a for a in args if a is not _NONE]
            if len(rest) == 1:
                return validate_against_hint(data, rest[0])
        return data
    raise invalid(f"Unsupported type hint `{_repr(hint)}`. {_SUPPORTED}")


def _error_of(data: Any, hint: Any) -> tuple[Any, str | None]:
    try:
        return validate_against_hint(data, hint), None
    except MltrailException as err:
        return None, err.message


def _validate_list(element: Any, data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise invalid(f"Expected list, but got {type(data).__name__}")
    out, bad = [], []
    for item in data:
        value, error = _error_of(item, element)
        if error:
            bad.append((str(item), error))
        else:
            out.append(value)
    if bad:
        shown = f"{bad[:5]} ... (truncated)" if len(bad) > 5 else bad
        raise invalid(
            f"Failed to validate data against type hint `list[{_repr(element)}]`, invalid elements: {shown}"
        )
    return out


def _validate_dict(element: Any, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid(f"Expected dict, but got {type(data).__name__}")
    out, bad = {}, {}
    for key, item in data.items():
        if not isinstance(key, str):
            bad[str(key)] = f"Key must be a string, got {type(key).__name__}"
            continue
        value, error = _error_of(item, element)
        if error:
            bad[key] = error
        else:
            out[key] = value
    if bad:
        raise invalid(
            f"Failed to validate data against type hint `dict[str, {_repr(element)}]`, invalid elements: {bad}"
        )
    return out


def convert_to_hint(data: Any, hint: Any) -> Any:
    """A DataFrame given to a ``list[...]``-hinted predict becomes a list (its column, or its records)."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(data, pd.DataFrame) or hint is pd.DataFrame:
        return data
    if _origin(hint) is not list:
        raise invalid(
            f"Only `list[...]` type hint supports pandas DataFrame input with a single column. But got {_repr(hint)}."
        )
    element = _list_element(hint)
    if element is dict or get_origin(element) is dict or is_pydantic_model(element):
        result = data.iloc[:, 0].tolist() if list(data.columns) == [0] else data.to_dict(orient="records")
    else:
        if len(data.columns) != 1:
            _log.warning(
                "`predict` function with list[...] type hints of non-dictionary collection type only supports "
                "pandas DataFrame with a single column. But got %d columns. The data will be converted to a list "
                "of the first column.",
                len(data.columns),
            )
        result = data.iloc[:, 0].tolist()
    return _sanitize(result)


def _sanitize(data: Any) -> Any:
    """numpy arrays (what Spark and pandas hand over) become lists; NaN becomes None."""
    if hasattr(data, "tolist") and type(data).__module__ == "numpy":
        data = data.tolist()
    if isinstance(data, list):
        return [_sanitize(v) for v in data]
    if isinstance(data, dict):
        return {k: _sanitize(v) for k, v in data.items()}
    if isinstance(data, float) and data != data:
        return None
    return data


def supported_input_hint(func: Any) -> tuple[Any, str] | None:
    """``(input hint, parameter name)`` when ``func``'s input hint is one to validate against, else ``None``.

    Raises ``INVALID_PARAMETER_VALUE`` for a hint MLflow refuses (``list`` with no element type …).
    """
    try:
        names = [p for p in inspect.signature(func).parameters if p != "self"]
    except (TypeError, ValueError):
        return None
    index = 1 if context_in_predict(func) else 0
    if index >= len(names):
        return None
    hint = extract_type_hints(func, index).input
    if hint is None or hint in no_signature_hints() or is_type_from_example(hint):
        return None
    try:
        schema_from_list_hint(hint)
    except InvalidTypeHintError as err:
        raise invalid(
            f"{err} To disable data validation, remove the type hint from the predict function. Otherwise, fix the type hint."
        ) from None
    except Exception as err:
        _log.warning(
            "Type hint used in the model's predict function is not supported for schema validation. %s", err
        )
        return None
    return hint, names[index]


def validate_model_input(data: Any, hint: Any) -> Any:
    """What a hinted ``predict`` receives: ``data`` converted (DataFrame -> list) and validated."""
    return validate_against_hint(convert_to_hint(data, hint), hint)


def convert_to_example_format(data: Any, example: Any) -> Any:
    """For ``TypeFromExample`` models: the enforced DataFrame given back in the input example's form."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(data, pd.DataFrame) or example is None:
        return data
    if isinstance(example, pd.DataFrame):
        return data
    if isinstance(example, pd.Series):
        series = data.iloc[:, 0]
        series.name = example.name
        return series
    if isinstance(example, dict):
        return data.to_dict(orient="records")[0] if len(data) == 1 else data
    if isinstance(example, list):
        if len(data.columns) == 1 and all(not isinstance(x, list | dict) for x in example):
            return data.iloc[:, 0].tolist()
        return data.to_dict(orient="records")
    if not isinstance(example, list | dict):
        return data.iloc[0, 0]
    return data
