"""The AI gateway's permissions under ``--app-name basic-auth`` (issue 19, point 2.1): MLflow 3.17's rules.

One server with logins (``default_permission = READ``, MLflow's default), two
users and the loopback OpenAI fake. Alice configures the gateway with the official
client's REST store and grants with MLflow's ``AuthServiceClient``; Bob calls the
proxy with the ``openai`` package and raw HTTP. Only a user with USE on an endpoint
may call it; configuration follows READ / UPDATE / DELETE / MANAGE per resource.
The last test starts its own pair, a real ``mlflow server`` and an ``mltrail server`` with
``default_permission = NO_PERMISSIONS``, for the experiment an endpoint's traces go to.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from support.basic_auth import ADMIN_PASSWORD, PASSWORD, basic_auth_server, write_basic_auth_ini
from support.gateway_kit import SERVER_KEY, chat_endpoints
from support.live_server import LOOPBACK_HTTP, start_server, stop_server
from support.openai_server import OpenAIServer

API = "/api/3.0/mlflow/gateway"


@pytest.fixture(scope="module")
def fake():
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Logins (``support.basic_auth``: READ by default, users alice and bob), a key for gateway secrets."""
    root = tmp_path_factory.mktemp("gateway-auth")
    with basic_auth_server(root, *LOOPBACK_HTTP, env={"MLTRAIL_SECRET_KEY": SERVER_KEY}) as live:
        yield live


def _as(monkeypatch, user: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)


def _store(server):
    return _store_at(server.url)


def _store_at(url: str):
    """The official client's REST store on ``url``, signed in as the environment's user."""
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.credentials import get_default_host_creds

    return RestStore(lambda: get_default_host_creds(url))


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


# ----------------------------------------------------- the experiment an endpoint's traces go to


def _tracking_experiment_access(url: str, fake: OpenAIServer, monkeypatch) -> dict:
    """Alice (no admin) makes an endpoint with usage tracking on a server whose default is
    NO_PERMISSIONS and calls it: what she (and the admin's grant) can do with its experiment."""
    from mlflow.server.auth.client import AuthServiceClient

    admin = httpx.Client(base_url=url, auth=("admin", ADMIN_PASSWORD), timeout=60)
    assert admin.post(
        "/api/2.0/mlflow/users/create", json={"username": "alice", "password": PASSWORD}
    ).is_success
    _as(monkeypatch, "alice")
    endpoint = chat_endpoints(
        _store_at(url), fake.base_url, "alice-chat", secret="alice-key", definition="alice-model"
    )["alice-chat"]
    alice = httpx.Client(base_url=url, auth=("alice", PASSWORD), timeout=60)
    chat = {"model": "alice-chat", "messages": [{"role": "user", "content": "hi"}]}
    exp = endpoint.experiment_id
    traces = {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}]}

    def seen() -> dict:
        return {
            "endpoint": alice.get(API + "/endpoints/get", params={"endpoint_id": endpoint.endpoint_id}).status_code,
            "experiment": alice.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": exp}).status_code,
            "traces": alice.post("/api/3.0/mlflow/traces/search", json=traces).status_code,
            "tag": alice.post("/api/2.0/mlflow/experiments/set-experiment-tag",
                              json={"experiment_id": exp, "key": "k", "value": "v"}).status_code,
        }  # fmt: skip

    out = {"call": alice.post("/gateway/mlflow/v1/chat/completions", json=chat).status_code, "alice": seen()}
    _as(monkeypatch, "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    auth = AuthServiceClient(url)
    out["grants"] = {
        kind: auth.get_user_permission("alice", kind, key).permission
        for kind, key in (("gateway_endpoint", endpoint.endpoint_id), ("experiment", exp))
    }
    auth.grant_user_permission("alice", "experiment", exp, "READ")
    out["granted_read"] = seen()
    return out


def test_endpoint_creator_gets_no_grant_on_its_tracking_experiment(tmp_path_factory, fake, monkeypatch):
    """As MLflow 3.17.2 (the same script against a real ``mlflow server``): the creator of an endpoint
    MANAGEs it, but the experiment created for its traces (``gateway/<name>``) is made by the server,
    not by a create-experiment request, and carries no grant for her. Under ``default_permission =
    NO_PERMISSIONS`` she can call her endpoint but not open its traces until she is granted the
    experiment (the default READ lets every user read them)."""
    from support.mlflow_server import start_mlflow_server, stop_mlflow_server

    def config(root) -> dict[str, str]:
        return {
            "MLFLOW_AUTH_CONFIG_PATH": str(write_basic_auth_ini(root, "NO_PERMISSIONS")),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "a-test-flask-secret-key-of-32-chars",
        }

    root = tmp_path_factory.mktemp("gateway-auth-mlflow")
    theirs = start_mlflow_server(root, "--app-name", "basic-auth", env={
        **config(root),
        "MLFLOW_CRYPTO_KEK_PASSPHRASE": "a-test-kek-passphrase",
        "MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES": "http,https",  # the loopback fake
        "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS": "true",
    })  # fmt: skip
    try:
        got = {"mlflow": _tracking_experiment_access(theirs.url, fake, monkeypatch)}
    finally:
        stop_mlflow_server(theirs)
    root = tmp_path_factory.mktemp("gateway-auth-mltrail")
    env = {**config(root), "MLTRAIL_SECRET_KEY": SERVER_KEY}
    ours = start_server(root, None, *LOOPBACK_HTTP, "--app-name", "basic-auth", env=env)
    try:
        got["mltrail"] = _tracking_experiment_access(ours.url, fake, monkeypatch)
    finally:
        stop_server(ours)
    assert got["mlflow"] == {
        "call": 200,
        "alice": {"endpoint": 200, "experiment": 403, "traces": 403, "tag": 403},
        "grants": {"gateway_endpoint": "MANAGE", "experiment": "NO_PERMISSIONS"},
        "granted_read": {"endpoint": 200, "experiment": 200, "traces": 200, "tag": 403},
    }
    assert got["mltrail"] == got["mlflow"]
