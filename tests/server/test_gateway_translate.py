"""OpenAI-format gateway calls to Anthropic and Gemini endpoints, translated both ways (as MLflow 3.17).

One ``mltrail server`` and the loopback fakes of OpenAI, Anthropic (Messages) and
Gemini (generateContent, embedContent), each speaking its API's wire format and
refusing what the real one refuses (unknown fields, wrong roles). The official
``openai`` package calls ``/gateway/mlflow/v1/chat/completions`` for endpoints whose
model is Anthropic's or Gemini's, streamed and not, with tools; the fakes record the
translated requests they received. Traces and usage must count the translated calls'
tokens; a fallback endpoint mixes an OpenAI primary with an Anthropic fallback.
"""

from __future__ import annotations

import json

import httpx
import pytest

from support.anthropic_server import TEST_API_KEY as ANTHROPIC_KEY
from support.anthropic_server import AnthropicServer
from support.anthropic_server import default_responder as anthropic_default
from support.gemini_server import TEST_API_KEY as GEMINI_KEY
from support.gemini_server import GeminiServer, embedding
from support.gemini_server import default_responder as gemini_default
from support.live_server import LOOPBACK_HTTP, start_server, stop_server
from support.openai_server import OpenAIServer

OPENAI_KEY = "sk-openai-0123456789abcdef"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def fakes():
    with OpenAIServer() as o, AnthropicServer() as a, GeminiServer() as g:
        yield {"openai": o, "anthropic": a, "gemini": g}


@pytest.fixture(scope="module")
def server(tmp_path_factory, fakes):
    env = {"MLTRAIL_SECRET_KEY": "a-test-server-key-of-32-characters!"}
    live = start_server(tmp_path_factory.mktemp("gateway-xlate"), None, *LOOPBACK_HTTP, env=env)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def endpoints(server, fakes):
    """``claude`` (anthropic), ``gem`` and ``gem-embed`` (gemini), ``mixed`` (a dead OpenAI, then claude),
    ``split`` (OpenAI and Gemini sharing the traffic)."""
    from mlflow.entities import FallbackConfig, FallbackStrategy, GatewayEndpointModelConfig, RoutingStrategy
    from mlflow.entities import GatewayModelLinkageType as L
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.rest_utils import MlflowHostCreds

    store = RestStore(lambda: MlflowHostCreds(server.url))
    bases = {
        "openai": fakes["openai"].base_url,
        "anthropic": fakes["anthropic"].base_url + "/v1",
        "gemini": fakes["gemini"].base_url,
        "dead": "http://127.0.0.1:1/v1",  # nothing listens there: the call fails over
    }
    keys = {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY, "gemini": GEMINI_KEY, "dead": OPENAI_KEY}
    defs = {}
    for name, base, provider, model in [
        ("claude", "anthropic", "anthropic", "claude-3-5-sonnet"),
        ("gem", "gemini", "gemini", "gemini-2.5-flash"),
        ("gem-embed", "gemini", "gemini", "text-embedding-004"),
        ("gpt", "openai", "openai", "gpt-4o-mini"),
        ("dead", "dead", "openai", "gpt-4o-mini"),
    ]:
        secret = store.create_gateway_secret(
            f"{name}-key", {"api_key": keys[base]}, provider=provider, auth_config={"api_base": bases[base]}
        )
        defs[name] = store.create_gateway_model_definition(f"{name}-model", secret.secret_id, provider, model)

    def config(name, linkage=L.PRIMARY, **kw):
        return GatewayEndpointModelConfig(defs[name].model_definition_id, linkage, **kw)

    found = {
        name: store.create_gateway_endpoint(name, [config(name)]) for name in ("claude", "gem", "gem-embed")
    }
    found["mixed"] = store.create_gateway_endpoint(
        "mixed",
        [config("dead"), config("claude", L.FALLBACK, fallback_order=1)],
        fallback_config=FallbackConfig(strategy=FallbackStrategy.SEQUENTIAL, max_attempts=1),
    )
    found["split"] = store.create_gateway_endpoint(
        "split",
        [config("gpt", weight=0.5), config("gem", weight=0.5)],
        routing_strategy=RoutingStrategy.REQUEST_BASED_TRAFFIC_SPLIT,
    )
    return found


@pytest.fixture(scope="module")
def client(server):
    import openai

    found = openai.OpenAI(base_url=f"{server.url}/gateway/mlflow/v1", api_key="unused", max_retries=0)
    yield found
    found.close()


@pytest.fixture(autouse=True)
def default_answers(fakes):
    yield
    fakes["anthropic"].set_responder(anthropic_default)
    fakes["gemini"].set_responder(gemini_default)


def _traces(server, endpoint):
    from mlflow import MlflowClient

    return MlflowClient(server.url).search_traces(
        locations=[endpoint.experiment_id], order_by=["timestamp_ms DESC"]
    )


def _usage(server, endpoint_id):
    rows = httpx.get(f"{server.url}/ajax-api/3.0/mltrail/gateway/usage", params={"endpoint_id": endpoint_id})
    rows = rows.json()["usage"]
    return sum(r["input_tokens"] for r in rows), sum(r["output_tokens"] for r in rows)


def test_anthropic_chat_is_translated_plain_and_streamed(server, endpoints, fakes, client):
    claude, fake = endpoints["claude"], fakes["anthropic"]
    before = len(_traces(server, claude))
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Be kind."},  # OpenAI's newer name for a system message
        {"role": "user", "content": "hi there"},
    ]
    reply = client.chat.completions.create(
        model="claude", messages=messages, temperature=1.0, max_tokens=50, stop="zzz", user="u-1", seed=7
    )
    assert reply.object == "chat.completion" and reply.model == "claude-3-5-sonnet"
    assert reply.id.startswith("msg_")
    assert reply.choices[0].message.content == "Answer to: hi there"
    assert reply.choices[0].message.role == "assistant" and reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (2, 4, 6)
    sent = fake.requests[-1]
    assert sent["headers"]["x-api-key"] == ANTHROPIC_KEY and sent["headers"]["anthropic-version"]
    assert sent["body"] == {
        "model": "claude-3-5-sonnet",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi there"}],
        "system": "Be brief.\nBe kind.",
        "temperature": 0.5,  # OpenAI's 0-2 onto Anthropic's 0-1
        "stop_sequences": ["zzz"],
        "metadata": {"user_id": "u-1"},
    }

    # Streamed: chunk by chunk, the stop reason and the usage on the last one, then [DONE].
    stream = client.chat.completions.create(
        model="claude", messages=messages[2:], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert fake.requests[-1]["body"]["stream"] is True and "stream_options" not in fake.requests[-1]["body"]
    assert fake.requests[-1]["body"]["max_tokens"] == 8192  # MLflow's default
    assert all(c.object == "chat.completion.chunk" and c.model == "claude-3-5-sonnet" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Answer to: hi there"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 2 and chunks[-1].usage.completion_tokens == 4

    # max_tokens reached: finish_reason "length"; the stop sequence: "stop".
    short = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "one two three"}], max_tokens=2
    )
    assert short.choices[0].message.content == "Answer to:" and short.choices[0].finish_reason == "length"

    traces = _traces(server, claude)
    assert len(traces) == before + 3
    plain, streamed = traces[2], traces[1]
    assert plain.info.trace_metadata["mlflow.gateway.requestType"] == "unified/chat"
    assert plain.info.token_usage == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    assert plain.info.cost and plain.info.cost["total_cost"] > 0  # claude-3-5-sonnet is priced
    root, provider = plain.data.spans
    assert root.inputs["messages"] == messages and root.outputs["choices"][0]["message"]["content"]
    assert provider.name == "provider/anthropic/claude-3-5-sonnet"
    assert provider.attributes["mlflow.chat.tokenUsage"]["input_tokens"] == 2
    assert streamed.info.token_usage == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    joined = streamed.data.spans[0].outputs
    assert joined["object"] == "chat.completion"
    assert joined["choices"][0]["message"]["content"] == "Answer to: hi there"
    assert _usage(server, claude.endpoint_id) == (2 + 2 + 3, 4 + 4 + 2)


def test_anthropic_tool_calls_both_ways_and_streamed(server, endpoints, fakes, client):
    fake = fakes["anthropic"]
    fake.set_responder(
        lambda body: [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        ]
    )
    question = [{"role": "user", "content": "Weather in Paris?"}]
    reply = client.chat.completions.create(
        model="claude",
        messages=question,
        tools=[WEATHER_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    sent = fake.requests[-1]["body"]
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me look."
    [call] = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("toolu_01", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    # The tool's result goes back as Anthropic's tool_use / tool_result blocks.
    fake.set_responder(anthropic_default)
    follow = client.chat.completions.create(
        model="claude",
        messages=[
            *question,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert follow.choices[0].finish_reason == "stop"
    sent = fake.requests[-1]["body"]
    assert sent["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert sent["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"}]},
    ]

    # Streamed: the call's id and name first, its arguments in pieces, finish_reason tool_calls.
    fake.set_responder(
        lambda body: [
            {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Oslo"}}
        ]
    )
    chunks = list(
        client.chat.completions.create(model="claude", messages=question, tools=[WEATHER_TOOL], stream=True)
    )
    deltas = [d for c in chunks for d in (c.choices[0].delta.tool_calls or ())]
    assert deltas[0].id == "toolu_02" and deltas[0].function.name == "get_weather"
    assert {d.index for d in deltas} == {0}
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    joined = _traces(server, endpoints["claude"])[0].data.spans[0].outputs["choices"][0]  # the trace's output
    assert joined["finish_reason"] == "tool_calls" and joined["message"]["tool_calls"] == [
        {
            "id": "toolu_02",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
        }
    ]


def test_gemini_chat_is_translated_plain_and_streamed(server, endpoints, fakes, client):
    gem, fake = endpoints["gem"], fakes["gemini"]
    before = len(_traces(server, gem))
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "what now"},
        {"role": "assistant", "content": "Ask me."},
        {"role": "user", "content": [{"type": "text", "text": "the news"}]},
    ]
    reply = client.chat.completions.create(
        model="gem", messages=messages, temperature=0.3, top_p=0.9, max_tokens=40, n=2, stop=["zzz"]
    )
    sent = fake.requests[-1]
    assert sent["model"] == "gemini-2.5-flash" and sent["path"].endswith(":generateContent")
    assert sent["headers"]["x-goog-api-key"] == GEMINI_KEY
    assert sent["body"] == {
        "contents": [
            {"role": "user", "parts": [{"text": "what now"}]},
            {"role": "model", "parts": [{"text": "Ask me."}]},
            {"role": "user", "parts": [{"text": "the news"}]},
        ],
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.3, "topP": 0.9, "maxOutputTokens": 40, "candidateCount": 2, "stopSequences": ["zzz"],
        },
    }  # fmt: skip
    assert reply.object == "chat.completion" and reply.model == "gemini-2.5-flash"
    assert [(c.index, c.message.content, c.finish_reason) for c in reply.choices] == [
        (0, "Gemini says: the news", "stop"),
        (1, "Gemini says: the news", "stop"),
    ]
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (6, 8, 14)

    limited = client.chat.completions.create(
        model="gem", messages=[{"role": "user", "content": "a b"}], max_completion_tokens=1
    )
    assert fake.requests[-1]["body"]["generationConfig"] == {"maxOutputTokens": 1}
    assert limited.choices[0].message.content == "Gemini" and limited.choices[0].finish_reason == "length"

    chunks = list(client.chat.completions.create(model="gem", messages=messages[1:2], stream=True))
    assert fake.requests[-1]["path"].endswith(":streamGenerateContent?alt=sse")
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Gemini says: what now"
    assert all(c.object == "chat.completion.chunk" and c.model == "gemini-2.5-flash" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.total_tokens == 6

    traces = _traces(server, gem)
    assert len(traces) == before + 3
    assert traces[2].info.token_usage == {"input_tokens": 6, "output_tokens": 8, "total_tokens": 14}
    assert traces[2].data.spans[1].name == "provider/gemini/gemini-2.5-flash"
    assert traces[0].info.token_usage == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    assert traces[0].data.spans[0].outputs["choices"][0]["message"]["content"] == "Gemini says: what now"
    assert traces[0].info.trace_metadata["mlflow.gateway.requestType"] == "unified/chat"


def test_gemini_tool_calls_and_invocations_route(server, endpoints, fakes, client):
    fake = fakes["gemini"]
    fake.set_responder(lambda body: [{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}])
    question = [{"role": "user", "content": "Weather in Rome?"}]
    reply = client.chat.completions.create(
        model="gem", messages=question, tools=[WEATHER_TOOL], tool_choice="required"
    )
    sent = fake.requests[-1]["body"]
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "The weather in a city",
                    "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],
                }
            ]
        }
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_") and call.function.name == "get_weather"  # Gemini gave no id
    assert json.loads(call.function.arguments) == {"city": "Rome"}

    fake.set_responder(gemini_default)
    client.chat.completions.create(
        model="gem",
        messages=[
            *question,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'},
        ],
    )
    assert fake.requests[-1]["body"]["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"id": call.id, "name": "get_weather", "args": {"city": "Rome"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"id": call.id, "name": "get_weather",
                                                         "response": {"sky": "clear"}}}]},
    ]  # fmt: skip

    # The endpoint's invocations route translates too (MLflow's unified chat).
    answer = httpx.post(
        f"{server.url}/gateway/gem/mlflow/invocations", json={"messages": [{"role": "user", "content": "x"}]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "Gemini says: x"


def test_gemini_embeddings_one_and_many(server, endpoints, fakes):
    fake, url = fakes["gemini"], f"{server.url}/gateway/gem-embed/mlflow/invocations"
    one = httpx.post(url, json={"input": "hello world"})
    assert one.status_code == 200, one.text
    assert fake.requests[-1]["path"] == "/v1beta/models/text-embedding-004:embedContent"
    assert fake.requests[-1]["body"] == {"content": {"parts": [{"text": "hello world"}]}}
    body = one.json()
    assert body["object"] == "list" and body["model"] == "text-embedding-004"
    assert body["data"] == [{"object": "embedding", "embedding": [11.0, 2.0, 0.5, 0.5], "index": 0}]

    many = httpx.post(url, json={"input": ["a", "b c"], "dimensions": 3}).json()
    assert fake.requests[-1]["path"].endswith(":batchEmbedContents")
    assert fake.requests[-1]["body"]["requests"][1] == {
        "model": "models/text-embedding-004", "content": {"parts": [{"text": "b c"}]}, "outputDimensionality": 3,
    }  # fmt: skip
    assert [d["embedding"] for d in many["data"]] == [
        embedding({"content": {"parts": [{"text": t}]}}, 3) for t in ("a", "b c")
    ]
    [trace, _] = _traces(server, endpoints["gem-embed"])[:2]
    assert trace.info.trace_metadata["mlflow.gateway.requestType"] == "unified/embeddings"
    assert trace.data.spans[1].name == "provider/gemini/text-embedding-004"


def test_fallback_and_traffic_split_mix_providers(server, endpoints, fakes, client):
    mixed = endpoints["mixed"]
    reply = client.chat.completions.create(model="mixed", messages=[{"role": "user", "content": "hello"}])
    assert reply.choices[0].message.content == "Answer to: hello"  # from the Anthropic fallback
    assert fakes["anthropic"].requests[-1]["body"]["model"] == "claude-3-5-sonnet"
    [trace] = _traces(server, mixed)
    assert trace.info.state == "OK"
    root, failed, answered = trace.data.spans
    assert (
        root.name == "gateway/mixed"
        and root.outputs["choices"][0]["message"]["content"] == "Answer to: hello"
    )
    assert failed.name == "provider/openai/gpt-4o-mini" and failed.status.status_code == "ERROR"
    assert answered.name == "provider/anthropic/claude-3-5-sonnet" and answered.status.status_code == "OK"
    assert trace.info.token_usage["input_tokens"] == 1

    streamed = list(client.chat.completions.create(model="mixed", messages=[{"role": "user", "content": "yo"}],
                                                   stream=True))  # fmt: skip
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == "Answer to: yo"

    # Traffic split between OpenAI (as it is) and Gemini (translated): both answer in OpenAI's shape.
    seen = set()
    for i in range(16):
        answer = client.chat.completions.create(
            model="split", messages=[{"role": "user", "content": f"q{i}"}]
        )
        seen.add(answer.choices[0].message.content.split(":")[0])
        assert answer.choices[0].message.content.endswith(f": q{i}") and answer.usage.total_tokens > 0
    assert seen == {"Answer to", "Gemini says"}


def test_bad_requests_are_400_and_provider_errors_mapped(server, endpoints, fakes, client):
    import openai

    sent_before = {name: len(fakes[name].requests) for name in ("anthropic", "gemini")}
    chat = f"{server.url}/gateway/mlflow/v1/chat/completions"
    hi = [{"role": "user", "content": "hi"}]
    for body, message in [
        ({"model": "claude", "messages": hi, "n": 2}, "'n' must be '1' for the Anthropic provider"),
        ({"model": "claude", "messages": hi, "temperature": 0.5, "top_p": 0.5}, "Cannot set both"),
        ({"model": "claude", "messages": hi, "max_tokens": 2_000_000}, "cannot exceed 1000000"),
        ({"model": "claude", "messages": hi, "tools": [{"type": "retrieval"}]}, "Only function calling"),
        ({"model": "claude", "messages": []}, "Invalid chat payload"),
        ({"model": "gem", "messages": "hi"}, "Invalid chat payload"),
        ({"model": "gem", "messages": hi, "temperature": 3}, "'temperature' must be a number"),
        ({"model": "gem", "messages": hi, "stopSequences": ["x"]}, "Invalid parameter stopSequences. Use stop"),
        ({"model": "gem", "messages": [*hi, {"role": "tool", "tool_call_id": "c1", "content": "x"}]},
         "does not match any tool call"),
    ]:  # fmt: skip
        resp = httpx.post(chat, json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE" and message in resp.json()["message"]
    for body in ({"input": [1, 2]}, {"input": []}):
        resp = httpx.post(f"{server.url}/gateway/gem-embed/mlflow/invocations", json=body)
        assert resp.status_code == 400 and "Invalid embeddings payload" in resp.json()["message"]
    # Anthropic has no embeddings (MLflow's adapter neither): refused before anything is sent.
    resp = httpx.post(f"{server.url}/gateway/claude/mlflow/invocations", json={"input": "x"})
    assert resp.status_code == 400 and "not supported by mltrail" in resp.json()["message"]
    assert {name: len(fakes[name].requests) for name in sent_before} == sent_before

    # A provider's error: its own message, its status mapped as for every provider (429, 5xx -> 503).
    fakes["anthropic"].fail_next(429, message="slow down please")
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="claude", messages=hi)
    assert "The anthropic provider answered 429: slow down please" in str(err.value)
    # ... on a streamed call, MLflow's error event in a 200 stream (it calls the provider once the
    # stream has started): "<status>: <message>" (test_gateway_stream_errors.py).
    fakes["anthropic"].fail_next(529)
    resp = httpx.post(chat, json={"model": "claude", "messages": hi, "stream": True})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    assert (
        resp.text
        == 'data: {"error": {"message": "529: scripted overloaded_error", "type": "HTTPException"}}\n\n'
    )

    # Failing mid-stream (an error event after the first words): the client gets MLflow's error
    # chunk, which the openai package raises; the call is counted and traced as failed.
    claude = endpoints["claude"]
    errors_before = sum(r["errors"] for r in httpx.get(
        f"{server.url}/ajax-api/3.0/mltrail/gateway/usage", params={"endpoint_id": claude.endpoint_id}
    ).json()["usage"])  # fmt: skip
    fakes["anthropic"].break_next_stream("Overloaded right now")
    got = []
    with pytest.raises(openai.APIError, match="Overloaded right now"):
        for chunk in client.chat.completions.create(model="claude", messages=hi, stream=True):
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "Answer"]  # the text block opened, its first word, then the error
    trace = _traces(server, claude)[0]
    assert trace.info.state == "ERROR" and trace.data.spans[1].status.status_code == "ERROR"
    errors = sum(r["errors"] for r in httpx.get(
        f"{server.url}/ajax-api/3.0/mltrail/gateway/usage", params={"endpoint_id": claude.endpoint_id}
    ).json()["usage"])  # fmt: skip
    assert errors == errors_before + 1
