"""Registry webhooks against a live ``mltrail server``, driven by the official ``mlflow`` client.

A loopback receiver (``http.server`` in a thread) records what the server sends;
signatures are recomputed here with ``hmac`` from the secret, as a receiver would.
The server runs with ``LOOPBACK_HTTP`` (private targets and plain http allowed: the
receiver is http on 127.0.0.1) and a short retry backoff; one test starts a server
without ``--webhooks-allow-private`` to check the SSRF guard.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException

from mltrail.exceptions import MltrailException
from mltrail.store.secrets import SecretBox
from support.basic_auth import ADMIN, ADMIN_PASSWORD, PASSWORD, basic_auth_server
from support.live_server import LOOPBACK_HTTP, LiveServer, running_server, start_server, stop_server
from support.webhook_receiver import Receiver, signature_ok

SECRET = "whsec-do-not-leak-7d1f"
SERVER_KEY = "server-key-for-tests-0123456789"
MODEL_EVENTS = [
    "registered_model.created", "model_version.created", "model_version_tag.set", "model_version_tag.deleted",
    "model_version_alias.created", "model_version_alias.deleted",
]  # fmt: skip
PROMPT_EVENTS = ["prompt.created", "prompt_version.created", "prompt_tag.set", "prompt_alias.created"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    env = {"MLTRAIL_WEBHOOK_RETRY_BACKOFF": "0.05", "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES": "3",
           "MLTRAIL_SECRET_KEY": SERVER_KEY}  # fmt: skip
    srv = start_server(tmp_path_factory.mktemp("webhooks"), None, *LOOPBACK_HTTP, env=env)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(server: LiveServer) -> MlflowClient:
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def _deliveries(server: LiveServer, webhook_id: str) -> list[dict]:
    resp = httpx.get(f"{server.url}/api/2.0/mltrail/webhooks/{webhook_id}/deliveries")
    assert resp.status_code == 200, resp.text
    return resp.json().get("deliveries", [])


def _wait_deliveries(server: LiveServer, webhook_id: str, done: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while True:
        found = _deliveries(server, webhook_id)
        if sum(d["status"] != "PENDING" for d in found) >= done or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_crud_with_the_official_client(client: MlflowClient, receiver: Receiver) -> None:
    hook = client.create_webhook(
        "crud-hook", f"{receiver.url}/crud", ["model_version.created", "prompt_alias.deleted"],
        description="first", secret=SECRET,
    )  # fmt: skip
    assert hook.name == "crud-hook" and hook.description == "first" and hook.status == WebhookStatus.ACTIVE
    assert {str(e) for e in hook.events} == {"model_version.created", "prompt_alias.deleted"}
    assert hook.creation_timestamp > 0 and hook.secret is None
    got = client.get_webhook(hook.webhook_id)
    assert (got.webhook_id, got.url) == (hook.webhook_id, f"{receiver.url}/crud")

    second = client.create_webhook("crud-two", f"{receiver.url}/crud", ["registered_model.created"])
    page = client.list_webhooks(max_results=1)
    assert len(page) == 1 and page.token
    rest = client.list_webhooks(max_results=1000, page_token=page.token)
    ids = {w.webhook_id for w in page} | {w.webhook_id for w in rest}
    assert {hook.webhook_id, second.webhook_id} <= ids

    updated = client.update_webhook(
        hook.webhook_id, name="crud-renamed", status="DISABLED", events=["model_version_alias.created"]
    )
    assert updated.name == "crud-renamed" and updated.status == WebhookStatus.DISABLED
    assert [str(e) for e in updated.events] == ["model_version_alias.created"]
    assert updated.description == "first" and updated.last_updated_timestamp >= hook.last_updated_timestamp

    client.delete_webhook(second.webhook_id)
    with pytest.raises(MlflowException) as err:
        client.get_webhook(second.webhook_id)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert second.webhook_id not in {w.webhook_id for w in client.list_webhooks(max_results=1000)}


def test_registry_events_are_delivered_signed(
    client: MlflowClient, receiver: Receiver, server: LiveServer
) -> None:
    hook = client.create_webhook("model-events", f"{receiver.url}/models", MODEL_EVENTS, secret=SECRET)
    client.create_registered_model("wh-model", tags={"team": "a"}, description="d")
    mv = client.create_model_version("wh-model", "s3://bucket/model", tags={"k": "v"}, description="v1")
    client.set_model_version_tag("wh-model", mv.version, "stage", "qa")
    client.delete_model_version_tag("wh-model", mv.version, "stage")
    client.set_registered_model_alias("wh-model", "champion", mv.version)
    client.delete_registered_model_alias("wh-model", "champion")
    client.set_registered_model_tag("wh-model", "owner", "x")  # MLflow fires nothing for a model's own tag

    got = receiver.wait("/models", 6)
    by_event = {}
    for request in got:
        envelope = json.loads(request["body"])
        assert signature_ok(request, SECRET)
        assert request["headers"]["Content-Type"] == "application/json"
        assert set(envelope) == {"entity", "action", "timestamp", "data"}
        by_event[f"{envelope['entity']}.{envelope['action']}"] = envelope["data"]
    assert by_event == {
        "registered_model.created": {"name": "wh-model", "tags": {"team": "a"}, "description": "d"},
        "model_version.created": {
            "name": "wh-model", "version": "1", "source": "s3://bucket/model", "run_id": None,
            "tags": {"k": "v"}, "description": "v1",
        },
        "model_version_tag.set": {"name": "wh-model", "version": "1", "key": "stage", "value": "qa"},
        "model_version_tag.deleted": {"name": "wh-model", "version": "1", "key": "stage"},
        "model_version_alias.created": {"name": "wh-model", "alias": "champion", "version": "1"},
        "model_version_alias.deleted": {"name": "wh-model", "alias": "champion"},
    }  # fmt: skip
    log = _wait_deliveries(server, hook.webhook_id, 6)
    assert sorted(d["event"] for d in log) == sorted(MODEL_EVENTS)
    assert all(d["status"] == "SUCCEEDED" and d["attempts"] == 1 and d["response_status"] == 200 for d in log)
    time.sleep(0.3)
    assert len(receiver.requests["/models"]) == 6  # nothing for the registered model's own tag


def test_prompt_events(client: MlflowClient, receiver: Receiver, server: LiveServer) -> None:
    client.create_webhook("prompt-events", f"{receiver.url}/prompts", PROMPT_EVENTS)
    client.register_prompt("wh-prompt", "Hello {{name}}!", commit_message="first")
    client.set_prompt_alias("wh-prompt", "prod", 1)
    client.set_prompt_tag("wh-prompt", "lang", "en")
    expected_tag = {"name": "wh-prompt", "key": "lang", "value": "en"}
    deadline = time.monotonic() + 10
    while True:  # the client also tags the prompt with its experiment ids (a prompt_tag.set of its own)
        got = receiver.wait("/prompts", 4)
        by_event: dict[str, list[dict]] = defaultdict(list)
        for request in got:
            envelope = json.loads(request["body"])
            assert "X-MLflow-Signature" not in request["headers"]  # no secret, no signature
            by_event[f"{envelope['entity']}.{envelope['action']}"].append(envelope["data"])
        if expected_tag in by_event["prompt_tag.set"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert expected_tag in by_event["prompt_tag.set"]
    assert set(by_event) == set(PROMPT_EVENTS)
    by_event = {k: v[0] for k, v in by_event.items() if k != "prompt_tag.set"}
    assert by_event["prompt.created"]["name"] == "wh-prompt"
    assert "mlflow.prompt.is_prompt" not in by_event["prompt.created"]["tags"]
    created = by_event["prompt_version.created"]
    assert (created["name"], created["version"], created["template"]) == ("wh-prompt", "1", "Hello {{name}}!")
    assert "mlflow.prompt.text" not in created["tags"]
    assert by_event["prompt_alias.created"] == {"name": "wh-prompt", "alias": "prod", "version": "1"}


def test_retries_with_backoff_and_the_delivery_log(
    client: MlflowClient, receiver: Receiver, server: LiveServer
) -> None:
    receiver.plan["/flaky"] = [503, 502, 200]
    receiver.plan["/down"] = [500]
    receiver.plan["/gone"] = [404]
    hooks = {
        path: client.create_webhook(f"retry{path.replace('/', '-')}", f"{receiver.url}{path}", ["registered_model.created"])
        for path in ("/flaky", "/down", "/gone")
    }  # fmt: skip
    client.create_registered_model("retry-model")
    flaky = _wait_deliveries(server, hooks["/flaky"].webhook_id, 1)
    down = _wait_deliveries(server, hooks["/down"].webhook_id, 1)
    gone = _wait_deliveries(server, hooks["/gone"].webhook_id, 1)
    assert [(d["status"], d["attempts"], d["response_status"]) for d in flaky] == [("SUCCEEDED", 3, 200)]
    assert [(d["status"], d["attempts"], d["response_status"]) for d in down] == [("FAILED", 4, 500)]
    assert [(d["status"], d["attempts"], d["response_status"]) for d in gone] == [("FAILED", 1, 404)]
    assert (
        down[0]["error_message"] == "HTTP 500"
        and down[0]["completed_timestamp"] >= down[0]["created_timestamp"]
    )
    # A retry resends the same delivery: same id, same bytes, same signature input.
    sent = receiver.requests["/flaky"]
    assert len(sent) == 3 and len({r["headers"]["X-MLflow-Delivery-Id"] for r in sent}) == 1
    assert len({r["body"] for r in sent}) == 1
    assert len(receiver.requests["/down"]) == 4 and len(receiver.requests["/gone"]) == 1


def test_disabled_webhook_gets_nothing(client: MlflowClient, receiver: Receiver, server: LiveServer) -> None:
    hook = client.create_webhook(
        "disabled", f"{receiver.url}/disabled", ["registered_model.created"], status=WebhookStatus.DISABLED
    )
    live = client.create_webhook("enabled", f"{receiver.url}/enabled", ["registered_model.created"])
    client.create_registered_model("disabled-check")
    receiver.wait("/enabled", 1)
    _wait_deliveries(server, live.webhook_id, 1)
    assert receiver.requests["/disabled"] == [] and _deliveries(server, hook.webhook_id) == []


def test_test_webhook_sends_mlflows_example(client: MlflowClient, receiver: Receiver) -> None:
    hook = client.create_webhook(
        "tester", f"{receiver.url}/test", ["model_version_alias.created"], secret=SECRET
    )
    result = client.test_webhook(hook.webhook_id)
    assert result.success and result.response_status == 200 and result.response_body == "got it (200)"
    request = receiver.wait("/test", 1)[0]
    assert signature_ok(request, SECRET)
    assert json.loads(request["body"])["data"] == {
        "name": "example_model",
        "alias": "example_alias",
        "version": "1",
    }
    result = client.test_webhook(hook.webhook_id, event=WebhookEvent.from_str("prompt_version.created"))
    assert json.loads(receiver.wait("/test", 2)[1]["body"])["data"]["template"] == "Hello {{name}}!"

    receiver.plan["/test-fail"] = [500]
    failing = client.create_webhook("tester-fail", f"{receiver.url}/test-fail", ["registered_model.created"])
    result = client.test_webhook(failing.webhook_id)
    assert not result.success and result.response_status == 500
    unreachable = client.create_webhook("tester-none", "http://127.0.0.1:9/", ["registered_model.created"])
    result = client.test_webhook(unreachable.webhook_id)
    assert (
        not result.success
        and result.response_status is None
        and "Failed to test webhook" in result.error_message
    )


def test_secret_is_write_only_and_encrypted_at_rest(
    client: MlflowClient, receiver: Receiver, server: LiveServer
) -> None:
    hook = client.create_webhook(
        "secretive", f"{receiver.url}/s", ["registered_model.created"], secret=SECRET
    )
    api = f"{server.url}/api/2.0/mlflow/webhooks"
    answers = [
        httpx.get(f"{api}/{hook.webhook_id}").text,
        httpx.get(api, params={"max_results": 1000}).text,
        httpx.patch(f"{api}/{hook.webhook_id}", json={"secret": SECRET + "2", "description": "x"}).text,
    ]
    for text in answers:
        assert SECRET not in text and '"secret"' not in text
    client.test_webhook(hook.webhook_id)  # signed with the updated secret
    assert signature_ok(receiver.wait("/s", 1)[0], SECRET + "2")
    db = sqlite3.connect(server.root / "mltrail.db")
    try:
        (stored,) = db.execute(
            "SELECT secret FROM webhooks WHERE webhook_id = ?", (hook.webhook_id,)
        ).fetchone()
    finally:
        db.close()
    assert stored.startswith("enc:v1:") and SECRET not in stored
    assert SECRET not in server.log.read_text(errors="replace")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "-bad", "url": "http://127.0.0.1/", "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}, "name"),
        ({"name": "ok", "url": "ftp://127.0.0.1/", "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}, "scheme"),
        ({"name": "ok", "url": "http://127.0.0.1/", "events": [{"entity": "MODEL_VERSION", "action": "SET"}]}, "action"),
        ({"name": "ok", "url": "http://127.0.0.1/", "events": []}, "events"),
        ({"name": "ok", "url": "http://127.0.0.1/", "events": [{"entity": "NOPE", "action": "CREATED"}]}, "entity"),
        ({"name": "ok", "url": "http://127.0.0.1/", "events": [{"entity": "PROMPT", "action": "CREATED"}],
          "status": "PAUSED"}, "status"),
        ({"name": "ok", "url": "http://u:p@127.0.0.1/", "events": [{"entity": "PROMPT", "action": "CREATED"}]}, "credentials"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400(server: LiveServer, body: dict, needle: str) -> None:
    before = httpx.get(f"{server.url}/api/2.0/mlflow/webhooks", params={"max_results": 1000}).json()
    resp = httpx.post(f"{server.url}/api/2.0/mlflow/webhooks", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE" and needle in resp.json()["message"]
    assert httpx.get(f"{server.url}/api/2.0/mlflow/webhooks", params={"max_results": 1000}).json() == before


def test_unknown_webhook_is_a_404(server: LiveServer) -> None:
    base = f"{server.url}/api/2.0/mlflow/webhooks/no-such-id"
    for method, url in [("GET", base), ("PATCH", base), ("DELETE", base), ("POST", f"{base}/test"),
                        ("GET", f"{server.url}/api/2.0/mltrail/webhooks/no-such-id/deliveries")]:  # fmt: skip
        resp = httpx.request(method, url, json={} if method in ("PATCH", "POST") else None)
        assert resp.status_code == 404, (method, url, resp.text)
        assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_openapi_lists_the_webhook_routes(server: LiveServer) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/2.0/mlflow/webhooks"])
    assert {"get", "patch", "delete"} <= set(paths["/api/2.0/mlflow/webhooks/{webhook_id}"])
    assert "post" in paths["/api/2.0/mlflow/webhooks/{webhook_id}/test"]
    assert "get" in paths["/api/2.0/mltrail/webhooks/{webhook_id}/deliveries"]


def test_private_targets_refused_without_the_flag_and_admins_only(tmp_path, monkeypatch) -> None:
    """A server without --webhooks-allow-private, with logins on: the SSRF guard, and MLflow's admin-only rule.

    Plain http is allowed here, so the http URLs below are refused for their address (MLflow's default,
    https only, is tested in test_url_schemes.py).
    """
    refused = [
        "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/hook", "http://169.254.169.254/latest",
        "http://10.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://0177.0.0.1/", "http://2130706433/",
        "http://127.1/", "https://127.0.0.1/hook", "file:///etc/passwd", "gopher://127.0.0.1/",
    ]  # fmt: skip
    with basic_auth_server(
        tmp_path, "--webhooks-allowed-schemes", "http,https", users=("alice",), default_permission="MANAGE"
    ) as srv:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
        client = MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
        for url in refused:
            with pytest.raises(MlflowException) as err:
                client.create_webhook("ssrf", url, ["registered_model.created"])
            assert err.value.error_code == "INVALID_PARAMETER_VALUE", url
        ok = client.create_webhook("public", "https://93.184.215.14/hook", ["registered_model.created"])
        with pytest.raises(MlflowException):
            client.update_webhook(ok.webhook_id, url="http://127.0.0.1/")
        assert client.get_webhook(ok.webhook_id).url == "https://93.184.215.14/hook"

        admin = httpx.Client(base_url=srv.url, auth=(ADMIN, ADMIN_PASSWORD))
        alice = httpx.Client(base_url=srv.url, auth=("alice", PASSWORD))
        one = f"/api/2.0/mlflow/webhooks/{ok.webhook_id}"
        for method, path in [("GET", "/api/2.0/mlflow/webhooks"), ("POST", "/api/2.0/mlflow/webhooks"),
                             ("GET", one), ("PATCH", one), ("DELETE", one), ("POST", f"{one}/test"),
                             ("GET", f"/api/2.0/mltrail/webhooks/{ok.webhook_id}/deliveries")]:  # fmt: skip
            resp = alice.request(method, path, json={} if method in ("POST", "PATCH") else None)
            assert resp.status_code == 403 and resp.json()["error_code"] == "PERMISSION_DENIED", (
                method,
                path,
            )
        assert (
            admin.get(one).json()["webhook"]["url"] == "https://93.184.215.14/hook"
        )  # alice changed nothing
        admin.close()
        alice.close()


def test_secret_box_seals_and_refuses_the_wrong_key() -> None:
    box = SecretBox(SERVER_KEY)
    sealed = box.seal(SECRET)
    assert sealed != box.seal(SECRET) and sealed.startswith("enc:v1:") and SECRET not in sealed
    assert box.open(sealed) == SECRET and SecretBox(None).open(SECRET) == SECRET
    for other in (SecretBox(SERVER_KEY + "x"), SecretBox(None)):
        with pytest.raises(MltrailException):
            other.open(sealed)
    with pytest.raises(MltrailException):
        SecretBox("short")


def test_secret_sealed_with_another_key_is_never_sent_unsigned(
    client: MlflowClient, receiver: Receiver, server: LiveServer
) -> None:
    hook = client.create_webhook(
        "badkey", f"{receiver.url}/badkey", ["registered_model.created"], secret=SECRET
    )
    db = sqlite3.connect(server.root / "mltrail.db")
    try:
        sealed = SecretBox("another-server-key-0123456789").seal(SECRET)
        db.execute("UPDATE webhooks SET secret = ? WHERE webhook_id = ?", (sealed, hook.webhook_id))
        db.commit()
    finally:
        db.close()
    client.create_registered_model("badkey-model")
    (delivery,) = _wait_deliveries(server, hook.webhook_id, 1)
    assert delivery["status"] == "FAILED" and delivery["attempts"] == 0
    assert "cannot be decrypted" in delivery["error_message"]
    assert receiver.requests["/badkey"] == []
    result = client.test_webhook(hook.webhook_id)  # the test endpoint says so too, and sends nothing
    assert receiver.requests["/badkey"] == [] and not result.success
    assert "cannot be decrypted" in result.error_message


def test_a_delivery_refused_by_the_url_check_fails_at_once(tmp_path, receiver: Receiver, monkeypatch) -> None:
    """A webhook saved while its target was allowed, on a server that refuses it (its address, then its
    scheme): the delivery ends FAILED after one attempt, nothing sent, with MLflow's message; MLflow's
    ``_validate_webhook_url`` raises before its retrying session is used, so it is not retried either.
    The backoff is a minute here: a retry would leave the delivery PENDING."""
    from mlflow.utils.validation import _validate_webhook_url

    url = f"{receiver.url}/refused"
    with running_server(tmp_path, None, *LOOPBACK_HTTP) as opened:
        hook = MlflowClient(tracking_uri=opened.url, registry_uri=opened.url).create_webhook(
            "refused-later", url, ["registered_model.created"]
        )
    env = {"MLTRAIL_WEBHOOK_RETRY_BACKOFF": "60", "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES": "3"}
    closed_by = {
        "address": ("--webhooks-allowed-schemes", "http,https"),
        "scheme": ("--webhooks-allow-private",),
    }
    for done, (why, options) in enumerate(closed_by.items(), 1):
        # What MLflow's own check says under the same settings.
        monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https" if why == "address" else "https")
        monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "false" if why == "address" else "true")
        with pytest.raises(MlflowException) as mlflow_says:
            _validate_webhook_url(url)
        with running_server(tmp_path, None, *options, env=env) as closed:
            MlflowClient(tracking_uri=closed.url, registry_uri=closed.url).create_registered_model(f"m-{why}")
            found = _wait_deliveries(closed, hook.webhook_id, done)
        latest = max(found, key=lambda d: d["created_timestamp"])
        outcome = (latest["status"], latest["attempts"], latest.get("response_status"))
        assert outcome == ("FAILED", 1, None), why
        assert latest["error_message"] == mlflow_says.value.message, why
        assert "next_attempt_timestamp" not in latest, why
    assert receiver.requests["/refused"] == []
