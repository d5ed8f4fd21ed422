"""Which URL schemes webhooks and the AI gateway's ``api_base`` may use: MLflow 3.17.2's defaults.

MLflow allows ``https`` alone for both unless ``MLFLOW_WEBHOOK_ALLOWED_SCHEMES`` /
``MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES`` say otherwise; ``mltrail server`` reads the same
variables (and has them as ``--webhooks-allowed-schemes`` / ``--gateway-api-base-allowed-schemes``).
Every server here runs with ``--webhooks-allow-private`` (the receiver and the OpenAI fake are on
127.0.0.1), so a refusal is the scheme's alone. The messages are compared with the ones MLflow's own
validators raise, called in this process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mltrail.cli.main import cli
from support.gateway_kit import chat_endpoints, official_store
from support.live_server import LiveServer, running_server, start_server, stop_server
from support.openai_server import OpenAIServer
from support.webhook_receiver import Receiver

SERVER_KEY = "a-test-server-key-of-32-characters!"
EVENT = "registered_model.created"
#: MLflow's variables, as a user would set them to let plain http through.
HTTP_TOO = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES": "http,https",
}
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def _mlflow_message(validate, url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """What MLflow's validator says about ``url`` under its defaults (no scheme variable set)."""
    monkeypatch.delenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", raising=False)
    monkeypatch.delenv("MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES", raising=False)
    with pytest.raises(MlflowException) as err:
        validate(url)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    return err.value.message


def _refused(err: MlflowException, expected: str) -> None:
    """The official client's exception for a 400 saying ``expected`` (it puts the code in front)."""
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.message == f"INVALID_PARAMETER_VALUE: {expected}"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def fake() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with MLflow's default schemes (private targets allowed)."""
    env = {"MLTRAIL_SECRET_KEY": SERVER_KEY}
    live = start_server(tmp_path_factory.mktemp("schemes-strict"), None, "--webhooks-allow-private", env=env)
    yield live
    stop_server(live)


def test_webhooks_refuse_http_by_default_as_mlflow_does(
    strict: LiveServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.utils.validation import _validate_webhook_url

    url = f"{receiver.url}/strict"
    expected = _mlflow_message(_validate_webhook_url, url, monkeypatch)
    assert expected == "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."
    client = MlflowClient(tracking_uri=strict.url, registry_uri=strict.url)
    with pytest.raises(MlflowException) as err:
        client.create_webhook("plain", url, [EVENT])
    _refused(err.value, expected)
    assert all(h.name != "plain" for h in client.list_webhooks(max_results=1000))

    # https is fine (the private-address guard is open on this server); switching it to http is not
    hook = client.create_webhook("tls", "https://127.0.0.1:9/hook", [EVENT])
    with pytest.raises(MlflowException) as err:
        client.update_webhook(hook.webhook_id, url=url)
    _refused(err.value, expected)
    assert client.get_webhook(hook.webhook_id).url == "https://127.0.0.1:9/hook"
    raw = httpx.post(
        f"{strict.url}/api/2.0/mlflow/webhooks",
        json={"name": "raw", "url": url, "events": [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]},
    )
    assert raw.status_code == 400 and raw.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": expected,
    }
    client.delete_webhook(hook.webhook_id)
    assert receiver.requests["/strict"] == []


def test_gateway_api_base_refuses_http_by_default_as_mlflow_does(
    strict: LiveServer, fake: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.utils.validation import _validate_gateway_api_base

    expected = _mlflow_message(_validate_gateway_api_base, fake.base_url, monkeypatch)
    assert expected == "Invalid Gateway secret api_base scheme: 'http'. Allowed schemes are: 'https'."
    store = official_store(strict.url)
    with pytest.raises(MlflowException) as err:
        store.create_gateway_secret(
            "plain-key",
            {"api_key": "sk-0123456789"},
            provider="openai",
            auth_config={"api_base": fake.base_url},
        )
    _refused(err.value, expected)

    made = store.create_gateway_secret(
        "tls-key", {"api_key": "sk-0123456789"}, provider="openai",
        auth_config={"api_base": "https://127.0.0.1:9/v1"},
    )  # fmt: skip
    with pytest.raises(MlflowException) as err:
        store.update_gateway_secret(made.secret_id, auth_config={"api_base": fake.base_url})
    _refused(err.value, expected)
    assert store.get_secret_info(secret_id=made.secret_id).auth_config == {
        "api_base": "https://127.0.0.1:9/v1"
    }


def _deliveries(server: LiveServer, webhook_id: str, done: int) -> list[dict]:
    """The webhook's delivery log once ``done`` deliveries have finished (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        resp = httpx.get(f"{server.url}/api/2.0/mltrail/webhooks/{webhook_id}/deliveries")
        assert resp.status_code == 200, resp.text
        found = resp.json().get("deliveries", [])
        if sum(d["status"] != "PENDING" for d in found) >= done or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_the_variables_open_http_and_stored_http_targets_are_refused_once_closed(
    tmp_path: Path, receiver: Receiver, fake: OpenAIServer
) -> None:
    """Saved and sent while MLflow's variables allow http; on the same database, a server with the
    defaults sends nothing over http: not the stored webhook, not to the stored api_base."""
    env = {"MLTRAIL_SECRET_KEY": SERVER_KEY, "MLTRAIL_WEBHOOK_RETRY_BACKOFF": "0.05"}
    path = "/opened"
    with running_server(tmp_path, None, "--webhooks-allow-private", env={**env, **HTTP_TOO}) as opened:
        client = MlflowClient(tracking_uri=opened.url, registry_uri=opened.url)
        hook = client.create_webhook("plain", receiver.url + path, [EVENT], secret="whsec-123")
        client.create_registered_model("sent-over-http")
        assert receiver.wait(path, 1)[0]["body"]
        assert [d["status"] for d in _deliveries(opened, hook.webhook_id, 1)] == ["SUCCEEDED"]
        chat_endpoints(official_store(opened.url), fake.base_url, "chat")
        answered = httpx.post(f"{opened.url}/gateway/chat/mlflow/invocations", json=CHAT, timeout=60)
        assert answered.status_code == 200, answered.text
    sent_to_fake = len(fake.requests)

    with running_server(tmp_path, None, "--webhooks-allow-private", env=env) as closed:
        client = MlflowClient(tracking_uri=closed.url, registry_uri=closed.url)
        assert client.get_webhook(hook.webhook_id).url == receiver.url + path  # kept, not sent to
        client.create_registered_model("not-sent")
        second = [d for d in _deliveries(closed, hook.webhook_id, 2) if d["status"] != "SUCCEEDED"]
        assert [d["status"] for d in second] == ["FAILED"]
        assert "Invalid webhook URL scheme: 'http'" in second[0]["error_message"]
        result = client.test_webhook(hook.webhook_id)
        assert not result.success and "Invalid webhook URL scheme: 'http'" in result.error_message
        assert len(receiver.requests[path]) == 1

        refused = httpx.post(f"{closed.url}/gateway/chat/mlflow/invocations", json=CHAT, timeout=60)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "scheme: 'http'. Allowed schemes are: 'https'." in refused.json()["message"]
        assert len(fake.requests) == sent_to_fake


@pytest.mark.parametrize("value", ["ftp", "https,gopher", " , "])
def test_a_scheme_the_server_cannot_send_with_is_a_usage_error(value: str) -> None:
    for option in ("--webhooks-allowed-schemes", "--gateway-api-base-allowed-schemes"):
        result = CliRunner().invoke(cli, ["server", option, value])
        assert result.exit_code == 2, result.output
        assert option in result.output and "scheme" in result.output
