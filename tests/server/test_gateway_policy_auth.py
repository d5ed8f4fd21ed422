"""Budget policies and guardrails under ``--app-name basic-auth``: MLflow 3.17's permissions and USER budgets.

One server with logins (``default_permission = READ``), two users with USE on one
endpoint of the loopback OpenAI fake (``gpt-4o``: about $2e-4 a call). Budget and
guardrail writes are the admin's; budgets are readable by any user; an endpoint's
guardrails need UPDATE on it to change and READ to list. A USER budget counts and
refuses the calls of its user only.
"""

from __future__ import annotations

import httpx
import pytest

from support.basic_auth import ADMIN_PASSWORD, PASSWORD, basic_auth_server
from support.gateway_kit import SERVER_KEY
from support.live_server import LOOPBACK_HTTP
from support.openai_server import OpenAIServer

API = "/api/3.0/mlflow/gateway"
CHAT = {
    "model": "shared",
    "messages": [{"role": "user", "content": "Name the colours of the rainbow in order, please, one by one"}],
}


@pytest.fixture(scope="module")
def fake():
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Logins (``support.basic_auth``: READ by default, users alice and bob), a key for gateway secrets."""
    root = tmp_path_factory.mktemp("gateway-policy-auth")
    with basic_auth_server(
        root, *LOOPBACK_HTTP, "--no-scorer-worker", env={"MLTRAIL_SECRET_KEY": SERVER_KEY}
    ) as live:
        yield live


@pytest.fixture(scope="module")
def endpoint(server, fake):
    admin = httpx.Client(base_url=server.url + API, auth=("admin", ADMIN_PASSWORD), timeout=10)
    secret = admin.post("/secrets/create", json={"secret_name": "k", "secret_value": {"api_key": "sk-0123456789"},
                                                 "provider": "openai", "auth_config": {"api_base": fake.base_url}})  # fmt: skip
    model = admin.post("/model-definitions/create", json={"name": "m", "secret_id": secret.json()["secret"]["secret_id"],
                                                          "provider": "openai", "model_name": "gpt-4o"})  # fmt: skip
    made = admin.post("/endpoints/create", json={"name": "shared", "model_configs": [
        {"model_definition_id": model.json()["model_definition"]["model_definition_id"], "linkage_type": "PRIMARY"}]})  # fmt: skip
    endpoint_id = made.json()["endpoint"]["endpoint_id"]
    for user in ("alice", "bob"):
        granted = httpx.post(
            f"{server.url}/api/3.0/mlflow/users/permissions/grant",
            json={
                "username": user,
                "resource_type": "gateway_endpoint",
                "resource_id": endpoint_id,
                "permission": "USE",
            },
            auth=("admin", ADMIN_PASSWORD),
        )
        assert granted.is_success, granted.text
    return endpoint_id


def _client(server, user: str) -> httpx.Client:
    password = ADMIN_PASSWORD if user == "admin" else PASSWORD
    return httpx.Client(base_url=server.url, auth=(user, password), timeout=30)


def _denied(resp: httpx.Response) -> None:
    assert resp.status_code == 403, resp.text
    assert resp.json()["error_code"] == "PERMISSION_DENIED"


def test_policy_writes_are_admins_and_user_budgets_cap_their_user(server, endpoint):
    admin, bob, alice = (_client(server, u) for u in ("admin", "bob", "alice"))
    policy = {"budget_unit": "USD", "budget_amount": 0.0001, "duration": {"unit": "DAYS", "value": 1},
              "target_scope": "USER", "target_value": "bob", "budget_action": "REJECT"}  # fmt: skip
    _denied(bob.post(API + "/budgets/create", json=policy))
    made = admin.post(API + "/budgets/create", json=policy)
    assert made.status_code == 200, made.text
    policy_id = made.json()["budget_policy"]["budget_policy_id"]
    assert made.json()["budget_policy"]["created_by"] == "admin"
    # Any signed-in user reads budgets; changing them is the admin's.
    assert bob.get(API + "/budgets/get", params={"budget_policy_id": policy_id}).status_code == 200
    assert [p["budget_policy_id"] for p in bob.get(API + "/budgets/list").json()["budget_policies"]] == [
        policy_id
    ]
    assert bob.get(API + "/budgets/windows").status_code == 200
    _denied(bob.post(API + "/budgets/update", json={"budget_policy_id": policy_id, "budget_amount": 9.0}))
    _denied(bob.request("DELETE", API + "/budgets/delete", json={"budget_policy_id": policy_id}))
    assert httpx.get(server.url + API + "/budgets/list").status_code == 401  # no login, no answer

    # Bob's first call spends his budget; his next is refused; Alice's calls are not his.
    assert bob.post("/gateway/mlflow/v1/chat/completions", json=CHAT).status_code == 200
    refused = bob.post("/gateway/mlflow/v1/chat/completions", json=CHAT)
    assert refused.status_code == 429 and refused.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert alice.post("/gateway/mlflow/v1/chat/completions", json=CHAT).status_code == 200
    assert (
        admin.request("DELETE", API + "/budgets/delete", json={"budget_policy_id": policy_id}).status_code
        == 200
    )
    assert bob.post("/gateway/mlflow/v1/chat/completions", json=CHAT).status_code == 200


def test_guardrail_writes_are_admins_and_endpoint_configs_follow_the_endpoint(server, endpoint):
    admin, bob = _client(server, "admin"), _client(server, "bob")
    _denied(bob.post(API + "/guardrails/create", json={"name": "g", "scorer_id": "x", "scorer_version": 1,
                                                       "stage": "BEFORE", "action": "VALIDATION"}))  # fmt: skip
    _denied(bob.get(API + "/guardrails/list"))
    _denied(bob.get(API + "/guardrails/get", params={"guardrail_id": "gr-x"}))
    # READ (the default) lists an endpoint's guardrails; attaching or detaching needs UPDATE.
    listed = bob.get(API + "/guardrails/list-for-endpoint", params={"endpoint_id": endpoint})
    assert listed.status_code == 200 and listed.json() == {"configs": []}
    ref = {"endpoint_id": endpoint, "guardrail_id": "gr-x"}
    _denied(bob.post(API + "/guardrails/add-to-endpoint", json=ref))
    _denied(bob.request("DELETE", API + "/guardrails/remove-from-endpoint", json=ref))
    _denied(bob.patch(API + "/guardrails/update-config", json={**ref, "execution_order": 1}))
    missing = admin.post(
        API + "/guardrails/add-to-endpoint", json=ref
    )  # the admin passes, the guardrail is absent
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
