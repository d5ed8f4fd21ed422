"""Gateway answers hide what a caller is denied, as MLflow 3.17's ``basic-auth`` app redacts them.

One server with logins (``default_permission = READ``), two users. Alice builds an
endpoint on two model definitions; the admin then DENIES Bob one definition and the
other definition's secret. Bob still reads the endpoint (READ by default), but its
answers (get, list, as raw JSON and through the official client) no longer carry
the denied definition nor the denied secret's id and name; Alice and the admin see
everything. ``secrets/config`` keeps the passphrase posture for admins.
"""

from __future__ import annotations

import httpx
import pytest

from support.basic_auth import ADMIN_PASSWORD, PASSWORD, basic_auth_server
from support.gateway_kit import SERVER_KEY
from support.live_server import LOOPBACK_HTTP

API = "/api/3.0/mlflow/gateway"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Logins (``support.basic_auth``: READ by default, users alice and bob), a key for gateway secrets."""
    root = tmp_path_factory.mktemp("gateway-redaction")
    with basic_auth_server(root, *LOOPBACK_HTTP, env={"MLTRAIL_SECRET_KEY": SERVER_KEY}) as live:
        yield live


def _mappings(client: httpx.Client, name: str) -> list[dict]:
    got = client.get(API + "/endpoints/get", params={"name": name})
    assert got.status_code == 200, got.text
    listed = client.get(API + "/endpoints/list").json()["endpoints"]
    [same] = [e for e in listed if e["name"] == name]
    assert same["model_mappings"] == got.json()["endpoint"]["model_mappings"]  # list and get agree
    return got.json()["endpoint"]["model_mappings"]


def test_denied_definitions_and_secrets_are_withheld_from_answers(server, monkeypatch):
    from mlflow.server.auth.client import AuthServiceClient
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.credentials import get_default_host_creds

    alice = httpx.Client(base_url=server.url, auth=("alice", PASSWORD))
    bob = httpx.Client(base_url=server.url, auth=("bob", PASSWORD))
    admin = httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD))
    ids = {}
    for name in ("one", "two"):
        secret = alice.post(
            API + "/secrets/create",
            json={"secret_name": f"{name}-key", "secret_value": {"api_key": f"sk-{name}-0123456789"},
                  "provider": "anthropic"},
        ).json()["secret"]  # fmt: skip
        definition = alice.post(
            API + "/model-definitions/create",
            json={"name": f"{name}-model", "secret_id": secret["secret_id"], "provider": "anthropic",
                  "model_name": "claude-3-5-haiku"},
        ).json()["model_definition"]  # fmt: skip
        ids[name] = (secret["secret_id"], definition["model_definition_id"])
    created = alice.post(
        API + "/endpoints/create",
        json={"name": "chat", "model_configs": [
            {"model_definition_id": ids["one"][1], "linkage_type": "PRIMARY"},
            {"model_definition_id": ids["two"][1], "linkage_type": "FALLBACK", "fallback_order": 1}]},
    )  # fmt: skip
    assert created.status_code == 200, created.text

    # Before any DENY, Bob (READ by default) sees the whole endpoint, as Alice does.
    full = _mappings(alice, "chat")
    assert [m["model_definition"]["secret_name"] for m in full] == ["one-key", "two-key"]
    assert _mappings(bob, "chat") == full

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    auth = AuthServiceClient(server.url)
    auth.grant_user_permission("bob", "gateway_model_definition", ids["one"][1], "DENY")
    auth.grant_user_permission("bob", "gateway_secret", ids["two"][0], "DENY")

    withheld = _mappings(bob, "chat")
    ajax = bob.get("/ajax-api/3.0/mlflow/gateway/endpoints/get", params={"name": "chat"})  # the UI's path
    assert ajax.json()["endpoint"]["model_mappings"] == withheld
    assert "model_definition" not in withheld[0] and "model_definition_id" not in withheld[0]
    assert withheld[0]["linkage_type"] == "PRIMARY" and withheld[0]["mapping_id"] == full[0]["mapping_id"]
    second = withheld[1]["model_definition"]
    assert "secret_id" not in second and "secret_name" not in second
    assert second["name"] == "two-model" and withheld[1]["model_definition_id"] == ids["two"][1]
    definition = bob.get(API + "/model-definitions/get", params={"model_definition_id": ids["two"][1]})
    assert definition.status_code == 200 and "secret_id" not in definition.json()["model_definition"]
    listed = {d["name"]: d for d in bob.get(API + "/model-definitions/list").json()["model_definitions"]}
    assert "one-model" not in listed  # denied: not readable, so not listed (as before)
    assert "secret_name" not in listed["two-model"] and "secret_id" not in listed["two-model"]

    # The official client parses the redacted answer: the mapping simply has no definition.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    endpoint = RestStore(lambda: get_default_host_creds(server.url)).get_gateway_endpoint(name="chat")
    assert endpoint.model_mappings[0].model_definition is None
    assert endpoint.model_mappings[1].model_definition.secret_id in (None, "")

    # Alice (MANAGE on all of it) and the admin still see everything.
    assert _mappings(alice, "chat") == full
    assert _mappings(admin, "chat") == full
    assert (
        admin.get(API + "/model-definitions/get", params={"model_definition_id": ids["two"][1]}).json()[
            "model_definition"
        ]["secret_name"]
        == "two-key"
    )

    # The secrets' passphrase posture is the admins' to know (MLflow's redact_secrets_config_for_non_admins).
    config = "/ajax-api/3.0/mlflow/gateway/secrets/config"
    assert "using_default_passphrase" in admin.get(config).json()
    assert bob.get(config).json() == {"secrets_available": True}
    for client in (alice, bob, admin):
        client.close()
