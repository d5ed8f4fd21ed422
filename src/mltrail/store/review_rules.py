"""What a label schema and a review queue may hold: MLflow 3.14's rules, checked before anything is stored.

Everything here works on the wire form (JSON dicts, enum names as strings) that the REST
API, the SQL store and the SDK share, and raises ``INVALID_PARAMETER_VALUE`` with a message
a person can act on. The limits are MLflow's (``mlflow.genai.label_schemas.validation`` and
``mlflow.genai.review_queues.validation``): a name of at most 250 characters, 1-10
distinct categorical options of 1-64 characters, at most 10 assigned users, ...

Example::

    check_input({"categorical": {"options": ["good", "bad"]}})
    queue_type, name, users, schema_ids = check_new_queue("triage", "custom", ["Ann"], [])
"""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import invalid

NAME_MAX = 250
INSTRUCTION_MAX = 1000
LABEL_MAX = 64
OPTIONS_MAX = 10
USERS_MAX = 10
ITEM_ID_MAX = 50
SCHEMA_ID_MAX = 36
#: The experiment's protected default question (MLflow seeds it on the first list).
DEFAULT_SCHEMA_NAME = "Feedback"
DEFAULT_SCHEMA_INSTRUCTION = "Share any feedback on this trace."
#: Reserved for the no-auth default user queue.
RESERVED_QUEUE_NAME = "default"

SCHEMA_TYPES = ("FEEDBACK", "EXPECTATION")
QUEUE_TYPES = ("USER", "CUSTOM")
STATUSES = ("PENDING", "COMPLETE", "DECLINED")
ITEM_TYPES = ("TRACE",)
INPUT_KINDS = ("pass_fail", "categorical", "numeric", "text")


def enum_name(value: Any, allowed: tuple[str, ...], field: str, *, required: bool = True) -> str | None:
    """An enum given by name (any case) or by its protobuf number (1-based), as its upper-case name."""
    if value is None or value == "" or value == 0:
        if required:
            raise invalid(f"`{field}` must be one of {', '.join(allowed)}.")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(allowed):
        return allowed[value - 1]
    if isinstance(value, str) and value.strip().upper() in allowed:
        return value.strip().upper()
    raise invalid(f"`{field}` must be one of {', '.join(allowed)}; got {value!r}.")


def _text(value: Any, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(f"`{field}` must be a non-empty string; got {value!r}.")
    if len(value) > max_length:
        raise invalid(f"`{field}` must be at most {max_length} characters; got {len(value)}.")
    return value


def _number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"`{field}` must be a number; got {value!r}.")
    return float(value)


# ------------------------------------------------------------------ label schemas
def check_schema_name(name: Any) -> str:
    """A schema name: 1-250 characters, not the reserved default question's name."""
    _text(name, "name", NAME_MAX)
    if name.strip().lower() == DEFAULT_SCHEMA_NAME.lower():
        raise invalid(
            f"`{name}` is reserved for the experiment's default question and cannot be used for another label schema."
        )
    return name


def check_instruction(instruction: Any) -> str | None:
    if instruction is None:
        return None
    if not isinstance(instruction, str):
        raise invalid(f"Label schema `instruction` must be a string; got {type(instruction).__name__}.")
    if len(instruction) > INSTRUCTION_MAX:
        raise invalid(
            f"Label schema `instruction` must be at most {INSTRUCTION_MAX} characters; got {len(instruction)}."
        )
    return instruction


def check_input(spec: Any) -> dict[str, Any]:
    """A ``LabelSchemaInput`` as JSON: exactly one of pass_fail, categorical, numeric or text; normalized."""
    if not isinstance(spec, dict):
        raise invalid("Label schema `input` is required: one of pass_fail, categorical, numeric or text.")
    kinds = [k for k in INPUT_KINDS if spec.get(k) is not None]
    unknown = sorted(set(spec) - set(INPUT_KINDS))
    if len(kinds) != 1 or unknown:
        raise invalid(
            "Label schema `input` must have exactly one of `pass_fail`, `categorical`, `numeric` or `text` set; "
            f"got {sorted(spec)}."
        )
    kind = kinds[0]
    body = spec[kind]
    if not isinstance(body, dict):
        raise invalid(f"`input.{kind}` must be an object.")
    if kind == "pass_fail":
        pos = _text(body.get("positive_label"), "InputPassFail.positive_label", LABEL_MAX)
        neg = _text(body.get("negative_label"), "InputPassFail.negative_label", LABEL_MAX)
        if pos == neg:
            raise invalid(
                f"`InputPassFail.positive_label` and `negative_label` must be distinct; got {pos!r} for both."
            )
        return {kind: {"positive_label": pos, "negative_label": neg}}
    if kind == "categorical":
        options = body.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= OPTIONS_MAX:
            raise invalid(
                f"`InputCategorical.options` must be a list of 1 to {OPTIONS_MAX} options; got {options!r}."
            )
        for option in options:
            _text(option, "InputCategorical.options entry", LABEL_MAX)
        if len(set(options)) != len(options):
            raise invalid("`InputCategorical.options` must not repeat an option.")
        multi = body.get("multi_select", False)
        if not isinstance(multi, bool):
            raise invalid("`InputCategorical.multi_select` must be a boolean.")
        return {kind: {"options": list(options), "multi_select": multi}}
    if kind == "numeric":
        low = _number(body.get("min_value"), "InputNumeric.min_value")
        high = _number(body.get("max_value"), "InputNumeric.max_value")
        if low is not None and high is not None and low >= high:
            raise invalid(
                f"`InputNumeric.min_value` must be less than `max_value`; got min={low}, max={high}."
            )
        return {kind: {k: v for k, v in (("min_value", low), ("max_value", high)) if v is not None}}
    max_length = body.get("max_length")
    if max_length is not None:
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise invalid(f"`InputText.max_length` must be a positive integer; got {max_length!r}.")
        return {kind: {"max_length": max_length}}
    return {kind: {}}


def same_input_kind(old: dict[str, Any], new: dict[str, Any]) -> None:
    """An update keeps the input's kind (and a categorical's ``multi_select``): labels already given stay valid."""
    (old_kind, old_body), (new_kind, new_body) = next(iter(old.items())), next(iter(new.items()))
    if old_kind != new_kind:
        raise invalid(
            f"A label schema's input type cannot be changed after creation (existing: {old_kind}, got: {new_kind})."
        )
    if old_kind == "categorical" and old_body.get("multi_select") != new_body.get("multi_select"):
        raise invalid("`InputCategorical.multi_select` cannot be changed after creation.")


# ------------------------------------------------------------------ review queues
def normalize_user(user: Any) -> str:
    """A user id as stored: stripped and lower-cased (matched against assessment sources without case)."""
    if not isinstance(user, str):
        raise invalid(f"`user` must be a string; got {user!r}.")
    return _text(user.strip().lower(), "user", NAME_MAX)


def normalize_users(users: Any) -> list[str]:
    if users is None:
        return []
    if not isinstance(users, list):
        raise invalid(f"`users` must be a list of strings; got {users!r}.")
    out = list(dict.fromkeys(normalize_user(u) for u in users))
    if len(out) > USERS_MAX:
        raise invalid(f"A review queue can have at most {USERS_MAX} assigned users; got {len(out)}.")
    return out


def normalize_ids(ids: Any, field: str, max_length: int, *, non_empty: bool = False) -> list[str]:
    """A list of ids, stripped and without repeats (order kept)."""
    if ids is None:
        ids = []
    if not isinstance(ids, list) or (non_empty and not ids):
        raise invalid(f"`{field}` must be a {'non-empty ' if non_empty else ''}list of strings; got {ids!r}.")
    out = []
    for value in ids:
        if not isinstance(value, str):
            raise invalid(f"`{field}` entries must be strings; got {value!r}.")
        out.append(_text(value.strip(), field, max_length))
    return list(dict.fromkeys(out))


def check_custom_queue_name(name: Any) -> str:
    if not isinstance(name, str):
        raise invalid(f"`name` must be a string; got {name!r}.")
    name = _text(name.strip(), "name", NAME_MAX)
    if name.lower() == RESERVED_QUEUE_NAME:
        raise invalid(f"`{name}` is a reserved queue name and cannot be used for a custom queue.")
    return name


def check_new_queue(
    name: Any, queue_type: Any, users: Any, schema_ids: Any
) -> tuple[str, str, list[str], list[str]]:
    """``(queue_type, name, users, schema_ids)`` of a queue to create, with MLflow's user/custom invariants."""
    kind = enum_name(queue_type, QUEUE_TYPES, "queue_type")
    assert kind is not None
    users_n = normalize_users(users)
    schema_ids_n = normalize_ids(schema_ids, "schema_ids", SCHEMA_ID_MAX)
    if kind == "USER":
        name_n = normalize_user(name)
        if not users_n:
            users_n = [name_n]
        elif users_n != [name_n]:
            raise invalid(
                f"A user queue must have exactly one assigned user equal to its name; got name={name_n!r} and users={users_n!r}."
            )
        if schema_ids_n:
            raise invalid(
                "A user queue cannot have explicitly-attached schemas; it resolves to all of the experiment's label schemas."
            )
        return kind, name_n, users_n, []
    return kind, check_custom_queue_name(name), users_n, schema_ids_n


def check_status_change(status: Any, completed_by: Any) -> tuple[str, str | None]:
    """``(status, completed_by)``: who is required to complete or decline, and refused when reopening."""
    new = enum_name(status, STATUSES, "status")
    assert new is not None
    who = normalize_user(completed_by) if completed_by not in (None, "") else None
    if new == "PENDING" and who is not None:
        raise invalid("`completed_by` must not be set when reopening an item to `pending`.")
    if new != "PENDING" and who is None:
        raise invalid(f"`completed_by` is required when setting status to `{new.lower()}`.")
    return new, who


def check_max_results(max_results: Any, default: int = 100, limit: int = 1000) -> int:
    if max_results in (None, 0):
        return default
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= limit:
        raise invalid(f"max_results must be between 1 and {limit}.")
    return max_results
