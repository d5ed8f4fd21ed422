"""The AI gateway (issue 19, point 2): MLflow 3's configuration API, the proxy, usage and gateway:/ judges.

One ``mltrail server`` (with a secrets key, loopback targets allowed) and the
loopback OpenAI fake for the module. The official client's REST store drives the
configuration API; every answer is also parsed with MLflow's own protobuf
messages (``ParseDict`` with unknown fields refused), so field names and types
are those of service.proto. The proxy is called with the ``openai`` package,
and judges (``mltrail.genai``, classic ``mltrail.evaluate``, online scoring in
the server's worker) use ``gateway:/<endpoint>``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

import httpx
import pytest
from google.protobuf.json_format import ParseDict
from mlflow.protos import service_pb2 as pb

from support.feedback import wait_feedback
from support.gateway_kit import chat_endpoints, official_store
from support.live_server import LOOPBACK_HTTP, start_server, stop_server
from support.openai_server import OpenAIServer

API = "/api/3.0/mlflow/gateway"
KEY = "sk-live-0123456789abcdef-SECRET"
SERVER_KEY = "a-test-server-key-of-32-characters!"


def _responder(request: dict) -> str:
    """Every judge style at once: genai's result/rationale and the classic score/justification."""
    return json.dumps({"result": "yes", "rationale": "fine", "score": 4, "justification": "fine"})


@pytest.fixture(scope="module")
def fake():
    with OpenAIServer(_responder) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake):
    env = {"MLTRAIL_SECRET_KEY": SERVER_KEY, "MLTRAIL_SCORER_POLL_INTERVAL": "0.2"}
    live = start_server(tmp_path_factory.mktemp("gateway"), None, *LOOPBACK_HTTP, env=env)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def store(server):
    """The official client's REST store (``MlflowClient``'s gateway calls go through it)."""
    return official_store(server.url)


@pytest.fixture(scope="module")
def endpoint(store, fake):
    """A chat endpoint on the fake: secret -> model definition -> endpoint."""
    return chat_endpoints(
        store, fake.base_url, "judge", secret="judge-key", definition="judge-model", api_key=KEY
    )["judge"]


def _proto(answer: dict, message: type) -> None:
    """``answer`` parses as MLflow's response message, with no field it does not know."""
    ParseDict(answer, message(), ignore_unknown_fields=False)


def _error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.json()["error_code"] == code
    return resp.json()["message"]


def test_official_client_configures_secrets_models_and_endpoints(server, store, endpoint, fake):
    from mlflow.entities import (
        GatewayEndpointModelConfig,
        GatewayEndpointTag,
        GatewayModelLinkageType,
        GatewayResourceType,
    )

    # Secrets: write-only, masked as MLflow masks them, sealed at rest.
    info = store.get_secret_info(secret_name="judge-key")
    assert info.masked_values == {"api_key": "sk-...CRET"}
    assert info.auth_config == {"api_base": fake.base_url} and info.provider == "openai"
    rotated = store.update_gateway_secret(info.secret_id, secret_value={"api_key": KEY + "2"})
    assert rotated.masked_values == {"api_key": "sk-...RET2"} and rotated.last_updated_at >= info.created_at
    store.update_gateway_secret(info.secret_id, secret_value={"api_key": KEY})
    assert [s.secret_name for s in store.list_secret_infos(provider="openai")] == ["judge-key"]
    assert store.list_secret_infos(provider="anthropic") == []
    database = sqlite3.connect(server.backend.removeprefix("sqlite:///"))
    [(stored,)] = database.execute("SELECT encrypted_value FROM gateway_secrets").fetchall()
    assert stored.startswith("enc:v1:") and KEY not in stored
    database.close()

    # Endpoints: the mapping carries its model definition; the tracking experiment is MLflow's.
    assert endpoint.name == "judge" and endpoint.usage_tracking is True
    [mapping] = endpoint.model_mappings
    assert mapping.linkage_type == GatewayModelLinkageType.PRIMARY and mapping.weight == 1.0
    assert mapping.model_definition.secret_name == "judge-key"
    assert mapping.model_definition.model_name == "gpt-4o-mini"
    exp = httpx.get(
        f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": endpoint.experiment_id}
    )
    assert exp.json()["experiment"]["name"] == "gateway/judge"
    # As MLflow tags it: which endpoint the experiment serves.
    tags = {t["key"]: t["value"] for t in exp.json()["experiment"]["tags"]}
    assert tags["mlflow.experiment.sourceId"] == endpoint.endpoint_id
    assert tags["mlflow.experiment.sourceType"] == "GATEWAY" and tags["mlflow.experiment.isGateway"] == "true"
    assert store.get_gateway_endpoint(name="judge").endpoint_id == endpoint.endpoint_id

    # A second model: attach as fallback, tag, bind, detach, delete.
    spare = store.create_gateway_model_definition("spare", info.secret_id, "openai", "gpt-4o")
    attached = store.attach_model_to_endpoint(
        endpoint.endpoint_id,
        GatewayEndpointModelConfig(spare.model_definition_id, GatewayModelLinkageType.FALLBACK, 1.0, 1),
    )
    assert attached.fallback_order == 1 and attached.linkage_type == GatewayModelLinkageType.FALLBACK
    store.set_gateway_endpoint_tag(endpoint.endpoint_id, GatewayEndpointTag("team", "eval"))
    got = store.get_gateway_endpoint(endpoint_id=endpoint.endpoint_id)
    assert [(t.key, t.value) for t in got.tags] == [("team", "eval")] and len(got.model_mappings) == 2
    assert [e.name for e in store.list_gateway_endpoints(provider="openai")] == ["judge"]
    binding = store.create_endpoint_binding(endpoint.endpoint_id, GatewayResourceType.SCORER, "sc-1")
    assert binding.resource_id == "sc-1"
    assert [b.resource_id for b in store.list_endpoint_bindings(endpoint_id=endpoint.endpoint_id)] == ["sc-1"]
    store.delete_endpoint_binding(endpoint.endpoint_id, "scorer", "sc-1")
    store.delete_gateway_endpoint_tag(endpoint.endpoint_id, "team")
    in_use = httpx.request(
        "DELETE",
        server.url + API + "/model-definitions/delete",
        json={"model_definition_id": spare.model_definition_id},
    )
    assert "in use by endpoints" in _error(in_use, 400, "INVALID_STATE")
    store.detach_model_from_endpoint(endpoint.endpoint_id, spare.model_definition_id)
    renamed = store.update_gateway_model_definition(
        spare.model_definition_id, name="spare-2", model_name="gpt-4.1"
    )
    assert (renamed.name, renamed.model_name) == ("spare-2", "gpt-4.1")
    store.delete_gateway_model_definition(spare.model_definition_id)
    assert [m.name for m in store.list_gateway_model_definitions()] == ["judge-model"]


def test_answers_have_the_proto_shapes_and_bad_input_is_400(server, endpoint):
    http = httpx.Client(base_url=server.url + API, timeout=10)
    ui = httpx.Client(base_url=server.url + "/ajax-api/3.0/mlflow/gateway", timeout=10)
    with http, ui:
        _shapes_and_errors(server, http, ui)


def _shapes_and_errors(server, http: httpx.Client, ui: httpx.Client) -> None:
    secret = http.post("/secrets/create", json={"secret_name": "shape", "secret_value": {"api_key": "short"}})
    _proto(secret.json(), pb.CreateGatewaySecret.Response)
    assert secret.json()["secret"]["masked_values"] == {"api_key": "***"}
    _proto(http.get("/secrets/list").json(), pb.ListGatewaySecretInfos.Response)
    _proto(http.get("/endpoints/get", params={"name": "judge"}).json(), pb.GetGatewayEndpoint.Response)
    _proto(http.get("/endpoints/list").json(), pb.ListGatewayEndpoints.Response)
    _proto(http.get("/model-definitions/list").json(), pb.ListGatewayModelDefinitions.Response)
    assert "sk-" not in http.get("/secrets/list").text.replace("sk-...", "")

    again = http.post(
        "/secrets/create", json={"secret_name": "shape", "secret_value": {"api_key": "other-key"}}
    )
    assert "already exists" in _error(again, 400, "RESOURCE_ALREADY_EXISTS")
    steer = http.post(
        "/secrets/create", json={"secret_name": "s2", "secret_value": {"api_key": "k", "base_url": "x"}}
    )
    assert "base_url" in _error(steer, 400, "INVALID_PARAMETER_VALUE")
    ssrf = http.post(
        "/secrets/create",
        json={
            "secret_name": "s3",
            "secret_value": {"api_key": "k"},
            "auth_config": {"api_base": "file:///etc"},
        },
    )
    _error(ssrf, 400, "INVALID_PARAMETER_VALUE")
    _error(http.post("/secrets/create", json={"secret_name": "s4"}), 400, "INVALID_PARAMETER_VALUE")
    _error(http.get("/secrets/get", params={"secret_id": "s-nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
    bad_name = http.post(
        "/endpoints/create", json={"name": "a b", "model_configs": [{"model_definition_id": "d"}]}
    )
    assert "Invalid endpoint name" in _error(bad_name, 400, "INVALID_PARAMETER_VALUE")
    no_linkage = http.post(
        "/endpoints/create", json={"name": "ok", "model_configs": [{"model_definition_id": "d"}]}
    )
    assert "linkage_type" in _error(no_linkage, 400, "INVALID_PARAMETER_VALUE")
    missing = http.post(
        "/endpoints/create",
        json={"name": "ok", "model_configs": [{"model_definition_id": "d-x", "linkage_type": "PRIMARY"}]},
    )
    _error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    assert http.get("/endpoints/get", params={"name": "ok"}).status_code == 404  # nothing half-written

    assert "openai" in ui.get("/supported-providers").json()["providers"]
    # Where the answer is data, it is MLflow's own (computed by the installed mlflow, no server needed).
    from mlflow.utils.crypto import _mask_secret_value
    from mlflow.utils.providers import get_provider_config_response

    for provider in ("openai", "mistral"):
        ours = ui.get("/provider-config", params={"provider": provider}).json()
        assert ours == get_provider_config_response(provider)
    values = {"api_key": KEY, "org": "org-1234567", "short": "abc"}
    created = http.post("/secrets/create", json={"secret_name": "masks", "secret_value": values}).json()
    assert created["secret"]["masked_values"] == _mask_secret_value(values)
    assert ui.get("/secrets/config").json() == {"secrets_available": True, "using_default_passphrase": False}
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert {
        API + "/secrets/create",
        "/gateway/mlflow/v1/chat/completions",
        "/gateway/openai/v1/embeddings",
    } <= set(paths)


def test_proxy_sends_the_stored_key_and_counts_usage(server, endpoint, fake):
    import openai

    before = len(fake.requests)
    client = openai.OpenAI(base_url=f"{server.url}/gateway/mlflow/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model="judge", messages=[{"role": "user", "content": "one two three"}]
    )
    assert json.loads(reply.choices[0].message.content)["result"] == "yes"
    sent = fake.requests[before]
    assert sent["body"]["model"] == "gpt-4o-mini" and sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert [m.id for m in client.models.list().data] == ["judge"]
    stream = client.chat.completions.create(
        model="judge", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "result" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    passthrough = openai.OpenAI(base_url=f"{server.url}/gateway/openai/v1", api_key="unused", max_retries=0)
    vectors = passthrough.embeddings.create(model="judge", input=["a b", "c"])
    assert len(vectors.data) == 2
    invoked = httpx.post(
        f"{server.url}/gateway/judge/mlflow/invocations",
        json={"messages": [{"role": "user", "content": "hi"}]},
    )
    assert invoked.status_code == 200 and invoked.json()["choices"][0]["message"]["role"] == "assistant"

    unknown = httpx.post(
        f"{server.url}/gateway/mlflow/v1/chat/completions", json={"model": "nope", "messages": []}
    )
    _error(unknown, 404, "RESOURCE_DOES_NOT_EXIST")
    usage = httpx.get(
        f"{server.url}/ajax-api/3.0/mltrail/gateway/usage", params={"endpoint_id": endpoint.endpoint_id}
    )
    [today] = usage.json()["usage"]
    assert today["endpoint_name"] == "judge" and today["requests"] >= 3 and today["errors"] == 0
    assert today["input_tokens"] >= 3 + 3 and today["output_tokens"] > 0
    client.close()
    passthrough.close()
    assert KEY not in server.log.read_text()


def test_unsupported_provider_and_fallback(server, store, fake):
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType

    dead = store.create_gateway_secret(
        "dead", {"api_key": KEY}, auth_config={"api_base": "http://127.0.0.1:9/v1"}
    )
    live = store.get_secret_info(secret_name="judge-key")
    first = store.create_gateway_model_definition("dead-model", dead.secret_id, "openai", "m1")
    second = store.create_gateway_model_definition("live-model", live.secret_id, "openai", "m2")
    # Anthropic and Gemini are translated now (test_gateway_translate.py); Bedrock is not served.
    claude = store.create_gateway_model_definition("claude", live.secret_id, "bedrock", "anthropic.claude-v2")
    primary, fallback = GatewayModelLinkageType.PRIMARY, GatewayModelLinkageType.FALLBACK
    store.create_gateway_endpoint(
        "failover",
        [GatewayEndpointModelConfig(first.model_definition_id, primary),
         GatewayEndpointModelConfig(second.model_definition_id, fallback, 1.0, 1)],
    )  # fmt: skip
    store.create_gateway_endpoint("claude", [GatewayEndpointModelConfig(claude.model_definition_id, primary)])
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    answered = httpx.post(
        f"{server.url}/gateway/mlflow/v1/chat/completions", json={"model": "failover", **chat}
    )
    assert answered.status_code == 200 and fake.requests[-1]["body"]["model"] == "m2"
    refused = httpx.post(f"{server.url}/gateway/mlflow/v1/chat/completions", json={"model": "claude", **chat})
    assert "not supported by mltrail" in _error(refused, 400, "INVALID_PARAMETER_VALUE")


def test_gateway_judges_genai_classic_and_online(server, endpoint, monkeypatch):
    import pandas as pd

    import mltrail
    from mltrail.genai.judges import make_judge
    from mltrail.metrics.genai import answer_relevance

    monkeypatch.setenv("MLTRAIL_TRACKING_URI", server.url)
    judge = make_judge(name="ok", instructions="Is {{ outputs }} fine?", model="gateway:/judge")
    feedback = judge(outputs="Paris")
    assert feedback.value == "yes" and feedback.rationale == "fine"

    data = pd.DataFrame({"inputs": ["Capital of France?"], "answer": ["Paris"]})
    result = mltrail.evaluate(
        data=data, predictions="answer", extra_metrics=[answer_relevance(model="gateway:/judge")]
    )
    assert result.metrics["answer_relevance/v1/mean"] == 4.0

    from mltrail.genai.scorers import ScorerSamplingConfig

    experiment_id = mltrail.create_experiment(f"online-{uuid.uuid4().hex[:8]}")
    judge.register(name="ok", experiment_id=experiment_id).start(
        experiment_id=experiment_id, sampling_config=ScorerSamplingConfig(sample_rate=1.0)
    )

    @mltrail.trace
    def answer(question: str) -> str:
        return "Paris"

    with mltrail.start_run(experiment_id=experiment_id):
        answer("Capital of France?")
    mltrail.flush_trace_async_logging()
    found = wait_feedback(server.url, mltrail.get_last_active_trace_id(), "ok")
    assert found[0]["feedback"]["value"] == "yes"
    assert found[0]["source"]["source_id"] == "gateway:/judge"
