"""MLflow's variables for private targets: ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS`` (webhooks) and
``MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS`` (the AI gateway's ``api_base``).

A deployment's MLflow environment keeps working on ``mltrail server``: each variable opens what it
opens in MLflow 3.17.2, and only that (mltrail's own ``--webhooks-allow-private`` opens both). The
receiver and the OpenAI fake listen on 127.0.0.1, so they are private targets; plain http is allowed
with MLflow's scheme variables on every server here, so a refusal is the address's alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mltrail.cli.main import cli
from mltrail.cli.server import build_config
from support.gateway_kit import chat_endpoints, official_store
from support.live_server import running_server
from support.openai_server import OpenAIServer
from support.webhook_receiver import Receiver

SERVER_KEY = "a-test-server-key-of-32-characters!"
EVENT = "registered_model.created"
HTTP_TOO = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES": "http,https",
    "MLTRAIL_SECRET_KEY": SERVER_KEY,
}
CHAT = {"messages": [{"role": "user", "content": "hi"}]}
WEBHOOK_ENV = "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"
GATEWAY_ENV = "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def fake() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def _webhook(url: str, target: str) -> httpx.Response:
    body = {"name": "private", "url": target, "events": [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]}
    return httpx.post(f"{url}/api/2.0/mlflow/webhooks", json=body, timeout=30)


def test_mlflow_webhook_variable_opens_webhooks_only(tmp_path: Path, receiver: Receiver, fake: OpenAIServer):
    with running_server(tmp_path, None, env={**HTTP_TOO, WEBHOOK_ENV: "true"}) as server:
        client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        client.create_webhook("loopback", f"{receiver.url}/webhook-env", [EVENT])
        client.create_registered_model("private-receiver")
        assert receiver.wait("/webhook-env", 1)[0]["body"]

        with pytest.raises(MlflowException) as err:
            official_store(server.url).create_gateway_secret(
                "loopback-key", {"api_key": "sk-0123456789"}, provider="openai",
                auth_config={"api_base": fake.base_url},
            )  # fmt: skip
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "must not resolve to a non-public IP address" in err.value.message
        assert f"{GATEWAY_ENV}=true" in err.value.message


def test_mlflow_gateway_variable_opens_the_gateway_only(
    tmp_path: Path, receiver: Receiver, fake: OpenAIServer
) -> None:
    with running_server(tmp_path, None, env={**HTTP_TOO, GATEWAY_ENV: "1"}) as server:
        chat_endpoints(official_store(server.url), fake.base_url, "chat")
        answered = httpx.post(f"{server.url}/gateway/chat/mlflow/invocations", json=CHAT, timeout=60)
        assert answered.status_code == 200, answered.text
        assert fake.requests

        refused = _webhook(server.url, f"{receiver.url}/gateway-env")
        assert refused.status_code == 400, refused.text
        assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "must not resolve to a non-public IP address" in refused.json()["message"]
        assert f"{WEBHOOK_ENV}=true" in refused.json()["message"]


def test_without_either_variable_both_stay_closed(tmp_path: Path, receiver: Receiver) -> None:
    with running_server(tmp_path, None, env={**HTTP_TOO, WEBHOOK_ENV: "false", GATEWAY_ENV: "0"}) as server:
        assert _webhook(server.url, f"{receiver.url}/closed").status_code == 400
        body = {"secret_name": "k", "secret_value": {"api_key": "sk-0123456789"}, "provider": "openai",
                "auth_config": {"api_base": "http://127.0.0.1:9/v1"}}  # fmt: skip
        refused = httpx.post(f"{server.url}/api/3.0/mlflow/gateway/secrets/create", json=body, timeout=30)
        assert refused.status_code == 400 and "non-public" in refused.json()["message"], refused.text


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", "false", "FALSE", "0", ""])
def test_values_are_read_as_mlflow_reads_them(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.environment_variables import (
        _MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS,
        MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS,
    )

    monkeypatch.setenv(WEBHOOK_ENV, value)
    monkeypatch.setenv(GATEWAY_ENV, value)
    config = build_config()
    # MLflow refuses an empty value (mltrail reads it as unset, the default): compare the rest
    expected = value.lower() in ("true", "1")
    if value:
        assert _MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS.get() is expected
        assert MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS.get() is expected
    assert config.webhooks_allow_private is expected
    assert config.gateway_api_base_allow_private is expected
    # mltrail's option opens both, whatever MLflow's variables say
    opened = build_config(webhooks_allow_private=True)
    assert opened.webhooks_allow_private and opened.gateway_api_base_allow_private


@pytest.mark.parametrize("name", [WEBHOOK_ENV, GATEWAY_ENV])
def test_a_value_mlflow_refuses_stops_the_server_with_one_line(name: str) -> None:
    result = CliRunner().invoke(cli, ["server"], env={name: "yes"})
    assert result.exit_code == 1, result.output
    assert f"{name} must be one of true, false, 1 or 0" in result.output and "'yes'" in result.output
