"""MLflow 3.17's AI gateway budget policies and guardrails (service.proto's ``*GatewayBudget*``, ``*Guardrail*``).

Under ``/api/3.0/mlflow/gateway/`` (and ``/ajax-api/...``):

* ``budgets/{create,update}`` (POST), ``budgets/{get,list,windows}`` (GET), ``budgets/delete`` (DELETE);
* ``guardrails/create``, ``guardrails/add-to-endpoint`` (POST), ``guardrails/{get,list,list-for-endpoint}``
  (GET), ``guardrails/{delete,remove-from-endpoint}`` (DELETE), ``guardrails/update-config`` (PATCH).

Enums travel by name (``"USD"``, ``"REJECT"``, ``"BEFORE"``), as protobuf JSON writes them;
their numbers are accepted too.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol.routes import Message, Route, RouteSet

Enum = str | int | None


class DurationWire(msgspec.Struct):
    """``BudgetDuration``: a unit (MINUTES ... MONTHS) and how many of them."""

    unit: Enum = None
    value: int | None = None


class CreateBudgetPolicy(Message):
    budget_unit: Enum = None
    budget_amount: float | None = None
    duration: DurationWire | None = None
    target_scope: Enum = None
    budget_action: Enum = None
    created_by: str | None = None
    target_value: str | None = None


class UpdateBudgetPolicy(Message):
    budget_policy_id: str = ""
    budget_unit: Enum = None
    budget_amount: float | None = None
    duration: DurationWire | None = None
    target_scope: Enum = None
    budget_action: Enum = None
    updated_by: str | None = None
    target_value: str | None = None


class BudgetPolicyRef(Message):
    budget_policy_id: str = ""


class Page(Message):
    max_results: int | None = None
    page_token: str | None = None


class CreateGuardrail(Message):
    name: str = ""
    scorer_id: str = ""
    scorer_version: int | None = None
    stage: Enum = None
    action: Enum = None
    action_endpoint_id: str | None = None


class GuardrailRef(Message):
    guardrail_id: str = ""


class GuardrailConfigRef(Message):
    endpoint_id: str = ""
    guardrail_id: str = ""
    execution_order: int | None = None


class EndpointGuardrails(Message):
    endpoint_id: str = ""


def _any(name: str, fields: tuple[str, ...]) -> type:
    return msgspec.defstruct(name, [(f, Any, None) for f in fields], omit_defaults=True)


PolicyAnswer = _any("PolicyAnswer", ("budget_policy",))
PoliciesAnswer = _any("PoliciesAnswer", ("budget_policies", "next_page_token"))
WindowsAnswer = _any("WindowsAnswer", ("windows",))
GuardrailAnswer = _any("GuardrailAnswer", ("guardrail",))
GuardrailsAnswer = _any("GuardrailsAnswer", ("guardrails", "next_page_token"))
ConfigAnswer = _any("ConfigAnswer", ("config",))
ConfigsAnswer = _any("ConfigsAnswer", ("configs",))


class Empty(msgspec.Struct):
    pass


def _r(name: str, method: str, path: str, req: type | None, resp: type) -> Route:
    return Route(name, method, f"/gateway{path}", req, resp, versions=("3.0",), tags=("gateway",))


BUDGETS = RouteSet(
    _r("create_budget_policy", "POST", "/budgets/create", CreateBudgetPolicy, PolicyAnswer),
    _r("get_budget_policy", "GET", "/budgets/get", BudgetPolicyRef, PolicyAnswer),
    _r("update_budget_policy", "POST", "/budgets/update", UpdateBudgetPolicy, PolicyAnswer),
    _r("delete_budget_policy", "DELETE", "/budgets/delete", BudgetPolicyRef, Empty),
    _r("list_budget_policies", "GET", "/budgets/list", Page, PoliciesAnswer),
    _r("list_budget_windows", "GET", "/budgets/windows", None, WindowsAnswer),
)

GUARDRAILS = RouteSet(
    _r("create_guardrail", "POST", "/guardrails/create", CreateGuardrail, GuardrailAnswer),
    _r("get_guardrail", "GET", "/guardrails/get", GuardrailRef, GuardrailAnswer),
    _r("delete_guardrail", "DELETE", "/guardrails/delete", GuardrailRef, Empty),
    _r("list_guardrails", "GET", "/guardrails/list", Page, GuardrailsAnswer),
    _r("add_guardrail_to_endpoint", "POST", "/guardrails/add-to-endpoint", GuardrailConfigRef, ConfigAnswer),
    _r(
        "remove_guardrail_from_endpoint",
        "DELETE",
        "/guardrails/remove-from-endpoint",
        GuardrailConfigRef,
        Empty,
    ),
    _r("list_endpoint_guardrails", "GET", "/guardrails/list-for-endpoint", EndpointGuardrails, ConfigsAnswer),
    _r(
        "update_endpoint_guardrail_config",
        "PATCH",
        "/guardrails/update-config",
        GuardrailConfigRef,
        ConfigAnswer,
    ),
)
