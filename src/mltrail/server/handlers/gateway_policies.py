"""MLflow 3.17's AI gateway budget policies and guardrails (``/api/3.0/mlflow/gateway/{budgets,guardrails}/...``).

Requests are checked as MLflow's handlers check them: enums by name or number
(``Invalid budget_unit: 9`` otherwise), a positive ``duration.value``, a
``target_value`` exactly for ENDPOINT and USER policies, USER policies only with
logins on (without them no call has a user, so the policy could never apply).
The stores are :mod:`mltrail.store.sql.gateway_budgets` and
:mod:`mltrail.store.sql.gateway_guardrails`; enforcement on the proxy is
:mod:`mltrail.server.gateway_policy`. With logins on, budget and guardrail writes
are admins' (budgets are readable by any signed-in user), and attaching, detaching
or ordering an endpoint's guardrails needs UPDATE on the endpoint, listing them READ
(:data:`mltrail.server.gateway_rules.POLICY_RULES`).
"""

from __future__ import annotations

import getpass
from typing import Any

from mltrail.exceptions import invalid
from mltrail.protocol import gateway_policies as p
from mltrail.protocol.gateway_policies import BUDGETS as B
from mltrail.protocol.gateway_policies import GUARDRAILS as R
from mltrail.server import gateway_budget as budget
from mltrail.server.auth.rules import auth_enabled
from mltrail.server.gateway_guardrails import guardrail_store
from mltrail.server.gateway_rules import POLICY_RULES as AUTH_RULES  # noqa: F401 (see auth.rules)
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.store.workspace_scope import active_workspace

# Each enum's names in proto order (number 1 is the first): service.proto's values.
BUDGET_UNITS = ("USD",)
DURATION_UNITS = ("MINUTES", "HOURS", "DAYS", "WEEKS", "MONTHS")
TARGET_SCOPES = ("GLOBAL", "WORKSPACE", "ENDPOINT", "USER")
BUDGET_ACTIONS = ("ALERT", "REJECT")
STAGES = ("BEFORE", "AFTER")
ACTIONS = ("VALIDATION", "SANITIZATION")
_DEFAULT_PAGE = 1000  # MLflow's SEARCH_MAX_RESULTS_DEFAULT


def _missing(field: str) -> Any:
    return invalid(f"Missing value for required parameter '{field}'.")


def _enum(value: str | int | None, names: tuple[str, ...], field: str, required: bool = False) -> str | None:
    """An enum given by name or number as its name; None when absent (unless ``required``)."""
    if value is None or value == "":
        if required:
            raise _missing(field)
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(names):
        return names[value - 1]
    if isinstance(value, str) and value.upper() in names:
        return value.upper()
    raise invalid(f"Invalid {field}: {value}")


def _duration(wire: p.DurationWire) -> tuple[str, int]:
    unit = _enum(wire.unit, DURATION_UNITS, "duration.unit")
    if unit is None:
        raise invalid(f"Invalid duration.unit: {wire.unit or 0}")
    value = wire.value or 0
    if value <= 0:
        raise invalid(f"duration.value must be a positive integer, got {value}")
    return unit, _int32(value, "duration.value")


def _int32(value: int, field: str) -> int:
    """``value`` when it fits service.proto's int32 (larger numbers do not parse in MLflow either)."""
    if not -(2**31) <= value < 2**31:
        raise invalid(f"Invalid value {value} for parameter '{field}': it must fit a 32-bit integer.")
    return value


def _check_target(call: Call, scope: str, target: str | None) -> None:
    if scope in ("ENDPOINT", "USER"):
        if not target:
            raise invalid(f"target_value is required when target_scope is {scope}.")
    elif target:
        raise invalid("target_value can only be set when target_scope is ENDPOINT or USER.")
    if scope == "USER" and not auth_enabled(call.config):
        raise invalid(
            "USER-scoped budget policies require server authentication to be enabled. Without auth the "
            "gateway cannot attribute requests to a user, so the policy would never take effect."
        )


def _author(call: Call) -> str | None:
    """Who a guardrail or config is recorded as made by: the signed-in user; without logins, as
    MLflow records it, the user the server runs as (``getpass.getuser()``)."""
    if call.user:
        return call.user
    try:
        return getpass.getuser()
    except (ImportError, KeyError, OSError):  # no login name in the environment nor in passwd
        return None


def _wire(policy: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in policy.items() if k != "workspace"}


# ------------------------------------------------------------------------------ budgets
def create_budget_policy(call: Call) -> dict[str, Any]:
    b: p.CreateBudgetPolicy = call.body
    unit = _enum(b.budget_unit, BUDGET_UNITS, "budget_unit", required=True)
    if b.budget_amount is None:
        raise _missing("budget_amount")
    if b.duration is None:
        raise _missing("duration")
    duration_unit, duration_value = _duration(b.duration)
    scope = _enum(b.target_scope, TARGET_SCOPES, "target_scope", required=True)
    action = _enum(b.budget_action, BUDGET_ACTIONS, "budget_action", required=True)
    target = b.target_value or None
    _check_target(call, str(scope), target)
    policy = budget.budget_store(call).create_policy(
        str(unit),
        b.budget_amount,
        duration_unit,
        duration_value,
        str(scope),
        str(action),
        b.created_by or call.user or None,
        target,
    )
    budget.policies_changed(call)
    return {"budget_policy": _wire(policy)}


def get_budget_policy(call: Call) -> dict[str, Any]:
    policy_id = call.body.budget_policy_id or None
    if policy_id is None:
        raise _missing("budget_policy_id")
    return {"budget_policy": _wire(budget.budget_store(call).get_policy(policy_id))}


def update_budget_policy(call: Call) -> dict[str, Any]:
    b: p.UpdateBudgetPolicy = call.body
    if not b.budget_policy_id:
        raise _missing("budget_policy_id")
    store = budget.budget_store(call)
    scope = _enum(b.target_scope, TARGET_SCOPES, "target_scope")
    changes: dict[str, Any] = {
        "budget_unit": _enum(b.budget_unit, BUDGET_UNITS, "budget_unit"),
        "budget_amount": b.budget_amount,
        "target_scope": scope,
        "budget_action": _enum(b.budget_action, BUDGET_ACTIONS, "budget_action"),
        "target_value": b.target_value or None,
    }
    if b.duration is not None:
        changes["duration_unit"], changes["duration_value"] = _duration(b.duration)
    if scope is not None or b.target_value is not None:
        # The policy as it will be: a target only carries over within its scope (as MLflow checks).
        current = store.get_policy(b.budget_policy_id)
        effective = scope or current["target_scope"]
        inherited = current.get("target_value") if effective == current["target_scope"] else None
        _check_target(call, effective, (b.target_value or None) if b.target_value is not None else inherited)
    policy = store.update_policy(b.budget_policy_id, b.updated_by or call.user or None, **changes)
    budget.policies_changed(call)
    return {"budget_policy": _wire(policy)}


def delete_budget_policy(call: Call) -> dict[str, Any]:
    policy_id = call.body.budget_policy_id or None
    if policy_id is None:
        raise _missing("budget_policy_id")
    budget.budget_store(call).delete_policy(policy_id)
    budget.policies_changed(call)
    return {}


def list_budget_policies(call: Call) -> dict[str, Any]:
    b: p.Page = call.body
    _int32(b.max_results or 0, "max_results")
    policies, token = budget.budget_store(call).list_policies(
        b.max_results or _DEFAULT_PAGE, b.page_token or None
    )
    found: dict[str, Any] = {"budget_policies": [_wire(x) for x in policies]}
    if token:
        found["next_page_token"] = token
    return found


def list_budget_windows(call: Call) -> dict[str, Any]:
    workspace = active_workspace()
    windows = budget.current_windows(call)
    if workspace is not None:  # GLOBAL windows, and the workspace's own: no spend leaks across workspaces
        windows = [
            w
            for w in windows
            if w.policy["target_scope"] == "GLOBAL" or w.policy.get("workspace") == workspace
        ]
    return {"windows": [w.to_json() for w in windows]}


# --------------------------------------------------------------------------- guardrails
def create_guardrail(call: Call) -> dict[str, Any]:
    b: p.CreateGuardrail = call.body
    for field in ("name", "scorer_id"):
        if not getattr(b, field):
            raise _missing(field)
    if b.scorer_version is None:
        raise _missing("scorer_version")
    _int32(b.scorer_version, "scorer_version")
    stage = _enum(b.stage, STAGES, "stage", required=True)
    action = _enum(b.action, ACTIONS, "action", required=True)
    guardrail = guardrail_store(call).create_guardrail(
        b.name,
        b.scorer_id,
        b.scorer_version,
        str(stage),
        str(action),
        b.action_endpoint_id or None,
        _author(call),
    )
    return {"guardrail": guardrail}


def get_guardrail(call: Call) -> dict[str, Any]:
    if not call.body.guardrail_id:
        raise _missing("guardrail_id")
    return {"guardrail": guardrail_store(call).get_guardrail(call.body.guardrail_id)}


def delete_guardrail(call: Call) -> dict[str, Any]:
    if not call.body.guardrail_id:
        raise _missing("guardrail_id")
    guardrail_store(call).delete_guardrail(call.body.guardrail_id)
    return {}


def list_guardrails(call: Call) -> dict[str, Any]:
    b: p.Page = call.body
    _int32(b.max_results or 0, "max_results")
    guardrails, token = guardrail_store(call).list_guardrails(
        b.max_results or _DEFAULT_PAGE, b.page_token or None
    )
    found: dict[str, Any] = {"guardrails": guardrails}
    if token:
        found["next_page_token"] = token
    return found


def _config_ref(call: Call) -> p.GuardrailConfigRef:
    b: p.GuardrailConfigRef = call.body
    for field in ("endpoint_id", "guardrail_id"):
        if not getattr(b, field):
            raise _missing(field)
    if b.execution_order is not None:
        _int32(b.execution_order, "execution_order")
    return b


def add_guardrail_to_endpoint(call: Call) -> dict[str, Any]:
    b = _config_ref(call)
    config = guardrail_store(call).add_to_endpoint(
        b.endpoint_id, b.guardrail_id, b.execution_order, _author(call)
    )
    return {"config": config}


def remove_guardrail_from_endpoint(call: Call) -> dict[str, Any]:
    b = _config_ref(call)
    guardrail_store(call).remove_from_endpoint(b.endpoint_id, b.guardrail_id)
    return {}


def update_endpoint_guardrail_config(call: Call) -> dict[str, Any]:
    b = _config_ref(call)
    return {"config": guardrail_store(call).update_config(b.endpoint_id, b.guardrail_id, b.execution_order)}


def list_endpoint_guardrails(call: Call) -> dict[str, Any]:
    if not call.body.endpoint_id:
        raise _missing("endpoint_id")
    return {"configs": guardrail_store(call).endpoint_configs(call.body.endpoint_id)}


_W = {"write": True}
_DB = {"db_only": True}
ENDPOINTS: list[Endpoint] = [
    implement(B.create_budget_policy, create_budget_policy, **_W),
    implement(B.get_budget_policy, get_budget_policy, **_DB),
    implement(B.update_budget_policy, update_budget_policy, **_W),
    implement(B.delete_budget_policy, delete_budget_policy, **_W),
    implement(B.list_budget_policies, list_budget_policies, **_DB),
    implement(B.list_budget_windows, list_budget_windows, **_DB),
    implement(R.create_guardrail, create_guardrail, **_W),
    implement(R.get_guardrail, get_guardrail, **_DB),
    implement(R.delete_guardrail, delete_guardrail, **_W),
    implement(R.list_guardrails, list_guardrails, **_DB),
    implement(R.add_guardrail_to_endpoint, add_guardrail_to_endpoint, **_W),
    implement(R.remove_guardrail_from_endpoint, remove_guardrail_from_endpoint, **_W),
    implement(R.update_endpoint_guardrail_config, update_endpoint_guardrail_config, **_W),
    implement(R.list_endpoint_guardrails, list_endpoint_guardrails, **_DB),
]
