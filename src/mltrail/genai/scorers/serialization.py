"""Scorers to and from MLflow 3's ``SerializedScorer`` JSON (what ``scorer.register()`` stores).

The same shape as MLflow's, so a scorer registered by the official client runs in
mltrail's online-scoring worker and one registered by mltrail loads in MLflow:

* ``@scorer`` functions: ``call_source`` (the body), ``call_signature``,
  ``original_func_name``; :func:`load_scorer` rebuilds the function with
  ``exec`` (so a registered code scorer *runs code*: see docs/genai-evaluation.md);
* ``make_judge`` judges: ``instructions_judge_pydantic_data`` (instructions,
  model, ``feedback_value_type`` as JSON Schema, inference parameters);
* built-in scorers: ``builtin_scorer_class`` and their fields.

Example::

    data = dump_scorer(my_scorer)          # a dict, json.dumps-able
    again = load_scorer(data)              # an equivalent Scorer
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from typing import Any, Literal, get_args, get_origin

import mltrail
from mltrail.entities import Trace
from mltrail.entities.assessment import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    AssessmentSourceType,
    Feedback,
)
from mltrail.exceptions import invalid
from mltrail.genai.scorers.base import Scorer, ScorerKind, scorer
from mltrail.version import __version__

SERIALIZATION_VERSION = 1
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
_PY_TYPES = {v: k for k, v in _JSON_TYPES.items()}


def _base(s: Scorer) -> dict[str, Any]:
    aggregations = [a for a in (s.aggregations or []) if isinstance(a, str)] or None
    return {
        "name": s.name,
        "aggregations": aggregations if s.aggregations is not None else None,
        "description": s.description,
        "is_session_level_scorer": bool(s.is_session_level_scorer),
        "timeout": s.timeout,
        "mlflow_version": __version__,
        "serialization_version": SERIALIZATION_VERSION,
        "builtin_scorer_class": None,
        "builtin_scorer_pydantic_data": None,
        "call_source": None,
        "call_signature": None,
        "original_func_name": None,
        "instructions_judge_pydantic_data": None,
        "memory_augmented_judge_data": None,
        "third_party_scorer_data": None,
        "ensemble_scorer_data": None,
    }


def function_body(func: Any) -> str:
    """The dedented body of ``func`` without its ``def`` line, decorators or docstring."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as err:
        raise invalid(
            f"Cannot register scorer {getattr(func, '__name__', func)!r}: its source is unavailable "
            f"({err}). Define it in a file or notebook cell."
        ) from None
    tree = ast.parse(source)
    node = next(
        (
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == func.__name__
        ),
        None,
    )
    if node is None:
        raise invalid(f"Cannot find the source of function {func.__name__!r}")
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
        and isinstance(body[0].value.value, str)
        and len(body) > 1
    ):
        body = body[1:]
    lines = source.splitlines()
    return textwrap.dedent("\n".join(lines[body[0].lineno - 1 : body[-1].end_lineno]))


def value_type_schema(value_type: Any) -> dict[str, Any] | None:
    """``feedback_value_type`` as the JSON Schema MLflow stores (``{"type": "boolean"}`` ...)."""
    if value_type is None:
        return None
    if value_type in _JSON_TYPES:
        return {"type": _JSON_TYPES[value_type]}
    origin = get_origin(value_type)
    if origin is Literal:
        values = list(get_args(value_type))
        kinds = {_JSON_TYPES.get(type(v)) for v in values}
        out: dict[str, Any] = {"enum": values}
        if len(kinds) == 1 and None not in kinds:
            out["type"] = kinds.pop()
        return out
    if origin is list:
        (item,) = get_args(value_type) or (str,)
        return {"type": "array", "items": value_type_schema(item)}
    if origin is dict:
        args = get_args(value_type)
        return {
            "type": "object",
            "additionalProperties": value_type_schema(args[1] if len(args) == 2 else str),
        }
    raise invalid(f"Cannot serialize feedback_value_type {value_type!r}")


def value_type_from_schema(schema: dict[str, Any] | None) -> Any:
    """The Python type for a stored JSON Schema (the inverse of :func:`value_type_schema`)."""
    if not schema:
        return None
    if "anyOf" in schema:  # Optional[T]
        inner = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return value_type_from_schema(inner[0]) if inner else None
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    kind = schema.get("type")
    if kind == "array":
        return list[value_type_from_schema(schema.get("items") or {"type": "string"})]
    if kind == "object":
        return dict[str, value_type_from_schema(schema.get("additionalProperties") or {"type": "string"})]
    if kind in _PY_TYPES:
        return _PY_TYPES[kind]
    raise invalid(f"Unsupported feedback_value_type schema: {schema!r}")


def dump_scorer(s: Scorer) -> dict[str, Any]:
    """``s`` as MLflow's ``SerializedScorer`` dict (``INVALID_PARAMETER_VALUE`` for a kind it cannot hold)."""
    stored = getattr(s, "_serialized", None)
    if stored is not None:  # loaded from a registration: its code is kept as it was stored
        return {**stored, "name": s.name}
    out = _base(s)
    kind = s.kind
    if kind == ScorerKind.DECORATOR:
        func = s._func  # the decorated function: its source is stored
        out["call_source"] = function_body(func)
        out["call_signature"] = str(inspect.signature(func))
        out["original_func_name"] = func.__name__
        return out
    if kind == ScorerKind.INSTRUCTIONS:
        data: dict[str, Any] = {"instructions": s.instructions, "model": s.judge_model}  # as MLflow: pinned
        schema = value_type_schema(getattr(s, "value_type", None))
        if schema is not None:
            data["feedback_value_type"] = schema
        if getattr(s, "inference_params", None):
            data["inference_params"] = s.inference_params
        if getattr(s, "model_api", "default") != "default":  # as MLflow: only a chosen API is kept
            data["model_api"] = str(s.model_api)
        out["instructions_judge_pydantic_data"] = data
        return out
    if kind in (ScorerKind.BUILTIN, ScorerKind.GUIDELINES) or type(s).__module__.startswith(
        (
            "mltrail.genai.scorers.builtin",
            "mltrail.genai.scorers.deterministic",
            "mltrail.genai.scorers.session",
        )
    ):
        fields = {f: getattr(s, f, None) for f in s._all_fields()}
        fields = {k: v for k, v in fields.items() if v is not None and k not in ("aggregations", "timeout")}
        out["builtin_scorer_class"] = type(s).__name__
        out["builtin_scorer_pydantic_data"] = fields
        return out
    raise invalid(
        f"Unsupported scorer type: {type(s).__name__}. Scorer serialization only supports built-in scorers, "
        "make_judge judges and @scorer functions."
    )


def _namespace() -> dict[str, Any]:
    """What MLflow puts in scope of a rebuilt ``@scorer`` function (``mlflow`` is mltrail here)."""
    from mltrail.genai.judges import CategoricalRating

    return {
        "mlflow": mltrail,
        "Feedback": Feedback,
        "Assessment": Assessment,
        "AssessmentSource": AssessmentSource,
        "AssessmentError": AssessmentError,
        "AssessmentSourceType": AssessmentSourceType,
        "Trace": Trace,
        "CategoricalRating": CategoricalRating,
    }


def _rebuild_function(source: str, signature: str, name: str) -> Any:
    try:
        params = ast.unparse(ast.parse(f"def _f{signature}: pass").body[0].args)  # type: ignore[attr-defined]
    except SyntaxError:
        raise invalid(f"Invalid signature format: '{signature}'") from None
    if not name.isidentifier():
        raise invalid(f"Invalid function name: {name!r}")
    code = "from __future__ import annotations\n" + f"def {name}({params}):\n"
    code += "\n".join(f"    {line}" for line in source.split("\n"))
    local: dict[str, Any] = {}
    exec(
        compile(code, f"<registered scorer {name}>", "exec"), _namespace(), local
    )  # runs registered code: see the module doc
    return local[name]


def _signature(signature: str) -> inspect.Signature:
    """The parameter names of a stored signature, without evaluating its defaults or annotations."""
    try:
        args = ast.parse(f"def _f{signature}: pass").body[0].args  # type: ignore[attr-defined]
    except SyntaxError:
        raise invalid(f"Invalid signature format: '{signature}'") from None
    P = inspect.Parameter
    params: list[inspect.Parameter] = []
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    for i, a in enumerate(positional):
        params.append(P(a.arg, P.POSITIONAL_OR_KEYWORD, default=None if i >= first_default else P.empty))
    if args.vararg:
        params.append(P(args.vararg.arg, P.VAR_POSITIONAL))
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append(P(a.arg, P.KEYWORD_ONLY, default=P.empty if d is None else None))
    if args.kwarg:
        params.append(P(args.kwarg.arg, P.VAR_KEYWORD))
    return inspect.Signature(params)


def _deferred_function(source: str, signature: str, name: str) -> Any:
    """A stand-in for a registered ``@scorer`` function whose code is compiled on its first call only.

    Loading a registration (``list_scorers``, ``get_scorer``) therefore runs none of its code.
    """
    compiled: list[Any] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not compiled:
            compiled.append(_rebuild_function(source, signature, name))
        return compiled[0](*args, **kwargs)

    call.__signature__ = _signature(signature)  # type: ignore[attr-defined]
    call.__name__ = call.__qualname__ = name if name.isidentifier() else "scorer_fn"
    return call


def load_scorer(data: dict[str, Any] | str) -> Scorer:
    """The scorer a ``SerializedScorer`` dict (or its JSON) describes."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as err:
            raise invalid(f"Invalid JSON in serialized scorer: {err}") from None
    if not isinstance(data, dict) or not data.get("name"):
        raise invalid("Invalid serialized scorer: expected an object with a 'name'")
    name = data["name"]
    aggregations = data.get("aggregations")
    common = {"name": name, "description": data.get("description")}
    if data.get("call_source") is not None:
        func = _deferred_function(
            data["call_source"],
            data.get("call_signature") or "()",
            data.get("original_func_name") or "scorer_fn",
        )
        made = scorer(
            func,
            name=name,
            description=data.get("description"),
            aggregations=aggregations,
            timeout=data.get("timeout") or None,
        )
        made._serialized = dict(data)
        return made
    if data.get("instructions_judge_pydantic_data") is not None:
        from mltrail.genai.judges import make_judge

        judge = data["instructions_judge_pydantic_data"]
        made = make_judge(
            name=name,
            instructions=judge.get("instructions") or "",
            model=judge.get("model"),
            description=data.get("description"),
            feedback_value_type=value_type_from_schema(judge.get("feedback_value_type")),
            inference_params=judge.get("inference_params"),
            model_api=judge.get("model_api") or "default",
        )
        if aggregations is not None:
            made.aggregations = aggregations
        return made
    if data.get("builtin_scorer_class"):
        from mltrail.genai.scorers import builtin, deterministic, session

        wanted = data["builtin_scorer_class"]
        cls = next(
            (getattr(m, wanted) for m in (builtin, deterministic, session) if hasattr(m, wanted)), None
        )
        if not (isinstance(cls, type) and issubclass(cls, Scorer)):
            raise invalid(f"Unknown built-in scorer class {wanted!r}")
        fields = dict(data.get("builtin_scorer_pydantic_data") or {})
        known = set(cls._all_fields())
        kwargs = {k: v for k, v in {**fields, **common}.items() if k in known and v is not None}
        return cls(**kwargs)
    made = UnrunnableScorer(name=name, description=data.get("description"))
    made._serialized = dict(data)
    return made


class UnrunnableScorer(Scorer):
    """A registration of a kind mltrail cannot run (MLflow's memory-augmented, third-party or ensemble
    scorers): listed and re-registered as stored; calling it is INVALID_PARAMETER_VALUE."""

    def __call__(self, **kwargs: Any) -> Any:
        raise invalid(
            f"Scorer {self.name!r} is of a kind mltrail cannot run (MLflow's memory-augmented, third-party "
            "and ensemble scorers are stored and listed only)"
        )
