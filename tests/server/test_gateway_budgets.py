"""The AI gateway's budget policies (MLflow 3.17): the budgets/* API and their enforcement on the proxy.

One ``mltrail server`` (secrets key, loopback targets allowed), the loopback OpenAI
fake and a webhook receiver for the module. The official client's REST store drives
the API and every answer parses as MLflow's protobuf message. Calls go through the
proxy with the ``openai`` package to ``gpt-4o`` (priced: each call costs about $1e-4),
so a budget of $0.0001 is spent by the first call.
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from google.protobuf.json_format import ParseDict
from mlflow.protos import service_pb2 as pb

from support.gateway_kit import chat_endpoints, gateway_server, official_store
from support.openai_server import OpenAIServer
from support.webhook_receiver import Receiver, signature_ok

API = "/api/3.0/mlflow/gateway"
CHAT = {"messages": [{"role": "user", "content": "What is the capital of France, in one word?"}]}


@pytest.fixture(scope="module")
def fake():
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake):
    with gateway_server(tmp_path_factory.mktemp("budgets"), "--no-scorer-worker") as live:
        yield live


@pytest.fixture(scope="module")
def store(server):
    return official_store(server.url)


@pytest.fixture(scope="module")
def endpoints(store, fake):
    """Three chat endpoints on the fake's gpt-4o: one per budget test, and one no budget names."""
    names = ("capped", "alerted", "free")
    return chat_endpoints(
        store, fake.base_url, *names, secret="budget-key", definition="gpt4o", model="gpt-4o"
    )


def _chat(server, endpoint: str) -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=f"{server.url}/gateway/mlflow/v1", api_key="unused", max_retries=0)
    return client.chat.completions.create(model=endpoint, **CHAT)


def _error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.json()["error_code"] == code
    return resp.json()["message"]


def test_official_client_manages_budget_policies(server, store, endpoints):
    from mlflow.entities.gateway_budget_policy import (
        BudgetAction,
        BudgetDuration,
        BudgetDurationUnit,
        BudgetTargetScope,
        BudgetUnit,
    )
    from mlflow.exceptions import MlflowException

    hours = BudgetDuration(BudgetDurationUnit.HOURS, 2)
    glob = store.create_budget_policy(
        BudgetUnit.USD, 50.0, hours, BudgetTargetScope.GLOBAL, BudgetAction.ALERT, created_by="ops"
    )
    assert glob.budget_policy_id.startswith("bp-") and glob.target_value is None
    assert (glob.budget_amount, glob.duration, glob.created_by) == (50.0, hours, "ops")
    per_endpoint = store.create_budget_policy(
        BudgetUnit.USD,
        5.0,
        BudgetDuration(BudgetDurationUnit.DAYS, 1),
        BudgetTargetScope.ENDPOINT,
        BudgetAction.REJECT,
        target_value=endpoints["free"].endpoint_id,
    )
    assert store.get_budget_policy(per_endpoint.budget_policy_id) == per_endpoint

    # Pages of one, in id order, with MLflow's offset tokens.
    first = store.list_budget_policies(max_results=1)
    second = store.list_budget_policies(max_results=1, page_token=first.token)
    assert first.token and [*first, *second] == sorted([glob, per_endpoint], key=lambda p: p.budget_policy_id)

    # A partial update keeps the rest; the endpoint target stays while the scope does.
    changed = store.update_budget_policy(
        per_endpoint.budget_policy_id, budget_amount=7.5, duration=BudgetDuration(BudgetDurationUnit.WEEKS, 1)
    )
    assert (changed.budget_amount, changed.duration.unit, changed.target_value) == (
        7.5,
        BudgetDurationUnit.WEEKS,
        endpoints["free"].endpoint_id,
    )
    assert changed.last_updated_at >= per_endpoint.last_updated_at
    # Switching to a scope without a target drops it; to ENDPOINT without one is refused.
    widened = store.update_budget_policy(
        per_endpoint.budget_policy_id, target_scope=BudgetTargetScope.WORKSPACE
    )
    assert widened.target_scope == BudgetTargetScope.WORKSPACE and widened.target_value is None
    with pytest.raises(MlflowException, match="target_value is required when target_scope is ENDPOINT"):
        store.update_budget_policy(glob.budget_policy_id, target_scope=BudgetTargetScope.ENDPOINT)

    store.delete_budget_policy(per_endpoint.budget_policy_id)
    with pytest.raises(MlflowException, match="BudgetPolicy not found") as err:
        store.get_budget_policy(per_endpoint.budget_policy_id)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    store.delete_budget_policy(glob.budget_policy_id)
    assert list(store.list_budget_policies()) == []


def test_bad_budget_requests_are_400s_as_in_mlflow(server, endpoints):
    http = httpx.Client(base_url=server.url + API, timeout=10)
    base = {"budget_unit": "USD", "budget_amount": 1.0, "duration": {"unit": "DAYS", "value": 1},
            "target_scope": "GLOBAL", "budget_action": "ALERT"}  # fmt: skip
    cases = [
        (
            {**base, "duration": {"unit": "DAYS", "value": 0}},
            "duration.value must be a positive integer, got 0",
        ),
        ({**base, "budget_unit": 9}, "Invalid budget_unit: 9"),
        ({**base, "budget_action": "SHOUT"}, "Invalid budget_action: SHOUT"),
        (
            {**base, "target_value": "x"},
            "target_value can only be set when target_scope is ENDPOINT or USER.",
        ),
        ({**base, "target_scope": "ENDPOINT"}, "target_value is required when target_scope is ENDPOINT."),
        ({**base, "target_scope": "USER", "target_value": "ann"}, "USER-scoped budget policies require"),
        (
            {k: v for k, v in base.items() if k != "duration"},
            "Missing value for required parameter 'duration'.",
        ),
    ]
    for body, message in cases:
        assert _error(http.post("/budgets/create", json=body), 400, "INVALID_PARAMETER_VALUE").startswith(
            message
        )
    missing = {**base, "target_scope": "ENDPOINT", "target_value": "e-nope"}
    assert "GatewayEndpoint not found" in _error(
        http.post("/budgets/create", json=missing), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert http.get("/budgets/list").json() == {"budget_policies": []}  # nothing half-written
    # The numbers of the enums work as their names do (protobuf JSON accepts both).
    made = http.post("/budgets/create", json={**base, "budget_unit": 1, "budget_action": 2}).json()
    ParseDict(made, pb.CreateGatewayBudgetPolicy.Response(), ignore_unknown_fields=False)
    assert (
        made["budget_policy"]["budget_action"] == "REJECT" and made["budget_policy"]["budget_unit"] == "USD"
    )
    gone = http.request(
        "DELETE", "/budgets/delete", json={"budget_policy_id": made["budget_policy"]["budget_policy_id"]}
    )
    assert gone.status_code == 200 and gone.json() == {}


def test_reject_budget_refuses_calls_once_spent(server, store, endpoints):
    from mlflow.entities.gateway_budget_policy import (
        BudgetAction,
        BudgetDuration,
        BudgetDurationUnit,
        BudgetTargetScope,
        BudgetUnit,
    )

    capped = endpoints["capped"].endpoint_id
    policy = store.create_budget_policy(
        BudgetUnit.USD,
        0.0001,
        BudgetDuration(BudgetDurationUnit.DAYS, 1),
        BudgetTargetScope.ENDPOINT,
        BudgetAction.REJECT,
        target_value=capped,
    )
    assert _chat(server, "capped").choices[0].message.content.startswith("Answer to:")  # spends the budget

    refused = httpx.post(f"{server.url}/gateway/mlflow/v1/chat/completions", json={"model": "capped", **CHAT})
    message = _error(refused, 429, "REQUEST_LIMIT_EXCEEDED")
    assert message.startswith("Budget limit exceeded. Limit: $0.00 USD per 1 day. Budget resets at ")
    assert message.endswith("Request rejected.")
    with pytest.raises(openai.RateLimitError):
        _chat(server, "capped")
    assert _chat(server, "free").choices  # another endpoint is not capped

    windows = httpx.get(f"{server.url}{API}/budgets/windows").json()
    ParseDict(windows, pb.ListGatewayBudgetWindows.Response(), ignore_unknown_fields=False)
    [window] = [w for w in windows["windows"] if w["budget_policy_id"] == policy.budget_policy_id]
    assert window["current_spend"] >= 0.0001
    assert window["window_end_ms"] - window["window_start_ms"] == 86_400_000
    assert window["window_start_ms"] % 86_400_000 == 0  # aligned to UTC days, as MLflow's windows

    # Raising the limit lets calls through again at once (the change re-reads the policies).
    store.update_budget_policy(policy.budget_policy_id, budget_amount=100.0)
    assert _chat(server, "capped").choices
    store.delete_budget_policy(policy.budget_policy_id)


def test_alert_budget_fires_its_webhook_once_per_window(server, store, endpoints, receiver):
    from mlflow import MlflowClient
    from mlflow.entities.gateway_budget_policy import (
        BudgetAction,
        BudgetDuration,
        BudgetDurationUnit,
        BudgetTargetScope,
        BudgetUnit,
    )

    hook = MlflowClient(server.url).create_webhook(
        "budget-alerts", f"{receiver.url}/budget", ["budget_policy.exceeded"], secret="s3cret"
    )
    alerted = endpoints["alerted"].endpoint_id
    policy = store.create_budget_policy(
        BudgetUnit.USD,
        0.0001,
        BudgetDuration(BudgetDurationUnit.MONTHS, 1),
        BudgetTargetScope.ENDPOINT,
        BudgetAction.ALERT,
        target_value=alerted,
    )
    for _ in range(3):  # an ALERT budget never refuses a call
        assert _chat(server, "alerted").choices

    [delivery] = receiver.wait("/budget", 1)
    envelope = json.loads(delivery["body"])
    assert envelope["entity"] == "budget_policy" and envelope["action"] == "exceeded"
    data = envelope["data"]
    assert data["budget_policy_id"] == policy.budget_policy_id and data["current_spend"] >= 0.0001
    assert {k: data[k] for k in ("budget_unit", "budget_amount", "duration_unit", "duration_value",
                                 "target_scope", "target_value", "workspace")} == {
        "budget_unit": "USD", "budget_amount": 0.0001, "duration_unit": "MONTHS", "duration_value": 1,
        "target_scope": "ENDPOINT", "target_value": alerted, "workspace": "default",
    }  # fmt: skip
    assert data["window_start"] % 1000 == 0

    assert signature_ok(delivery, "s3cret")

    # Later calls in the same window fire nothing more: one more call, then an event queued
    # after it (a registered model's) is delivered, and still one budget delivery.
    client = MlflowClient(server.url)
    client.create_webhook("sentinel", f"{receiver.url}/sentinel", ["registered_model.created"])
    assert _chat(server, "alerted").choices
    client.create_registered_model("after-the-alert")
    receiver.wait("/sentinel", 1)
    assert len(receiver.requests["/budget"]) == 1
    client.delete_webhook(hook.webhook_id)
    store.delete_budget_policy(policy.budget_policy_id)
