"""The AI gateway's guardrails (MLflow 3.17): the guardrails/* API and the scorers run around proxied calls.

One ``mltrail server`` (secrets key, loopback targets allowed) and the loopback OpenAI
fake for the module. The guardrails' scorer is a ``make_judge`` judge registered in an
experiment, its model ``gateway:/judge`` (an endpoint of this server on the fake), so a
guardrail's verdict is a real LLM call through the gateway. The fake answers a judge
prompt "no" when the judged text mentions a banana, rewrites a sanitizer prompt's payload
with the banana redacted, and answers anything else as usual. The official client's REST
store drives the API; answers parse as MLflow's protobuf messages.
"""

from __future__ import annotations

import json

import httpx
import pytest
from google.protobuf.json_format import ParseDict
from mlflow.protos import service_pb2 as pb

from support.gateway_kit import chat_endpoints, gateway_server, official_store
from support.openai_server import OpenAIServer, default_responder

API = "/api/3.0/mlflow/gateway"
JUDGE_ASK = "Answer yes unless the text mentions a fruit"


def _respond(request: dict) -> str:
    text = " ".join(str(m.get("content")) for m in request.get("messages", []))
    if "You are a content sanitizer" in text:
        return text.split("Input payload:\n", 1)[1].replace("banana", "[REDACTED]")
    if JUDGE_ASK in text:
        if "banana" in text:
            return json.dumps({"result": "no", "rationale": "it mentions a fruit"})
        return json.dumps({"result": "yes", "rationale": "no fruit"})
    return default_responder(request)


@pytest.fixture(scope="module")
def fake():
    with OpenAIServer(_respond) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake):
    with gateway_server(tmp_path_factory.mktemp("guardrails"), "--no-scorer-worker") as live:
        yield live


@pytest.fixture(scope="module")
def store(server):
    return official_store(server.url)


@pytest.fixture(scope="module")
def endpoints(store, fake):
    names = ("judge", "guarded", "checked", "cleaned")
    return chat_endpoints(store, fake.base_url, *names, secret="guard-key", definition="mini")


def _register(server, monkeypatch, name: str, instructions: str) -> dict:
    """A make_judge judge registered in a fresh experiment: its ``Scorer`` record."""
    import mltrail
    import mltrail.genai.scorers  # gives judges their register()
    from mltrail.genai.judges import make_judge

    monkeypatch.setenv("MLTRAIL_TRACKING_URI", server.url)
    experiment_id = mltrail.create_experiment(f"guardrail-scorers-{name}")
    make_judge(name=name, instructions=instructions, model="gateway:/judge").register(
        name=name, experiment_id=experiment_id
    )
    found = httpx.get(
        f"{server.url}/api/3.0/mlflow/scorers/get", params={"experiment_id": experiment_id, "name": name}
    )
    assert found.status_code == 200, found.text
    return found.json()["scorer"]


@pytest.fixture(scope="module")
def scorers(server, endpoints):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return {
            "inputs": _register(server, monkeypatch, "no-fruit-in", JUDGE_ASK + ": {{ inputs }}"),
            "outputs": _register(server, monkeypatch, "no-fruit-out", JUDGE_ASK + ": {{ outputs }}"),
        }


def _chat(server, endpoint: str, content: str) -> httpx.Response:
    body = {"model": endpoint, "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{server.url}/gateway/mlflow/v1/chat/completions", json=body, timeout=60)


def _error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.json()["error_code"] == code
    return resp.json()["message"]


def test_official_client_manages_guardrails_and_endpoint_configs(server, store, endpoints, scorers):
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage
    from mlflow.exceptions import MlflowException

    scorer = scorers["inputs"]
    first = store.create_gateway_guardrail(
        "first",
        scorer["scorer_id"],
        scorer["scorer_version"],
        GuardrailStage.BEFORE,
        GuardrailAction.VALIDATION,
    )
    second = store.create_gateway_guardrail(
        "second",
        scorer["scorer_id"],
        scorer["scorer_version"],
        GuardrailStage.AFTER,
        GuardrailAction.SANITIZATION,
        action_endpoint_id=endpoints["judge"].endpoint_id,
    )
    assert first.guardrail_id.startswith("gr-") and first.scorer.scorer_name == "no-fruit-in"
    assert (first.scorer.scorer_id, first.scorer.scorer_version) == (
        scorer["scorer_id"],
        scorer["scorer_version"],
    )
    assert first.scorer.serialized_scorer.instructions_judge_pydantic_data["model"] == "gateway:/judge"
    assert second.action_endpoint_name == "judge"  # MLflow answers the endpoint's name
    assert store.get_gateway_guardrail(first.guardrail_id).to_proto() == first.to_proto()
    page = store.list_gateway_guardrails(max_results=1)
    rest = store.list_gateway_guardrails(max_results=1, page_token=page.token)
    assert {g.guardrail_id for g in [*page, *rest]} == {first.guardrail_id, second.guardrail_id}

    # Attached in execution order (unset last); twice is a conflict; reordering and detaching.
    guarded = endpoints["guarded"].endpoint_id
    store.add_guardrail_to_endpoint(guarded, second.guardrail_id)
    config = store.add_guardrail_to_endpoint(guarded, first.guardrail_id, execution_order=1)
    assert (config.execution_order, config.guardrail.name) == (1, "first")
    listed = store.list_endpoint_guardrail_configs(guarded)
    assert [c.guardrail_id for c in listed] == [first.guardrail_id, second.guardrail_id]
    assert [c.execution_order for c in listed] == [1, None]
    with pytest.raises(MlflowException, match="is already added to endpoint") as err:
        store.add_guardrail_to_endpoint(guarded, first.guardrail_id)
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    moved = store.update_endpoint_guardrail_config(guarded, second.guardrail_id, execution_order=0)
    assert moved.execution_order == 0
    assert store.list_endpoint_guardrail_configs(guarded)[0].guardrail_id == second.guardrail_id
    store.remove_guardrail_from_endpoint(guarded, second.guardrail_id)
    with pytest.raises(MlflowException, match="GuardrailConfig not found"):
        store.remove_guardrail_from_endpoint(guarded, second.guardrail_id)

    # Deleting a guardrail detaches it everywhere.
    store.delete_gateway_guardrail(first.guardrail_id)
    store.delete_gateway_guardrail(second.guardrail_id)
    assert store.list_endpoint_guardrail_configs(guarded) == []
    with pytest.raises(MlflowException, match="Guardrail not found") as err:
        store.get_gateway_guardrail(first.guardrail_id)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_bad_guardrail_requests(server, endpoints, scorers):
    http = httpx.Client(base_url=server.url + API, timeout=10)
    scorer = scorers["inputs"]
    base = {"name": "g", "scorer_id": scorer["scorer_id"], "scorer_version": scorer["scorer_version"],
            "stage": "BEFORE", "action": "VALIDATION"}  # fmt: skip
    assert _error(http.post("/guardrails/create", json={**base, "stage": "DURING"}), 400,
                  "INVALID_PARAMETER_VALUE") == "Invalid stage: DURING"  # fmt: skip
    assert "Missing value for required parameter 'name'" in _error(
        http.post("/guardrails/create", json={**base, "name": ""}), 400, "INVALID_PARAMETER_VALUE"
    )
    unknown = http.post("/guardrails/create", json={**base, "scorer_version": 99})
    assert "version 99 not found" in _error(unknown, 404, "RESOURCE_DOES_NOT_EXIST")
    missing = http.post(
        "/guardrails/add-to-endpoint", json={"endpoint_id": "e-none", "guardrail_id": "gr-none"}
    )
    assert "Endpoint not found" in _error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    listed = http.get("/guardrails/list-for-endpoint", params={"endpoint_id": endpoints["judge"].endpoint_id})
    ParseDict(listed.json(), pb.ListEndpointGuardrailConfigs.Response(), ignore_unknown_fields=False)
    assert listed.json() == {"configs": []}

    # A custom @scorer would run its code in the server: refused, as MLflow refuses it.
    custom = {"name": "custom", "call_source": "return True", "call_signature": "(outputs)",
              "original_func_name": "custom"}  # fmt: skip
    created = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": "custom-scorers"})
    experiment_id = created.json()["experiment_id"]
    registered = httpx.post(
        f"{server.url}/api/3.0/mlflow/scorers/register",
        json={"experiment_id": experiment_id, "name": "custom", "serialized_scorer": json.dumps(custom)},
    ).json()
    refused = http.post(
        "/guardrails/create", json={**base, "scorer_id": registered["scorer_id"], "scorer_version": 1}
    )
    assert "do not support custom scorers" in _error(refused, 400, "INVALID_PARAMETER_VALUE")


def test_guardrails_block_check_and_sanitize_calls(server, store, endpoints, scorers, fake):
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage

    def guardrail(name: str, scorer: dict, stage: GuardrailStage, action: GuardrailAction, **kw) -> str:
        made = store.create_gateway_guardrail(
            name, scorer["scorer_id"], scorer["scorer_version"], stage, action, **kw
        )
        return made.guardrail_id

    # BEFORE + VALIDATION: a request the judge fails never reaches the provider.
    store.add_guardrail_to_endpoint(
        endpoints["guarded"].endpoint_id,
        guardrail("no-fruit", scorers["inputs"], GuardrailStage.BEFORE, GuardrailAction.VALIDATION),
    )
    calls = len(fake.requests)
    blocked = _chat(server, "guarded", "Tell me about the banana")
    assert (
        _error(blocked, 400, "INVALID_PARAMETER_VALUE") == "Guardrail 'no-fruit' blocked: it mentions a fruit"
    )
    provider_calls = [r for r in fake.requests[calls:] if JUDGE_ASK not in json.dumps(r["body"])]
    assert provider_calls == []  # only the judge was asked
    passed = _chat(server, "guarded", "Tell me about Paris")
    assert passed.status_code == 200 and passed.json()["choices"][0]["message"]["content"] == (
        "Answer to: Tell me about Paris"
    )

    # AFTER + VALIDATION: the answer is judged; one that fails is not relayed.
    store.add_guardrail_to_endpoint(
        endpoints["checked"].endpoint_id,
        guardrail("no-fruit-answer", scorers["outputs"], GuardrailStage.AFTER, GuardrailAction.VALIDATION),
    )
    assert _chat(server, "checked", "Say hello").status_code == 200
    refused = _chat(server, "checked", "Repeat: banana")
    assert _error(refused, 400, "INVALID_PARAMETER_VALUE").startswith("Guardrail 'no-fruit-answer' blocked")

    # BEFORE + SANITIZATION: the action endpoint rewrites the request, which then goes on.
    store.add_guardrail_to_endpoint(
        endpoints["cleaned"].endpoint_id,
        guardrail(
            "redact-fruit",
            scorers["inputs"],
            GuardrailStage.BEFORE,
            GuardrailAction.SANITIZATION,
            action_endpoint_id=endpoints["judge"].endpoint_id,
        ),
    )
    cleaned = _chat(server, "cleaned", "My secret is banana")
    assert cleaned.status_code == 200, cleaned.text
    assert cleaned.json()["choices"][0]["message"]["content"] == "Answer to: My secret is [REDACTED]"
    assert fake.requests[-1]["body"]["messages"][0]["content"] == "My secret is [REDACTED]"

    # A caller cannot skip guardrails by sending the sanitizer's header.
    forged = httpx.post(
        f"{server.url}/gateway/mlflow/v1/chat/completions",
        json={"model": "guarded", "messages": [{"role": "user", "content": "banana"}]},
        headers={"X-Mltrail-Guardrail-Bypass": "1"},
        timeout=60,
    )
    assert forged.status_code == 400


def _traces(server, endpoint, count: int) -> list:
    """The endpoint's traces, oldest first, once there are ``count`` (a streamed call's trace is
    written after its last chunk has gone out, so the client may ask before it is there)."""
    import time

    from mlflow import MlflowClient

    client = MlflowClient(server.url)
    deadline = time.monotonic() + 15
    while True:
        found = client.search_traces(locations=[endpoint.experiment_id], order_by=["timestamp_ms ASC"])
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, [t.info.trace_id for t in found]
            return found
        time.sleep(0.05)


def _tree(trace) -> list[tuple[str, str, str | None, str]]:
    """(name, span type, parent's name, status) of each span, in the trace's order."""
    names = {s.span_id: s.name for s in trace.data.spans}
    return [(s.name, s.span_type, names.get(s.parent_id), s.status.status_code) for s in trace.data.spans]


def test_guardrail_runs_are_spans_of_the_call_trace(server, store, endpoints, scorers):
    """Each guardrail run is recorded in the proxied call's trace as MLflow records it: a GUARDRAIL
    span ``guardrail/<name>`` with an EVALUATOR ``judge`` (the verdict) and, for a rewrite, an LLM
    ``sanitization`` under it; a blocked call's guardrail span ends in ERROR with the exception."""
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage

    model = endpoints["judge"].model_mappings[0].model_definition_id
    config = GatewayEndpointModelConfig(model, GatewayModelLinkageType.PRIMARY)
    screened, rewritten = (store.create_gateway_endpoint(n, [config]) for n in ("traced-in", "traced-out"))
    before = store.create_gateway_guardrail(
        "in-check", scorers["inputs"]["scorer_id"], scorers["inputs"]["scorer_version"],
        GuardrailStage.BEFORE, GuardrailAction.VALIDATION,
    )  # fmt: skip
    after = store.create_gateway_guardrail(
        "out-clean", scorers["outputs"]["scorer_id"], scorers["outputs"]["scorer_version"],
        GuardrailStage.AFTER, GuardrailAction.SANITIZATION, action_endpoint_id=endpoints["judge"].endpoint_id,
    )  # fmt: skip
    store.add_guardrail_to_endpoint(screened.endpoint_id, before.guardrail_id)
    store.add_guardrail_to_endpoint(rewritten.endpoint_id, after.guardrail_id)
    provider = ("provider/openai/gpt-4o-mini", "LLM", "gateway/traced-in", "OK")

    # BEFORE + VALIDATION, passed: the guardrail's span comes before the provider's.
    assert _chat(server, "traced-in", "Tell me about Paris").status_code == 200
    # ... blocked: the guardrail span ends in ERROR; no provider span.
    assert _chat(server, "traced-in", "Tell me about the banana").status_code == 400
    # ... a streamed call: its BEFORE guardrail runs in its trace too.
    body = {"model": "traced-in", "stream": True, "messages": [{"role": "user", "content": "Hi Paris"}]}
    with httpx.stream("POST", f"{server.url}/gateway/mlflow/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200 and "data: [DONE]" in "".join(r.iter_text())
    passed, blocked, streamed = _traces(server, screened, 3)

    assert _tree(passed) == [
        ("gateway/traced-in", "UNKNOWN", None, "OK"),
        ("guardrail/in-check", "GUARDRAIL", "gateway/traced-in", "OK"),
        ("judge", "EVALUATOR", "guardrail/in-check", "OK"),
        provider,
    ]
    run, judge = passed.data.spans[1:3]
    request = {"model": "traced-in", "messages": [{"role": "user", "content": "Tell me about Paris"}]}
    assert run.inputs == request and run.outputs == request
    assert judge.outputs == {"passed": True, "rationale": "no fruit"}

    assert blocked.info.state == "ERROR"
    assert _tree(blocked) == [
        ("gateway/traced-in", "UNKNOWN", None, "ERROR"),
        ("guardrail/in-check", "GUARDRAIL", "gateway/traced-in", "ERROR"),
        ("judge", "EVALUATOR", "guardrail/in-check", "OK"),
    ]
    run, judge = blocked.data.spans[1:3]
    assert judge.outputs == {"passed": False, "rationale": "it mentions a fruit"}
    assert run.outputs is None
    assert run.status.description == "GuardrailViolation: Guardrail 'in-check' blocked: it mentions a fruit"
    [event] = run.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "GuardrailViolation"
    assert event.attributes["exception.message"] == "Guardrail 'in-check' blocked: it mentions a fruit"

    assert [(name, kind) for name, kind, _, _ in _tree(streamed)] == [
        ("gateway/traced-in", "UNKNOWN"), ("guardrail/in-check", "GUARDRAIL"), ("judge", "EVALUATOR"),
        ("provider/openai/gpt-4o-mini", "LLM"),
    ]  # fmt: skip
    assert streamed.data.spans[1].inputs["stream"] is True

    # AFTER + SANITIZATION: after the provider's span, with the rewrite under it.
    cleaned = _chat(server, "traced-out", "Repeat: banana")
    assert cleaned.status_code == 200, cleaned.text
    assert cleaned.json()["choices"][0]["message"]["content"] == "Answer to: Repeat: [REDACTED]"
    [trace] = _traces(server, rewritten, 1)
    assert _tree(trace) == [
        ("gateway/traced-out", "UNKNOWN", None, "OK"),
        ("provider/openai/gpt-4o-mini", "LLM", "gateway/traced-out", "OK"),
        ("guardrail/out-clean", "GUARDRAIL", "gateway/traced-out", "OK"),
        ("judge", "EVALUATOR", "guardrail/out-clean", "OK"),
        ("sanitization", "LLM", "guardrail/out-clean", "OK"),
    ]
    run, judge, rewrite = trace.data.spans[2:]
    answer = run.inputs["response"]
    assert run.inputs["request"]["messages"][0]["content"] == "Repeat: banana"
    assert answer["choices"][0]["message"]["content"] == "Answer to: Repeat: banana"
    assert judge.outputs == {"passed": False, "rationale": "it mentions a fruit"}
    assert rewrite.inputs == {"payload": answer, "rationale": "it mentions a fruit"}
    assert rewrite.outputs == run.outputs == cleaned.json()
    # The sanitization's LLM span carries no model or usage: the trace's cost is the provider call's.
    assert trace.info.token_usage == trace.data.spans[1].attributes["mlflow.chat.tokenUsage"]


def _stream(server, path: str, body: dict) -> tuple[int, str, str]:
    """A call read to its end: (status, content type, body text)."""
    with httpx.stream("POST", f"{server.url}{path}", json=body, timeout=60) as resp:
        return resp.status_code, resp.headers["content-type"], resp.read().decode()


def _streamed_text(text: str) -> str:
    """The answer an OpenAI chat stream carries (its chunks' deltas joined)."""
    chunks = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def _provider_calls(fake, since: int) -> list:
    """The fake's requests after ``since`` that are not a judge's."""
    return [r for r in fake.requests[since:] if JUDGE_ASK not in json.dumps(r["body"])]


def test_a_streamed_call_a_guardrail_blocks_is_answered_with_an_error_event(
    server, store, endpoints, scorers, fake
):
    """As MLflow 3.17: its BEFORE guardrails run once the stream has started, so a refusal is a 200
    event stream of one error event (no ``[DONE]``) on every route that streams; the raw proxy, which
    does not know yet whether its answer streams, answers 400. AFTER guardrails never see a stream."""
    import openai
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage

    scorer = scorers["inputs"]
    model = endpoints["judge"].model_mappings[0].model_definition_id
    config = GatewayEndpointModelConfig(model, GatewayModelLinkageType.PRIMARY)
    made = {n: store.create_gateway_endpoint(n, [config]) for n in ("stream-in", "stream-out")}
    made.update(chat_endpoints(store, fake.base_url, "stream-claude", secret="an-key", definition="an-model",
                               provider="anthropic", model="claude-3-5-haiku"))  # fmt: skip
    made.update(chat_endpoints(store, fake.base_url, "stream-gemini", secret="ge-key", definition="ge-model",
                               provider="gemini", model="gemini-2.0-flash"))  # fmt: skip
    before = store.create_gateway_guardrail(
        "stream-check",
        scorer["scorer_id"],
        scorer["scorer_version"],
        GuardrailStage.BEFORE,
        GuardrailAction.VALIDATION,
    )
    after = store.create_gateway_guardrail(
        "late-check",
        scorer["scorer_id"],
        scorer["scorer_version"],
        GuardrailStage.AFTER,
        GuardrailAction.VALIDATION,
    )
    for name in ("stream-in", "stream-claude", "stream-gemini"):
        store.add_guardrail_to_endpoint(made[name].endpoint_id, before.guardrail_id)
    store.add_guardrail_to_endpoint(made["stream-out"].endpoint_id, after.guardrail_id)

    blocked = "Guardrail 'stream-check' blocked: it mentions a fruit"
    event = 'data: {"error": {"message": "' + blocked + '", "type": "GuardrailViolation"}}\n\n'
    messages = [{"role": "user", "content": "Tell me about the banana"}]
    calls = len(fake.requests)
    streamed = {
        "/gateway/mlflow/v1/chat/completions": {"model": "stream-in", "messages": messages, "stream": True},
        "/gateway/stream-in/mlflow/invocations": {"messages": messages, "stream": True},
        "/gateway/openai/v1/chat/completions": {"model": "stream-in", "messages": messages, "stream": True},
        "/gateway/openai/v1/responses": {"model": "stream-in", "input": "banana", "stream": True},
        "/gateway/anthropic/v1/messages": {"model": "stream-claude", "messages": messages, "max_tokens": 9,
                                           "stream": True},
        # Gemini's stream route streams without a flag
        "/gateway/gemini/v1beta/models/stream-gemini:streamGenerateContent": {
            "contents": [{"role": "user", "parts": [{"text": "banana"}]}]},
    }  # fmt: skip
    for path, body in streamed.items():
        assert _stream(server, path, body) == (200, "text/event-stream; charset=utf-8", event), path
    raw = _stream(server, "/gateway/proxy/stream-in/chat/completions", {"model": "gpt-4o-mini", "messages": messages,
                                                                      "stream": True})  # fmt: skip
    assert raw[0] == 400 and json.loads(raw[2]) == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": blocked,
    }
    assert _provider_calls(fake, calls) == []  # only the judge was asked, each time

    # The official client reads the event as the API error it is.
    client = openai.OpenAI(base_url=f"{server.url}/gateway/mlflow/v1", api_key="unused")
    with pytest.raises(openai.APIError, match=blocked) as err:
        list(client.chat.completions.create(model="stream-in", messages=messages, stream=True))
    assert err.value.body == {"message": blocked, "type": "GuardrailViolation"}

    # The call's trace is the blocked call's: the guardrail span in ERROR, no provider span.
    *_, last = _traces(server, made["stream-in"], 6)
    assert last.info.state == "ERROR"
    assert _tree(last) == [
        ("gateway/stream-in", "UNKNOWN", None, "ERROR"),
        ("guardrail/stream-check", "GUARDRAIL", "gateway/stream-in", "ERROR"),
        ("judge", "EVALUATOR", "guardrail/stream-check", "OK"),
    ]
    assert last.data.spans[1].events[0].attributes["exception.message"] == blocked

    # A request that passes streams as usual.
    status, _, text = _stream(server, "/gateway/mlflow/v1/chat/completions",
                              {"model": "stream-in", "messages": [{"role": "user", "content": "Hi"}], "stream": True})  # fmt: skip
    assert status == 200 and text.rstrip().endswith("data: [DONE]") and '"error"' not in text

    # AFTER guardrails: not run on a streamed answer (this one's request would fail it).
    status, _, text = _stream(server, "/gateway/openai/v1/chat/completions",
                              {"model": "stream-out", "messages": messages, "stream": True})  # fmt: skip
    assert status == 200 and text.rstrip().endswith("data: [DONE]")
    assert _streamed_text(text) == "Answer to: Tell me about the banana"
    [trace] = _traces(server, made["stream-out"], 1)
    assert [name for name, *_ in _tree(trace)] == ["gateway/stream-out", "provider/openai/gpt-4o-mini"]
    # ... but run on the same call unstreamed.
    assert _error(_chat(server, "stream-out", "the banana"), 400, "INVALID_PARAMETER_VALUE").startswith(
        "Guardrail 'late-check' blocked"
    )


def test_embeddings_run_the_guardrails_mlflow_runs(server, store, endpoints, scorers, fake):
    """As MLflow 3.17: a unified ``/invocations`` embeddings call runs no guardrails; an OpenAI-format
    ``/embeddings`` call runs the BEFORE ones (a refusal is a 400) and never the AFTER ones."""
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage

    scorer = scorers["inputs"]
    model = endpoints["judge"].model_mappings[0].model_definition_id
    config = GatewayEndpointModelConfig(model, GatewayModelLinkageType.PRIMARY)
    made = {n: store.create_gateway_endpoint(n, [config]) for n in ("embed-in", "embed-out")}
    for name, stage in (("embed-in", GuardrailStage.BEFORE), ("embed-out", GuardrailStage.AFTER)):
        guardrail = store.create_gateway_guardrail(
            f"{name}-check", scorer["scorer_id"], scorer["scorer_version"], stage, GuardrailAction.VALIDATION
        )
        store.add_guardrail_to_endpoint(made[name].endpoint_id, guardrail.guardrail_id)

    def embed(path: str, body: dict) -> httpx.Response:
        return httpx.post(f"{server.url}{path}", json=body, timeout=60)

    calls = len(fake.requests)
    for name in ("embed-in", "embed-out"):
        unified = embed(f"/gateway/{name}/mlflow/invocations", {"input": ["a banana", "a pear"]})
        assert unified.status_code == 200, unified.text
        assert [d["index"] for d in unified.json()["data"]] == [0, 1]
    assert [r["path"] for r in fake.requests[calls:]] == ["/v1/embeddings"] * 2  # no judge asked

    refused = embed("/gateway/openai/v1/embeddings", {"model": "embed-in", "input": "a banana"})
    assert (
        _error(refused, 400, "INVALID_PARAMETER_VALUE")
        == "Guardrail 'embed-in-check' blocked: it mentions a fruit"
    )
    # ... "stream" or not: an embeddings call never answers as a stream.
    refused = embed(
        "/gateway/openai/v1/embeddings", {"model": "embed-in", "input": "a banana", "stream": True}
    )
    assert refused.status_code == 400
    assert embed("/gateway/openai/v1/embeddings", {"model": "embed-in", "input": "Paris"}).status_code == 200
    late = embed("/gateway/openai/v1/embeddings", {"model": "embed-out", "input": "a banana"})
    assert late.status_code == 200 and len(late.json()["data"][0]["embedding"]) == 8

    unified, *_, passed = _traces(server, made["embed-in"], 4)
    assert [name for name, *_ in _tree(unified)] == ["gateway/embed-in", "provider/openai/gpt-4o-mini"]
    assert [name for name, *_ in _tree(passed)] == [
        "gateway/embed-in", "guardrail/embed-in-check", "judge", "provider/openai/gpt-4o-mini"
    ]  # fmt: skip
    for trace in _traces(server, made["embed-out"], 2):
        assert [name for name, *_ in _tree(trace)] == ["gateway/embed-out", "provider/openai/gpt-4o-mini"]


def test_a_guardrail_that_cannot_judge_refuses_a_streamed_call_in_its_stream(server, store, endpoints, fake):
    """A scorer whose LLM answers no verdict refuses the call: 503 unstreamed, an error event streamed."""
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage

    with pytest.MonkeyPatch.context() as monkeypatch:  # the fake answers this prompt with plain text
        scorer = _register(server, monkeypatch, "no-verdict", "Is this text fine: {{ inputs }}")
    model = endpoints["judge"].model_mappings[0].model_definition_id
    config = GatewayEndpointModelConfig(model, GatewayModelLinkageType.PRIMARY)
    endpoint = store.create_gateway_endpoint("unjudged", [config])
    guardrail = store.create_gateway_guardrail(
        "mute",
        scorer["scorer_id"],
        scorer["scorer_version"],
        GuardrailStage.BEFORE,
        GuardrailAction.VALIDATION,
    )
    store.add_guardrail_to_endpoint(endpoint.endpoint_id, guardrail.guardrail_id)

    message = _error(_chat(server, "unjudged", "Hello"), 503, "TEMPORARILY_UNAVAILABLE")
    assert message.startswith("Guardrail 'mute' could not run: ")
    body = {"model": "unjudged", "messages": [{"role": "user", "content": "Hello"}], "stream": True}
    status, kind, text = _stream(server, "/gateway/mlflow/v1/chat/completions", body)
    assert (status, kind) == (200, "text/event-stream; charset=utf-8")
    [line] = text.splitlines()[:1]
    assert text == line + "\n\n" and line.startswith("data: ")
    error = json.loads(line[6:])["error"]
    assert error["type"] == "GuardrailUnavailable" and error["message"].startswith(
        "Guardrail 'mute' could not run: "
    )
