"""Bounds on how deeply request JSON may nest, checked where it costs nothing on the hot path.

msgspec decodes typed fields against their Struct, so their depth is bounded by the
schema; what it cannot bound is a free-form value (a field typed ``Any`` or
``dict[str, Any]``: trace bodies, assessments, OTLP JSON) or an unknown field it
skips. Both recurse in C under Python's recursion limit, which surfaces as a
``RecursionError`` (a 500) around 1,000 levels; a value that decodes at 900 levels
would be stored and then break every later read of it. So:

* a ``RecursionError`` while decoding becomes a 400 naming the limit;
* endpoints whose request type holds a free-form value walk it after decoding, but
  only when the body has more brackets than the limit (two ``bytes.count`` calls),
  so an ordinary body never pays for the walk and typed-only endpoints
  (``log-metric``, ``runs/get``) do not even count.

The limit, 100 levels, is the default of protobuf's ``json_format.ParseDict``
(``max_recursion_depth``), which MLflow's server parses every request with.
"""

from __future__ import annotations

import re
import typing
from typing import Any

import msgspec

from mltrail.exceptions import MltrailException, invalid

#: Deepest JSON nesting accepted in a request body (objects and arrays both count).
MAX_JSON_DEPTH = 100


def too_deep(what: str, limit: int = MAX_JSON_DEPTH) -> MltrailException:
    """The 400 ``INVALID_PARAMETER_VALUE`` for JSON nested past ``limit`` levels."""
    return invalid(
        f"{what[:1].upper()}{what[1:]} nests objects or arrays more than {limit} levels deep; "
        f"the limit is {limit} levels"
    )


# A JSON escape for NUL: ``\u0000`` after an even number of backslashes (``\\u0000`` is text).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def has_nul(raw: bytes) -> bool:
    """Whether JSON text ``raw`` holds a NUL character in a string.

    PostgreSQL cannot store NUL in text (psycopg raises, a 500 before), and a value
    accepted on SQLite would break a later move to PostgreSQL: refused everywhere.
    Costs one substring search per body; the regex runs only on a hit.
    """
    # A lone backslash is a memchr, cheaper than the 6-byte search most bodies never need.
    return b"\\" in raw and b"\\u0000" in raw and _NUL_ESCAPE.search(raw) is not None


def nul_refused(what: str) -> MltrailException:
    """The 400 for NUL characters in a request."""
    return invalid(f"{what[:1].upper()}{what[1:]} contains a NUL character (\\u0000), which cannot be stored")


def has_free_form(tp: Any, _seen: set[Any] | None = None) -> bool:
    """Whether values of type ``tp`` can hold arbitrarily nested JSON (``Any``/``object`` somewhere)."""
    seen = _seen if _seen is not None else set()
    if tp is Any or tp is object:
        return True
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp in seen:
            return False
        seen.add(tp)
        hints = typing.get_type_hints(tp)
        return any(has_free_form(hints.get(f.name, f.type), seen) for f in msgspec.structs.fields(tp))
    if tp in (dict, list, tuple, set, frozenset):  # bare containers hold Any
        return True
    return any(has_free_form(arg, seen) for arg in typing.get_args(tp))


def might_be_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """False when ``raw`` has too few brackets to nest past ``limit`` (the cheap pre-check)."""
    return raw.count(b"{") + raw.count(b"[") > limit


def check_depth(value: Any, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :func:`too_deep` if decoded ``value`` nests containers more than ``limit`` levels.

    Iterative, so the check itself cannot hit the recursion limit. Structs count as
    objects, as they were in the JSON.

    Example::

        check_depth({"a": [[1]]}, "the request body")  # depth 3: fine
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        elif isinstance(item, msgspec.Struct):
            children = [getattr(item, name) for name in item.__struct_fields__]
        else:
            continue
        if depth > limit:
            raise too_deep(what, limit)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple, msgspec.Struct)))


def loads_json(raw: bytes, what: str, limit: int = MAX_JSON_DEPTH) -> Any:
    """Decode free-form JSON from a request body with the depth limit (for handlers that read raw bodies).

    A malformed body raises ``ValueError`` (as ``json.loads`` does); too deep a body
    the 400 from :func:`too_deep`.
    """
    if has_nul(raw):
        raise nul_refused(what)
    try:
        # msgspec, not json.loads: it refuses lone surrogates ("\\ud800"), which no database
        # can encode (a 500 before), as the typed endpoints' decoder does.
        value = msgspec.json.decode(raw)
    except RecursionError:
        raise too_deep(what, limit) from None
    except msgspec.DecodeError as err:
        raise ValueError(f"malformed JSON: {err}") from None
    if might_be_deep(raw, limit):
        check_depth(value, what, limit)
    return value
