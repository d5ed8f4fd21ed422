"""Webhook deliveries survive a server restart and are sent by one server only.

* Two real ``mltrail server`` processes, one after the other, on one SQLite file:
  the receiver answers the first attempt 503, the first server is stopped during
  the backoff, and the second server sends the retry (same delivery id, timestamp,
  body and signature). The webhook is written by mltrail's client straight to the
  database, sealed with the servers' key (``MLTRAIL_SECRET_KEY``), so this also
  shows that a server opens what the embedded client sealed.
* Four dispatchers (four "servers") on one database resume the same due delivery at
  once: the atomic claim lets one of them send it (the claim itself is tested on every
  backend, with concurrent claimers, in tests/store/test_webhook_store.py).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid

import httpx
import pytest
from mlflow import MlflowClient as OfficialClient

from mltrail.entities.webhook import WebhookEvent
from mltrail.server.webhook_dispatcher import WebhookDispatcher
from mltrail.store.secrets import SecretBox
from mltrail.store.sql.webhooks import SqlWebhookStore
from mltrail.tracking import MlflowClient
from support.live_server import LOOPBACK_HTTP, LiveServer, start_server, stop_server
from support.webhook_receiver import Receiver, headers_of, signature_ok

SECRET = "whsec-resume-4b1e"
SERVER_KEY = "resume-test-server-key-0123456789"
BACKOFF_S = 2.5
MODEL_CREATED = WebhookEvent("registered_model", "created")
SERVER_ENV = {"MLTRAIL_SECRET_KEY": SERVER_KEY, "MLTRAIL_WEBHOOK_RETRY_BACKOFF": str(BACKOFF_S),
              "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES": "3"}  # fmt: skip


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver()
    yield rec
    rec.close()


def _deliveries(server: LiveServer, webhook_id: str) -> list[dict]:
    resp = httpx.get(f"{server.url}/api/2.0/mltrail/webhooks/{webhook_id}/deliveries")
    assert resp.status_code == 200, resp.text
    return resp.json().get("deliveries", [])


def _wait_for(server: LiveServer, webhook_id: str, ready, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = _deliveries(server, webhook_id)
        if len(found) == 1 and ready(found[0]):
            return found[0]
        assert time.monotonic() < deadline, found
        time.sleep(0.03)


def test_pending_delivery_is_resumed_by_the_next_server(tmp_path, monkeypatch, receiver: Receiver) -> None:
    db_path = tmp_path / "one" / "mltrail.db"
    db_path.parent.mkdir()
    uri = f"sqlite:///{db_path}"
    # The embedded client seals the secret with the key the servers use.
    monkeypatch.setenv("MLTRAIL_SECRET_KEY", SERVER_KEY)
    # The receiver is plain http: allowed as in MLflow's embedded store (its servers: LOOPBACK_HTTP).
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
    hook = MlflowClient(uri).create_webhook(
        "resumed", f"{receiver.url}/resume", ["registered_model.created"], secret=SECRET
    )
    with sqlite3.connect(db_path) as db:
        (stored,) = db.execute(
            "SELECT secret FROM webhooks WHERE webhook_id = ?", (hook.webhook_id,)
        ).fetchone()
    assert stored.startswith("enc:v1:") and SECRET not in stored
    receiver.plan["/resume"] = [503, 200]

    first = start_server(tmp_path / "one", uri, *LOOPBACK_HTTP, env=SERVER_ENV)
    try:
        OfficialClient(first.url, registry_uri=first.url).create_registered_model("resume-model")
        receiver.wait("/resume", 1)
        pending = _wait_for(first, hook.webhook_id, lambda d: d.get("attempts") == 1)
    finally:
        stop_server(first)  # during the backoff: the retry is due BACKOFF_S after the 503
    assert pending["status"] == "PENDING" and pending["response_status"] == 503
    assert pending["next_attempt_timestamp"] >= pending["last_attempt_timestamp"]
    assert len(receiver.requests["/resume"]) == 1

    second = start_server(tmp_path / "two", uri, *LOOPBACK_HTTP, env=SERVER_ENV)
    try:
        one, two = receiver.wait("/resume", 2, timeout=BACKOFF_S + 10)
        done = _wait_for(second, hook.webhook_id, lambda d: d["status"] != "PENDING")
        time.sleep(0.3)  # nothing more arrives
        assert len(receiver.requests["/resume"]) == 2
    finally:
        stop_server(second)
    h1, h2 = headers_of(one), headers_of(two)
    for name in ("x-mlflow-delivery-id", "x-mlflow-timestamp", "x-mlflow-signature"):
        assert h1[name] == h2[name], name
    assert one["body"] == two["body"] and signature_ok(two, SECRET)
    assert h2["x-mlflow-delivery-id"] == done["delivery_id"] == pending["delivery_id"]
    assert json.loads(two["body"])["data"]["name"] == "resume-model"
    assert done["status"] == "SUCCEEDED" and done["attempts"] == 2 and done["response_status"] == 200
    assert "next_attempt_timestamp" not in done and "error_message" not in done
    with sqlite3.connect(db_path) as db:  # a finished delivery keeps no body
        row = db.execute(
            "SELECT payload, claimed_until FROM webhook_deliveries WHERE delivery_id = ?",
            (done["delivery_id"],),
        ).fetchone()
    assert row == (None, None)


def test_two_servers_send_a_due_delivery_once(tmp_path, receiver: Receiver) -> None:
    store = SqlWebhookStore(f"sqlite:///{tmp_path / 'mltrail.db'}")
    box = SecretBox(SERVER_KEY)
    path = f"/once-{uuid.uuid4().hex[:8]}"
    hook = store.create_webhook(
        f"once-{uuid.uuid4().hex[:8]}", receiver.url + path, [MODEL_CREATED], secret=box.seal(SECRET)
    )
    delivery_id, body = str(uuid.uuid4()), '{"entity": "registered_model", "action": "created", "data": {}}'
    store.create_delivery(delivery_id, hook.webhook_id, "registered_model.created", body, 1_700_000_000)

    servers = [
        WebhookDispatcher(
            lambda: store, box.open, allow_private=True, backoff=0.05, schemes=("http", "https")
        )
        for _ in range(4)
    ]
    try:
        start = threading.Barrier(len(servers))

        def resume(dispatcher: WebhookDispatcher) -> None:
            start.wait()
            dispatcher.resume()

        threads = [threading.Thread(target=resume, args=(d,)) for d in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        (request,) = receiver.wait(path, 1)
        deadline = time.monotonic() + 10
        while (found := store.list_deliveries(hook.webhook_id)[0]).status == "PENDING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)
    finally:
        for d in servers:
            d.close()
    assert len(receiver.requests[path]) == 1
    h = headers_of(request)
    assert h["x-mlflow-delivery-id"] == delivery_id and h["x-mlflow-timestamp"] == "1700000000"
    assert request["body"].decode() == body and signature_ok(request, SECRET)
    assert (found.status, found.attempts, found.response_status) == ("SUCCEEDED", 1, 200)
