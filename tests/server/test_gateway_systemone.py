"""The AI gateway's TypeSafe System One passthrough, as MLflow 3.17 serves it (issue 19).

One ``mltrail server`` and a loopback fake of the TypeSafe System One API
(:mod:`support.typesafe_server`), which also stands in for OpenRouter's. Endpoints are
made with the official client: ``jev`` (a TypeSafe model), ``orjev`` (OpenRouter's
``typesafe/jev-latest``), ``orchat`` (OpenRouter's chat model ``typesafe/jev-router``)
and ``mixed`` (a TypeSafe PRIMARY with a chat FALLBACK). Calls go through
``POST /gateway/typesafe/v1/systemone`` over HTTP and through the official ``mlflow``
judge ``make_judge(model="gateway:/jev")``, which tries chat first and switches to System
One on MLflow's rejection. The refusals are MLflow's, text (``detail``) and status.
"""

from __future__ import annotations

import time

import httpx
import pytest
from mlflow.gateway.constants import SYSTEM_ONE_CHAT_ROUTE_REJECTION_DETAIL

from support.gateway_kit import official_store
from support.live_server import LOOPBACK_HTTP, start_server, stop_server
from support.typesafe_server import TEST_API_KEY, TypeSafeServer

OPENROUTER_KEY = "sk-or-v1-openrouter-test-key-0123456789"
ROUTE = "/gateway/typesafe/v1/systemone"
QUESTION = {"polite": {"type": "noul", "instructions": "Is state.outputs polite?"}}


@pytest.fixture(scope="module")
def fake():
    with TypeSafeServer(TEST_API_KEY, OPENROUTER_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"MLTRAIL_SECRET_KEY": "a-test-server-key-of-32-characters!"}
    live = start_server(tmp_path_factory.mktemp("gateway-s1"), None, *LOOPBACK_HTTP, env=env)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def endpoints(server, fake):
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType

    store = official_store(server.url)
    auth = {"api_base": fake.base_url}
    typesafe = store.create_gateway_secret(
        "ts-key", {"api_key": TEST_API_KEY}, provider="typesafe", auth_config=auth
    )
    router = store.create_gateway_secret(
        "or-key", {"api_key": OPENROUTER_KEY}, provider="openrouter", auth_config=auth
    )
    definitions = {
        name: store.create_gateway_model_definition(
            name, secret.secret_id, provider, model
        ).model_definition_id
        for name, secret, provider, model in [
            ("jev", typesafe, "typesafe", "jev-1.13"),
            ("orjev", router, "openrouter", "typesafe/jev-latest"),
            ("orchat", router, "openrouter", "typesafe/jev-router"),
        ]
    }
    primary, fallback = GatewayModelLinkageType.PRIMARY, GatewayModelLinkageType.FALLBACK
    found = {
        name: store.create_gateway_endpoint(name, [GatewayEndpointModelConfig(definitions[name], primary)])
        for name in definitions
    }
    found["mixed"] = store.create_gateway_endpoint(
        "mixed",
        [
            GatewayEndpointModelConfig(definitions["jev"], primary),
            GatewayEndpointModelConfig(definitions["orchat"], fallback, fallback_order=1),
        ],
    )
    return found


def _traces(server, endpoint):
    from mlflow import MlflowClient

    client = MlflowClient(server.url)
    return client.search_traces(locations=[endpoint.experiment_id], order_by=["timestamp_ms DESC"])


def test_a_typesafe_endpoint_is_called_with_its_key_and_traced(server, endpoints, fake):
    jev = endpoints["jev"]
    body = {"model": "jev", "state": {"outputs": "Thank you kindly"}, "questions": QUESTION}
    answer = httpx.post(
        server.url + ROUTE, json={**body, "stream": False}, headers={"Authorization": "Bearer caller-key"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "model": "jev-1.13",
        "answers": {"polite": {"type": "noul", "noul": 0.8}},
        "usage": {"input_tokens": 7, "output_tokens": 1},
    }
    sent = fake.requests[-1]
    # The endpoint's model and key, not the caller's: TypeSafe's own body otherwise untouched.
    assert sent["path"] == "/v1/systemone"
    assert sent["headers"]["authorization"] == f"Bearer {TEST_API_KEY}"
    assert sent["body"] == {**body, "model": "jev-1.13"}

    [trace] = _traces(server, jev)
    assert trace.info.state == "OK"
    assert trace.info.trace_metadata["mlflow.gateway.requestType"] == "passthrough/model/typesafe-systemone"
    assert trace.info.trace_metadata["mlflow.gateway.endpointId"] == jev.endpoint_id
    assert trace.info.token_usage == {"input_tokens": 7, "output_tokens": 1, "total_tokens": 8}
    root, provider = trace.data.spans
    assert root.name == "gateway/jev" and root.outputs["answers"]["polite"]["noul"] == 0.8
    assert provider.name == "provider/typesafe/jev-1.13" and provider.span_type == "LLM"
    assert provider.attributes["mlflow.llm.provider"] == "typesafe"
    usage = httpx.get(
        f"{server.url}/ajax-api/3.0/mltrail/gateway/usage", params={"endpoint_id": jev.endpoint_id}
    )
    [today] = usage.json()["usage"]
    assert (today["requests"], today["errors"], today["input_tokens"]) == (1, 0, 7)
    assert TEST_API_KEY not in server.log.read_text()


def test_an_openrouter_jev_model_goes_to_openrouters_systemone_path(server, endpoints, fake):
    choice = {"tone": {"type": "choice", "instructions": "Tone?", "criteria": {"warm": "w", "cold": "c"}}}
    answer = httpx.post(server.url + ROUTE, json={"model": "orjev", "state": {}, "questions": choice})
    assert answer.status_code == 200, answer.text
    assert answer.json()["answers"]["tone"]["choice"] == "warm"
    sent = fake.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {OPENROUTER_KEY}"
    assert sent["body"]["model"] == "typesafe/jev-latest"
    [trace] = _traces(server, endpoints["orjev"])
    assert trace.data.spans[1].name == "provider/openrouter/typesafe/jev-latest"


def _refused(resp: httpx.Response, status: int, detail: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["detail"] == detail and resp.json()["message"] == detail
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_mlflows_refusals_on_the_system_one_route_and_on_chat_routes(server, endpoints, fake):
    seen = len(fake.requests)
    body = {"state": {}, "questions": QUESTION}
    url = server.url + ROUTE
    _refused(
        httpx.post(url, json={**body, "model": "orchat"}),
        422,
        "Gateway endpoint does not use a System One model. Use a TypeSafe or OpenRouter Jev decision model.",
    )
    _refused(
        httpx.post(url, json={**body, "model": "mixed"}),
        400,
        "System One endpoints cannot mix System One and chat models. Every primary and fallback model "
        "must support System One.",
    )
    _refused(
        httpx.post(url, json={**body, "model": "jev", "stream": True}),
        400,
        "TypeSafe System One does not support streaming.",
    )
    missing = httpx.post(url, json=body)
    assert missing.status_code == 400 and missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    unknown = httpx.post(url, json={**body, "model": "nope"})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert httpx.post(url, content=b"[1]").status_code == 400

    # A System One endpoint (even only as a FALLBACK's sibling) on any other route: MLflow's rejection.
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    for path, payload in [
        ("/gateway/mlflow/v1/chat/completions", {**chat, "model": "jev"}),
        ("/gateway/jev/mlflow/invocations", chat),
        ("/gateway/openai/v1/chat/completions", {**chat, "model": "orjev"}),
        ("/gateway/anthropic/v1/messages", {**chat, "model": "mixed", "max_tokens": 5}),
        ("/gateway/proxy/jev/systemone", {**body, "model": "jev-1.13"}),
    ]:
        _refused(httpx.post(server.url + path, json=payload), 400, SYSTEM_ONE_CHAT_ROUTE_REJECTION_DETAIL)
    assert len(fake.requests) == seen  # nothing refused reached the provider
    assert _traces(server, endpoints["orchat"]) == []  # nor left a trace


def test_the_official_gateway_judge_falls_back_to_system_one(server, endpoints, fake, monkeypatch):
    from mlflow.genai.judges import make_judge

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    fake.set_responder(lambda name, question, state: 0.9 if "please" in state["outputs"] else 0.1)
    try:
        judge = make_judge(
            name="polite",
            instructions="Is the reply {{ outputs }} polite?",
            feedback_value_type=bool,
            model="gateway:/jev",
        )
        started = len(fake.requests)
        yes = judge(outputs="Yes, please sit down.")
        no = judge(outputs="Sit down.")
    finally:
        fake.set_responder(None)
    assert yes.value is True and no.value is False
    assert yes.metadata["typesafe.model"] == "jev-1.13"
    assert yes.metadata["typesafe.probability"] == "0.9"
    assert yes.source.source_id == "gateway:/jev"
    sent = fake.requests[started]["body"]
    assert sent["model"] == "jev-1.13" and sent["state"] == {"outputs": "Yes, please sit down."}
    [(_name, question)] = sent["questions"].items()
    assert question["type"] == "noul" and "state.outputs" in question["instructions"]
    deadline = time.monotonic() + 10
    while len(traces := _traces(server, endpoints["jev"])) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    # model_api="decisions" goes to System One directly; on a chat endpoint the official client
    # reads the 422's detail and says so.
    from mlflow.exceptions import MlflowException

    decisions = make_judge(
        name="tone",
        instructions="Is {{ outputs }} warm?",
        feedback_value_type=bool,
        model="gateway:/orchat",
        model_api="decisions",
    )
    with pytest.raises(MlflowException, match="does not serve a System One model"):
        decisions(outputs="Hello")

    # The chat attempts were refused before any trace; the two System One calls left one each.
    assert len(traces) == 3
    assert traces[0].data.spans[0].inputs["state"] == {"outputs": "Sit down."}
    assert {t.info.trace_metadata["mlflow.gateway.requestType"] for t in traces} == {
        "passthrough/model/typesafe-systemone"
    }
