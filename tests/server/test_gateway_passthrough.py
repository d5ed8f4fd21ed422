"""The AI gateway's passthroughs, raw proxy and traces (issue 19, point 2.2 and 2.3).

One ``mltrail server`` and three loopback fakes speaking the hosted APIs' wire
formats: OpenAI (chat, Responses), Anthropic (Messages) and Gemini
(generateContent). Each provider gets an endpoint; the calls go through MLflow's
passthrough paths (``openai`` package for OpenAI, raw HTTP in the providers' own
formats for the others), streamed and not. Every call must leave one trace in the
endpoint's experiment, shaped as MLflow's gateway records it, read back with the
official ``mlflow`` client.
"""

from __future__ import annotations

import json

import httpx
import pytest

from support.anthropic_server import TEST_API_KEY as ANTHROPIC_KEY
from support.anthropic_server import AnthropicServer
from support.gemini_server import TEST_API_KEY as GEMINI_KEY
from support.gemini_server import GeminiServer
from support.live_server import LOOPBACK_HTTP, start_server, stop_server
from support.openai_server import OpenAIServer

OPENAI_KEY = "sk-openai-0123456789abcdef"


@pytest.fixture(scope="module")
def fakes():
    with OpenAIServer() as o, AnthropicServer() as a, GeminiServer() as g:
        yield {"openai": o, "anthropic": a, "gemini": g}


@pytest.fixture(scope="module")
def server(tmp_path_factory, fakes):
    env = {"MLTRAIL_SECRET_KEY": "a-test-server-key-of-32-characters!"}
    live = start_server(tmp_path_factory.mktemp("gateway-pt"), None, *LOOPBACK_HTTP, env=env)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def endpoints(server, fakes):
    """One endpoint per provider: ``gpt`` (openai), ``claude`` (anthropic), ``gem`` (gemini)."""
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.rest_utils import MlflowHostCreds

    store = RestStore(lambda: MlflowHostCreds(server.url))
    bases = {**{p: f.base_url for p, f in fakes.items()}, "anthropic": fakes["anthropic"].base_url + "/v1"}
    found = {}
    for name, provider, key, model in [
        ("gpt", "openai", OPENAI_KEY, "gpt-4o-mini"),
        ("claude", "anthropic", ANTHROPIC_KEY, "claude-3-5-sonnet"),
        ("gem", "gemini", GEMINI_KEY, "gemini-2.5-flash"),
    ]:
        secret = store.create_gateway_secret(
            f"{name}-key",
            {"api_key": key},
            provider=provider,
            auth_config={"api_base": bases[provider]},
        )
        definition = store.create_gateway_model_definition(f"{name}-model", secret.secret_id, provider, model)
        config = GatewayEndpointModelConfig(definition.model_definition_id, GatewayModelLinkageType.PRIMARY)
        found[name] = store.create_gateway_endpoint(name, [config])
    return found


def _traces(server, endpoint, count_before: int = 0):
    """The endpoint's traces (newest first), as the official client reads them."""
    from mlflow import MlflowClient

    client = MlflowClient(server.url)
    return client.search_traces(locations=[endpoint.experiment_id], order_by=["timestamp_ms DESC"])


def _one_more_trace(server, endpoint, before: int):
    """The newest trace, once there is one more than ``before``: a streamed call's trace is written
    after its last chunk has gone out, so the client may ask before it is there."""
    import time

    deadline = time.monotonic() + 15
    while len(traces := _traces(server, endpoint)) < before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(traces) == before + 1, [t.info.trace_id for t in traces]
    return traces[0]


def test_openai_chat_is_traced_with_usage_cost_and_mlflow_shape(server, endpoints, fakes):
    import openai

    gpt = endpoints["gpt"]
    before = len(_traces(server, gpt))
    client = openai.OpenAI(
        base_url=f"{server.url}/gateway/mlflow/v1", api_key="unused", max_retries=0,
        default_headers={"X-MLflow-Gateway-Caller": "my-agent"},
    )  # fmt: skip
    reply = client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "one two"}])
    assert reply.choices[0].message.content == "Answer to: one two"
    trace = _one_more_trace(server, gpt, before)
    info = trace.info
    assert info.state == "OK" and info.trace_metadata["mlflow.gateway.endpointId"] == gpt.endpoint_id
    assert info.trace_metadata["mlflow.gateway.requestType"] == "unified/chat"
    assert info.trace_metadata["mlflow.gateway.caller"] == "my-agent"
    assert info.token_usage == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    assert info.cost and info.cost["total_cost"] > 0  # gpt-4o-mini is in the price table
    root, provider = trace.data.spans
    assert root.name == "gateway/gpt" and root.parent_id is None
    assert root.attributes["endpoint_id"] == gpt.endpoint_id and root.attributes["endpoint_name"] == "gpt"
    assert root.inputs["messages"] == [{"role": "user", "content": "one two"}]
    assert root.outputs["choices"][0]["message"]["content"] == "Answer to: one two"
    assert provider.name == "provider/openai/gpt-4o-mini" and provider.span_type == "LLM"
    assert provider.parent_id == root.span_id
    assert provider.attributes["mlflow.llm.provider"] == "openai"
    assert provider.attributes["mlflow.chat.tokenUsage"]["total_tokens"] == 6

    # A streamed call: one trace, its output the joined completion, usage from the last chunk.
    stream = client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "a b c"}], stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Answer to: a b c"
    streamed = _one_more_trace(server, gpt, before + 1)
    assert streamed.data.spans[0].outputs["choices"][0]["message"]["content"] == "Answer to: a b c"
    assert streamed.info.token_usage["input_tokens"] == 3
    assert streamed.data.spans[1].attributes["streaming"] is True
    client.close()


def test_openai_responses_passthrough_and_raw_proxy(server, endpoints, fakes):
    import openai

    gpt = endpoints["gpt"]
    before = len(_traces(server, gpt))
    client = openai.OpenAI(base_url=f"{server.url}/gateway/openai/v1", api_key="unused", max_retries=0)
    answer = client.responses.create(model="gpt", input="hello there")
    assert answer.output_text == "Answer to: hello there"
    sent = fakes["openai"].requests[-1]
    assert sent["path"] == "/v1/responses" and sent["body"]["model"] == "gpt-4o-mini"
    assert sent["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"
    events = list(client.responses.create(model="gpt", input="x y", stream=True))
    assert [e.type for e in events][-1] == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Answer to: x y"
    traces = _traces(server, gpt)
    assert len(traces) == before + 2
    assert {t.info.trace_metadata["mlflow.gateway.requestType"] for t in traces[:2]} == {
        "passthrough/model/openai-responses"
    }
    assert traces[0].info.token_usage == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    assert traces[0].data.spans[0].outputs["output"][0]["content"][0]["text"] == "Answer to: x y"

    # The raw proxy: the body as it is (model kept) to <api_base>/<path>, with the endpoint's key.
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "raw"}]}
    raw = httpx.post(f"{server.url}/gateway/proxy/gpt/chat/completions", json=body)
    assert raw.status_code == 200 and raw.json()["choices"][0]["message"]["content"] == "Answer to: raw"
    assert fakes["openai"].requests[-1]["body"]["model"] == "gpt-4o"
    assert _traces(server, gpt)[0].info.trace_metadata["mlflow.gateway.requestType"] == "proxy/raw"
    seen = len(fakes["openai"].requests)
    for bad in ("a/%2e%2e/%2e%2e/b", "a//b", "%2e%2e"):
        refused = httpx.post(f"{server.url}/gateway/proxy/gpt/{bad}", json=body)
        assert refused.status_code in (400, 404), (bad, refused.text)
    assert len(fakes["openai"].requests) == seen  # nothing left the server
    client.close()


def test_anthropic_messages_passthrough_plain_and_streamed(server, endpoints, fakes):
    claude = endpoints["claude"]
    before = len(_traces(server, claude))
    body = {"model": "claude", "max_tokens": 64, "messages": [{"role": "user", "content": "hi there"}]}
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "unused"}
    answer = httpx.post(f"{server.url}/gateway/anthropic/v1/messages", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "Answer to: hi there"
    sent = fakes["anthropic"].requests[-1]
    assert sent["body"]["model"] == "claude-3-5-sonnet" and sent["headers"]["x-api-key"] == ANTHROPIC_KEY

    with httpx.stream(
        "POST", f"{server.url}/gateway/anthropic/v1/messages", json={**body, "stream": True}, headers=headers
    ) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line.startswith("data:")]
    events = [json.loads(line[5:]) for line in lines]
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "Answer to: hi there"

    traces = _traces(server, claude)
    assert len(traces) == before + 2
    plain, streamed = traces[1], traces[0]
    assert plain.info.trace_metadata["mlflow.gateway.requestType"] == "passthrough/model/anthropic-messages"
    assert plain.info.token_usage == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    assert streamed.info.token_usage == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    assert plain.data.spans[1].name == "provider/anthropic/claude-3-5-sonnet"
    joined = streamed.data.spans[0].outputs  # the stream joined into one message, as MLflow's reducer
    assert joined["content"] == [{"type": "text", "text": "Answer to: hi there"}]
    assert joined["stop_reason"] == "end_turn" and joined["usage"]["output_tokens"] == 4

    # An OpenAI-format route refuses an Anthropic endpoint, and the other way round.
    wrong = httpx.post(f"{server.url}/gateway/openai/v1/chat/completions", json=body)
    assert wrong.status_code == 400 and "not supported by mltrail" in wrong.json()["message"]
    wrong = httpx.post(f"{server.url}/gateway/anthropic/v1/messages", json={**body, "model": "gpt"})
    assert wrong.status_code == 400 and wrong.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_gemini_generate_content_plain_and_streamed(server, endpoints, fakes):
    gem = endpoints["gem"]
    before = len(_traces(server, gem))
    body = {"contents": [{"role": "user", "parts": [{"text": "what now"}]}]}
    answer = httpx.post(f"{server.url}/gateway/gemini/v1beta/models/gem:generateContent", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["candidates"][0]["content"]["parts"][0]["text"] == "Gemini says: what now"
    sent = fakes["gemini"].requests[-1]
    assert sent["model"] == "gemini-2.5-flash" and sent["headers"]["x-goog-api-key"] == GEMINI_KEY

    with httpx.stream(
        "POST", f"{server.url}/gateway/gemini/v1beta/models/gem:streamGenerateContent", json=body
    ) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        pieces = [json.loads(line[5:]) for line in resp.iter_lines() if line.startswith("data:")]
    assert (
        "".join(p["candidates"][0]["content"]["parts"][0]["text"] for p in pieces) == "Gemini says: what now"
    )
    assert fakes["gemini"].requests[-1]["path"].endswith(":streamGenerateContent?alt=sse")

    traces = _traces(server, gem)
    assert len(traces) == before + 2
    joined = traces[0].data.spans[0].outputs
    assert joined["candidates"][0]["content"]["parts"] == [{"text": "Gemini says: what now"}]
    assert joined["usageMetadata"]["totalTokenCount"] == 6
    for trace in traces[:2]:
        assert (
            trace.info.trace_metadata["mlflow.gateway.requestType"]
            == "passthrough/model/gemini-generateContent"
        )
        assert trace.info.token_usage == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    unknown = httpx.post(f"{server.url}/gateway/gemini/v1beta/models/nope:generateContent", json=body)
    assert unknown.status_code == 404


def test_bad_passthrough_input_is_400_never_500(server, endpoints):
    url = server.url
    for path, body in [
        ("/gateway/anthropic/v1/messages", {"max_tokens": 5, "messages": []}),  # no model
        ("/gateway/openai/v1/responses", {"model": 7, "input": "x"}),
        ("/gateway/anthropic/v1/messages", "not an object"),
        ("/gateway/proxy/gpt/chat/completions", ["a list"]),
    ]:
        resp = httpx.post(url + path, json=body)
        assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", (
            path,
            resp.text,
        )
    broken = httpx.post(
        url + "/gateway/openai/v1/responses",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 400, broken.text
    for path in (
        "/gateway/gemini/v1beta/models/nope:generateContent",
        "/gateway/proxy/nope/chat/completions",
    ):
        assert httpx.post(url + path, json={"contents": []}).status_code == 404
