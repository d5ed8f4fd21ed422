"""mltrail's client webhook methods against the official client's (MLflow 3.17's signatures and entities).

One ``mltrail server`` (``LOOPBACK_HTTP``: the receiver is plain http on 127.0.0.1)
is shared by the module; the official ``mlflow.MlflowClient`` and mltrail's
client call it side by side and must see the same webhooks. The embedded case
runs mltrail's client on a SQLite file.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from mltrail.entities.webhook import Webhook, WebhookEvent, WebhookTestResult
from mltrail.exceptions import MltrailException
from mltrail.tracking import MlflowClient
from support.live_server import LOOPBACK_HTTP, LiveServer, start_server, stop_server

METHODS = [
    "create_webhook",
    "get_webhook",
    "list_webhooks",
    "update_webhook",
    "delete_webhook",
    "test_webhook",
]


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    got: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b"accepted")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", got
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("client_webhooks"), None, *LOOPBACK_HTTP)
    yield srv
    stop_server(srv)


def _fields(hook: object) -> dict:
    status = hook.status
    return {
        "webhook_id": hook.webhook_id, "name": hook.name, "url": hook.url, "description": hook.description,
        "status": str(getattr(status, "value", status)), "creation_timestamp": hook.creation_timestamp,
        "last_updated_timestamp": hook.last_updated_timestamp,
        "events": sorted(f"{getattr(e.entity, 'value', e.entity)}.{getattr(e.action, 'value', e.action)}"
                         for e in hook.events),
    }  # fmt: skip


def test_signatures_match_the_official_client() -> None:
    for name in METHODS:
        ours = inspect.signature(getattr(MlflowClient, name))
        theirs = inspect.signature(getattr(mlflow.MlflowClient, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        assert [p.default for p in ours.parameters.values()] == [
            p.default for p in theirs.parameters.values()
        ]


def test_rest_round_trip_matches_the_official_client(server: LiveServer, receiver) -> None:
    url, got = receiver
    ours, theirs = MlflowClient(server.url), mlflow.MlflowClient(server.url)

    made = ours.create_webhook("ci", url, ["model_version.created", WebhookEvent("registered_model", "created")],
                               description="d", secret="s3cret-value")  # fmt: skip
    assert isinstance(made, Webhook) and made.status == "ACTIVE" and made.secret is None
    assert _fields(theirs.get_webhook(made.webhook_id)) == _fields(made)

    other = theirs.create_webhook("cd", url, ["prompt.created"], status="DISABLED")
    assert _fields(ours.get_webhook(other.webhook_id)) == _fields(other)

    ours_page, theirs_page = ours.list_webhooks(max_results=1), theirs.list_webhooks(max_results=1)
    assert [_fields(h) for h in ours_page] == [_fields(h) for h in theirs_page]
    assert ours_page.token and ours_page.token == theirs_page.token
    assert {h.webhook_id for h in ours.list_webhooks(page_token=ours_page.token)} | {ours_page[0].webhook_id} == {
        made.webhook_id, other.webhook_id}  # fmt: skip

    changed = ours.update_webhook(
        made.webhook_id, name="ci-2", events=["model_version_tag.set"], status="DISABLED"
    )
    assert (changed.name, changed.status, [str(e) for e in changed.events]) == (
        "ci-2", "DISABLED", ["model_version_tag.set"])  # fmt: skip
    assert _fields(theirs.get_webhook(made.webhook_id)) == _fields(changed)

    result = ours.test_webhook(made.webhook_id, "model_version_tag.set")
    official = theirs.test_webhook(made.webhook_id, "model_version_tag.set")
    assert isinstance(result, WebhookTestResult)
    assert (result.success, result.response_status, result.response_body, result.error_message) == (
        official.success, official.response_status, official.response_body, official.error_message)  # fmt: skip
    assert (result.success, result.response_status, result.response_body) == (True, 202, "accepted")
    assert len(got) == 2 and b"model_version_tag" in got[0]

    ours.delete_webhook(made.webhook_id)
    theirs.delete_webhook(other.webhook_id)
    with pytest.raises(MltrailException) as mine:
        ours.get_webhook(made.webhook_id)
    with pytest.raises(MlflowException) as official_err:
        theirs.get_webhook(made.webhook_id)
    assert mine.value.error_code == official_err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_bad_input_is_refused_like_the_official_client(server: LiveServer) -> None:
    ours, theirs = MlflowClient(server.url), mlflow.MlflowClient(server.url)
    for call in (lambda c: c.create_webhook("x", "http://127.0.0.1:1/h", ["model_version.exploded"]),
                 lambda c: c.create_webhook("x", "ftp://example.com/h", ["model_version.created"])):  # fmt: skip
        with pytest.raises(MltrailException) as mine:
            call(ours)
        with pytest.raises(MlflowException) as official:
            call(theirs)
        assert mine.value.error_code == official.value.error_code == "INVALID_PARAMETER_VALUE"


def test_embedded_store(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'hooks.db'}"
    client = MlflowClient(uri)
    made = client.create_webhook("local", "https://ci.example.com/hook", ["model_version.created"])
    assert made.secret is None and client.get_webhook(made.webhook_id).name == "local"
    assert [h.webhook_id for h in client.list_webhooks()] == [made.webhook_id]
    assert client.update_webhook(made.webhook_id, description="now described").description == "now described"
    with pytest.raises(MltrailException, match="http"):
        client.create_webhook("bad", "file:///etc/passwd", ["model_version.created"])
    with pytest.raises(MltrailException, match="tracking server"):
        client.test_webhook(made.webhook_id)
    client.delete_webhook(made.webhook_id)
    assert list(client.list_webhooks()) == []


def test_embedded_store_allows_mlflows_schemes(tmp_path, monkeypatch) -> None:
    """Written straight to the database, a URL meets MLflow's scheme rule as MLflow's own store applies it:
    ``https`` unless ``MLFLOW_WEBHOOK_ALLOWED_SCHEMES`` says otherwise, with MLflow's message."""
    from mlflow.utils.validation import _validate_webhook_url

    monkeypatch.delenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", raising=False)
    client = MlflowClient(f"sqlite:///{tmp_path / 'hooks.db'}")
    url = "http://ci.example.com/hook"
    with pytest.raises(MlflowException) as official:
        _validate_webhook_url(url)
    with pytest.raises(MltrailException) as mine:
        client.create_webhook("plain", url, ["model_version.created"])
    assert mine.value.error_code == official.value.error_code == "INVALID_PARAMETER_VALUE"
    assert mine.value.message == official.value.message
    made = client.create_webhook("tls", "https://ci.example.com/hook", ["model_version.created"])
    with pytest.raises(MltrailException, match="scheme: 'http'"):
        client.update_webhook(made.webhook_id, url=url)

    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
    assert client.update_webhook(made.webhook_id, url=url).url == url
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "ftp")
    with pytest.raises(MltrailException, match="MLFLOW_WEBHOOK_ALLOWED_SCHEMES"):
        client.create_webhook("odd", "ftp://ci.example.com/hook", ["model_version.created"])
