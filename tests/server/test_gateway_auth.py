"""The AI gateway's permissions under ``--app-name basic-auth`` (issue 19, point 2.1): MLflow 3.17's rules.

One server with logins (``default_permission = READ``, MLflow's default), two
users and the loopback OpenAI fake. Alice configures the gateway with the official
client's REST store and grants with MLflow's ``AuthServiceClient``; Bob calls the
proxy with the ``openai`` package and raw HTTP. Only a user with USE on an endpoint
may call it; configuration follows READ / UPDATE / DELETE / MANAGE per resource.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from support.live_server import LOOPBACK_HTTP, start_server, stop_server
from support.openai_server import OpenAIServer

API = "/api/3.0/mlflow/gateway"
ADMIN_PASSWORD = "admin-password-1234"
PASSWORD = "a-user-password-1234"


@pytest.fixture(scope="module")
def fake():
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("gateway-auth")
    ini = root / "basic_auth.ini"
    ini.write_text(
        f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{root / 'basic_auth.db'}\n"
        f"admin_username = admin\nadmin_password = {ADMIN_PASSWORD}\n"
    )
    env = {"MLTRAIL_SECRET_KEY": "a-test-server-key-of-32-characters!", "MLFLOW_AUTH_CONFIG_PATH": str(ini)}
    live = start_server(root, None, *LOOPBACK_HTTP, "--app-name", "basic-auth", env=env)
    admin = httpx.Client(base_url=live.url, auth=("admin", ADMIN_PASSWORD))
    for user in ("alice", "bob"):
        assert admin.post(
            "/api/2.0/mlflow/users/create", json={"username": user, "password": PASSWORD}
        ).is_success
    yield live
    stop_server(live)


def _as(monkeypatch, user: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)


def _store(server):
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.credentials import get_default_host_creds

    return RestStore(lambda: get_default_host_creds(server.url))


def _basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()


def _denied(resp: httpx.Response) -> None:
    assert resp.status_code == 403, resp.text
    assert resp.json()["error_code"] == "PERMISSION_DENIED"


def test_only_users_with_use_call_an_endpoint_and_config_follows_grants(server, fake, monkeypatch):
    import openai
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.client import AuthServiceClient

    # Alice (not an admin) configures an endpoint: she manages what she created.
    _as(monkeypatch, "alice")
    store = _store(server)
    secret = store.create_gateway_secret(
        "alice-key",
        {"api_key": "sk-alice-0123456789"},
        provider="openai",
        auth_config={"api_base": fake.base_url},
    )
    model = store.create_gateway_model_definition("alice-model", secret.secret_id, "openai", "gpt-4o-mini")
    config = GatewayEndpointModelConfig(model.model_definition_id, GatewayModelLinkageType.PRIMARY)
    endpoint = store.create_gateway_endpoint("alice-chat", [config])
    alice = openai.OpenAI(
        base_url=f"{server.url}/gateway/mlflow/v1", api_key="unused", max_retries=0,
        default_headers={"Authorization": _basic("alice")},
    )  # fmt: skip
    reply = alice.chat.completions.create(model="alice-chat", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Answer to: hi"
    auth = AuthServiceClient(server.url)
    assert auth.get_user_permission("alice", "gateway_endpoint", endpoint.endpoint_id).permission == "MANAGE"
    # The call's trace, in the endpoint's experiment, names who made it (as MLflow's does).
    from mlflow import MlflowClient

    [trace] = MlflowClient(server.url).search_traces(locations=[endpoint.experiment_id])
    assert trace.info.trace_metadata["mlflow.auth.username"] == "alice"
    assert trace.info.trace_metadata["mlflow.auth.userId"] == "2"  # admin is user 1

    # Bob reads (the default READ) but may not call, change or build on Alice's resources.
    bob = httpx.Client(base_url=server.url, auth=("bob", PASSWORD))
    chat = {"model": "alice-chat", "messages": [{"role": "user", "content": "hi"}]}
    for path in ("/gateway/mlflow/v1/chat/completions", "/gateway/openai/v1/chat/completions"):
        _denied(bob.post(path, json=chat))
    _denied(bob.post("/gateway/alice-chat/mlflow/invocations", json={"messages": chat["messages"]}))
    system_one = {"model": "alice-chat", "state": {}, "questions": {}}
    _denied(bob.post("/gateway/typesafe/v1/systemone", json=system_one))  # USE before anything else
    _denied(bob.post("/gateway/mlflow/v1/chat/completions", json={**chat, "model": "no-such-endpoint"}))
    assert bob.get("/gateway/mlflow/v1/models").json()["data"] == []
    assert [e["name"] for e in bob.get(API + "/endpoints/list").json()["endpoints"]] == ["alice-chat"]
    assert bob.get(API + "/endpoints/get", params={"name": "alice-chat"}).is_success
    _denied(bob.post(API + "/endpoints/update", json={"endpoint_id": endpoint.endpoint_id, "name": "mine"}))
    _denied(
        bob.post(
            API + "/endpoints/set-tag", json={"endpoint_id": endpoint.endpoint_id, "key": "k", "value": "v"}
        )
    )
    _denied(bob.request("DELETE", API + "/endpoints/delete", json={"endpoint_id": endpoint.endpoint_id}))
    _denied(
        bob.post(
            API + "/secrets/update", json={"secret_id": secret.secret_id, "secret_value": {"api_key": "x"}}
        )
    )
    body = {"name": "bob-model", "secret_id": secret.secret_id, "provider": "openai", "model_name": "m"}
    _denied(bob.post(API + "/model-definitions/create", json=body))  # USE on the secret is needed
    _denied(
        bob.post(API + "/endpoints/create", json={"name": "bob-chat", "model_configs": [
            {"model_definition_id": model.model_definition_id, "linkage_type": "PRIMARY"}]})
    )  # fmt: skip
    _denied(bob.get(API + "/endpoints/bindings/list"))  # no endpoint named: admins only
    _denied(bob.post(API + "/endpoints/update", json={"endpoint_id": endpoint.endpoint_id,
                                                       "experiment_id": endpoint.experiment_id}))  # fmt: skip

    # Alice grants Bob USE on the endpoint (the official client): he may call it, still not change it.
    auth.grant_user_permission("bob", "gateway_endpoint", endpoint.endpoint_id, "USE")
    _as(monkeypatch, "bob")
    granted = AuthServiceClient(server.url).get_user_permission(
        "bob", "gateway_endpoint", endpoint.endpoint_id
    )
    assert granted.permission == "USE" and granted.allowed is True
    bob_ai = openai.OpenAI(
        base_url=f"{server.url}/gateway/openai/v1", api_key="unused", max_retries=0,
        default_headers={"Authorization": _basic("bob")},
    )  # fmt: skip
    answer = bob_ai.chat.completions.create(model="alice-chat", messages=[{"role": "user", "content": "yo"}])
    assert answer.choices[0].message.content == "Answer to: yo"
    assert [m["id"] for m in bob.get("/gateway/mlflow/v1/models").json()["data"]] == ["alice-chat"]
    # Past the USE check, the System One route refuses a chat endpoint as MLflow does.
    assert bob.post("/gateway/typesafe/v1/systemone", json=system_one).status_code == 422
    with pytest.raises(MlflowException) as err:
        _store(server).update_gateway_endpoint(endpoint.endpoint_id, name="mine")
    assert err.value.error_code == "PERMISSION_DENIED"
    listed = bob.get("/api/3.0/mlflow/users/current/permissions").json()["permissions"]
    assert {(p["resource_type"], p["permission"]) for p in listed} == {("gateway_endpoint", "USE")}

    # Deleting the endpoint takes its grants with it; Bob's secret is his own to manage.
    _as(monkeypatch, "alice")
    _store(server).delete_gateway_endpoint(endpoint.endpoint_id)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    assert (
        AuthServiceClient(server.url)
        .get_user_permission("bob", "gateway_endpoint", endpoint.endpoint_id)
        .permission
        == "READ"
    )
    # An endpoint of Bob's may not trace into an experiment where he may only read (the admin's).
    from mlflow import MlflowClient

    admins = MlflowClient(server.url).create_experiment("admin-exp")
    bob_model = bob.post(
        API + "/model-definitions/create",
        json={
            "name": "bob-model",
            "secret_id": bob.post(
                API + "/secrets/create",
                json={"secret_name": "bob-key2", "secret_value": {"api_key": "sk-bob-654321"}},
            ).json()["secret"]["secret_id"],
            "provider": "openai",
            "model_name": "m",
        },
    ).json()["model_definition"]
    configs = [{"model_definition_id": bob_model["model_definition_id"], "linkage_type": "PRIMARY"}]
    _denied(
        bob.post(
            API + "/endpoints/create",
            json={"name": "bob-chat", "model_configs": configs, "experiment_id": admins},
        )
    )
    assert bob.post(API + "/endpoints/create", json={"name": "bob-chat", "model_configs": configs}).is_success
    mine = bob.post(
        API + "/secrets/create", json={"secret_name": "bob-key", "secret_value": {"api_key": "sk-bob-123456"}}
    )
    assert mine.is_success, mine.text
    listed = sorted(s["secret_name"] for s in bob.get(API + "/secrets/list").json()["secrets"])
    assert listed == ["alice-key", "bob-key", "bob-key2"]
    alice.close()
    bob_ai.close()
    bob.close()
