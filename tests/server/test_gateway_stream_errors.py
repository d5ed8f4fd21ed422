"""A streamed gateway call whose provider fails, as MLflow 3.17 answers it: inside the stream.

MLflow calls the provider once it has answered a ``"stream": true`` call 200, so a provider that
answers an HTTP error, cannot be reached or breaks off its stream is an error event
``data: {"error": {"message", "type"}}`` (no ``[DONE]``): ``"<status>: <detail>"`` typed
``HTTPException`` for an HTTP error, after an endpoint's fallbacks have all failed its fallback
router's ``All N fallback attempts failed. Last error: ...`` typed ``AIGatewayException``. The
unstreamed call keeps its HTTP error. One ``mltrail server`` and the loopback OpenAI fake (told to
fail with ``fail_next``) for the module; the official ``openai`` client reads the events.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from support.gateway_kit import chat_endpoints, gateway_server, official_store
from support.openai_server import OpenAIServer

DEAD = "http://127.0.0.1:9/v1"  # nothing listens there: connection refused
HI = [{"role": "user", "content": "Hi there"}]
SSE = "text/event-stream; charset=utf-8"


@pytest.fixture(scope="module")
def fake():
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake):
    with gateway_server(tmp_path_factory.mktemp("stream-errors"), "--no-scorer-worker") as live:
        yield live


@pytest.fixture(scope="module")
def endpoints(server, fake):
    """``flaky`` (the fake), ``dead`` (nothing listening), ``failover`` (dead, then the fake)."""
    from mlflow.entities import FallbackConfig, FallbackStrategy, GatewayEndpointModelConfig
    from mlflow.entities import GatewayModelLinkageType as L

    store = official_store(server.url)
    made = chat_endpoints(store, fake.base_url, "flaky", secret="flaky-key", definition="flaky-model")
    made.update(chat_endpoints(store, DEAD, "dead", secret="dead-key", definition="dead-model"))
    models = [m.model_mappings[0].model_definition_id for m in (made["dead"], made["flaky"])]
    made["failover"] = store.create_gateway_endpoint(
        "failover",
        [GatewayEndpointModelConfig(models[0], L.PRIMARY),
         GatewayEndpointModelConfig(models[1], L.FALLBACK, 1.0, 1)],
        fallback_config=FallbackConfig(strategy=FallbackStrategy.SEQUENTIAL, max_attempts=1),
    )  # fmt: skip
    return made


def _stream(server, path: str, body: dict) -> tuple[int, str, str]:
    """A call read to its end: (status, content type, body text)."""
    with httpx.stream("POST", f"{server.url}{path}", json=body, timeout=60) as resp:
        return resp.status_code, resp.headers["content-type"], resp.read().decode()


def _events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def _traces(server, endpoint, count: int) -> list:
    """The endpoint's traces, oldest first, once there are ``count`` (a stream's is written at its end)."""
    from mlflow import MlflowClient

    client = MlflowClient(server.url)
    deadline = time.monotonic() + 15
    while True:
        found = client.search_traces(locations=[endpoint.experiment_id], order_by=["timestamp_ms ASC"])
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, [t.info.trace_id for t in found]
            return found
        time.sleep(0.05)


def _statuses(trace) -> list[tuple[str, str]]:
    return [(s.name, s.status.status_code) for s in trace.data.spans]


def test_a_provider_error_before_the_first_chunk_is_an_error_event(server, endpoints, fake):
    """An HTTP error from the provider on each route that streams: one event ``"<status>: <detail>"``
    typed ``HTTPException`` in a 200 stream, no ``[DONE]``; the call's trace in ERROR as before."""
    import openai

    detail = "The server had an error while processing your request"
    expected = f"data: {json.dumps({'error': {'message': f'500: {detail}', 'type': 'HTTPException'}})}\n\n"
    streamed = {
        "/gateway/mlflow/v1/chat/completions": {"model": "flaky", "messages": HI, "stream": True},
        "/gateway/flaky/mlflow/invocations": {"messages": HI, "stream": True},
        "/gateway/openai/v1/chat/completions": {"model": "flaky", "messages": HI, "stream": True},
        "/gateway/openai/v1/responses": {"model": "flaky", "input": "Hi there", "stream": True},
    }
    for path, body in streamed.items():
        fake.fail_next(500, message=detail)
        assert _stream(server, path, body) == (200, SSE, expected), path
    # A 4xx (not retried): the same, with its status.
    fake.fail_next(400, message="'messages' is too long")
    status, _, text = _stream(server, "/gateway/openai/v1/chat/completions", streamed[
        "/gateway/openai/v1/chat/completions"])  # fmt: skip
    assert status == 200 and _events(text) == [
        {"error": {"message": "400: 'messages' is too long", "type": "HTTPException"}}
    ]

    # The official client raises its APIError on the event.
    fake.fail_next(503, message="overloaded")
    client = openai.OpenAI(base_url=f"{server.url}/gateway/mlflow/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIError, match="503: overloaded") as err:
        list(client.chat.completions.create(model="flaky", messages=HI, stream=True))
    assert err.value.body == {"message": "503: overloaded", "type": "HTTPException"}

    # Unstreamed, the provider's failure is still the call's HTTP error.
    fake.fail_next(500, message=detail)
    plain = httpx.post(f"{server.url}/gateway/mlflow/v1/chat/completions",
                       json={"model": "flaky", "messages": HI}, timeout=60)  # fmt: skip
    assert plain.status_code == 503 and plain.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert plain.json()["message"] == f"The openai provider answered 500: {detail}"

    # Each streamed call is traced as a failed one: the provider's span and the call's in ERROR.
    traces = _traces(server, endpoints["flaky"], 7)
    assert all(t.info.state == "ERROR" for t in traces)
    last_streamed = traces[-2]
    assert _statuses(last_streamed) == [("gateway/flaky", "ERROR"), ("provider/openai/gpt-4o-mini", "ERROR")]
    assert "503: overloaded" in last_streamed.data.spans[0].status.description


def test_an_unreachable_provider_and_failed_fallbacks_are_error_events(server, endpoints, fake):
    """Connection refused: an event typed as the client's error. With fallbacks, every model is
    tried before the first chunk; when all fail, MLflow's fallback router's error."""
    body = {"model": "dead", "messages": HI, "stream": True}
    status, kind, text = _stream(server, "/gateway/mlflow/v1/chat/completions", body)
    [event] = _events(text)
    assert (status, kind, set(event["error"])) == (200, SSE, {"message", "type"})
    assert event["error"]["type"] == "ConnectError" and "[DONE]" not in text
    # ... the fake dropping the connection unanswered
    fake.fail_next("drop")
    status, _, text = _stream(server, "/gateway/mlflow/v1/chat/completions", {**body, "model": "flaky"})
    [event] = _events(text)
    assert status == 200 and event["error"]["type"] == "RemoteProtocolError"

    # The fallback answers when the primary cannot be reached: the stream as usual.
    status, _, text = _stream(server, "/gateway/mlflow/v1/chat/completions", {**body, "model": "failover"})
    assert status == 200 and text.rstrip().endswith("data: [DONE]")
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in _events(text) if e["choices"]) == (
        "Answer to: Hi there"
    )
    # ... and when it fails too: one event for the lot.
    fake.fail_next(502, message="bad gateway")
    status, _, text = _stream(server, "/gateway/openai/v1/chat/completions", {**body, "model": "failover"})
    assert status == 200 and _events(text) == [
        {
            "error": {
                "message": "All 2 fallback attempts failed. Last error: 502: bad gateway",
                "type": "AIGatewayException",
            }
        }
    ]
    [_, failed] = _traces(server, endpoints["failover"], 2)
    assert failed.info.state == "ERROR"
    assert _statuses(failed) == [
        ("gateway/failover", "ERROR"),
        ("provider/openai/gpt-4o-mini", "ERROR"),
        ("provider/openai/gpt-4o-mini", "ERROR"),
    ]


def test_a_stream_that_breaks_mid_way_ends_with_an_error_event(server, endpoints, fake):
    """The provider hangs up after its first chunk: that chunk went out, then an error event (no
    fallback: the caller already has part of an answer); the trace in ERROR."""
    import openai

    for path, body in [
        ("/gateway/mlflow/v1/chat/completions", {"model": "flaky", "messages": HI, "stream": True}),
        ("/gateway/openai/v1/chat/completions", {"model": "failover", "messages": HI, "stream": True}),
    ]:
        before = len(fake.requests)
        fake.fail_next("cut")
        status, kind, text = _stream(server, path, body)
        first, broken = _events(text)
        assert (status, kind) == (200, SSE) and first["choices"][0]["delta"] == {
            "role": "assistant",
            "content": "",
        }
        assert broken["error"]["type"] == "RemoteProtocolError" and "[DONE]" not in text
        assert len(fake.requests) == before + 1  # the fallback (failover's dead primary) came first

    fake.fail_next("cut")
    client = openai.OpenAI(base_url=f"{server.url}/gateway/mlflow/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="flaky", messages=HI, stream=True))
    trace = _traces(server, endpoints["flaky"], 10)[-1]
    assert trace.info.state == "ERROR"
    assert "The stream from the provider broke: RemoteProtocolError" in trace.data.spans[0].status.description


def test_a_streamed_compaction_is_refused(server, endpoints, fake):
    """``/responses/compact`` is unary: ``"stream": true`` is a 400 before the endpoint is looked up."""
    before = len(fake.requests)
    for model in ("flaky", "no-such-endpoint"):
        refused = httpx.post(
            f"{server.url}/gateway/openai/v1/responses/compact",
            json={"model": model, "input": "Hi", "stream": True},
            timeout=60,
        )
        assert refused.status_code == 400
        assert refused.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": "stream=true is not supported on /responses/compact; compaction is a unary request.",
            "detail": "stream=true is not supported on /responses/compact; compaction is a unary request.",
        }
    assert len(fake.requests) == before
    compacted = httpx.post(
        f"{server.url}/gateway/openai/v1/responses/compact",
        json={"model": "flaky", "input": "Hi", "stream": False},
        timeout=60,
    )
    assert compacted.status_code == 200 and fake.requests[-1]["path"] == "/v1/responses/compact"
