"""ResponsesAgent, ChatAgent and ChatModel: types, saving, loading, tracing, and parity with mlflow 3.17.2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import mltrail
import mltrail.pyfunc
from mltrail.exceptions import MltrailException
from mltrail.pyfunc import ChatAgent, ChatModel, ResponsesAgent
from mltrail.types import responses as R
from mltrail.types.agent import ChatAgentChunk, ChatAgentMessage, ChatAgentResponse
from mltrail.types.llm import (
    ChatChoice,
    ChatChoiceDelta,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChatMessage,
)
from mltrail.types.responses import ResponsesAgentResponse, ResponsesAgentStreamEvent
from support.live_server import start_server, stop_server

mlflow = pytest.importorskip("mlflow")


class EchoAgent(ResponsesAgent):
    def predict(self, request):
        text = request.input[-1].content
        return ResponsesAgentResponse(output=[self.create_text_output_item(f"echo: {text}", id="m1")])

    def predict_stream(self, request):
        text = request.input[-1].content
        for word in text.split():
            yield ResponsesAgentStreamEvent(**self.create_text_delta(word, item_id="m1"))
        yield ResponsesAgentStreamEvent(
            type="response.output_item.done", item=self.create_text_output_item(text, "m1")
        )


class EchoChatAgent(ChatAgent):
    def predict(self, messages, context=None, custom_inputs=None):
        reply = ChatAgentMessage(role="assistant", content=f"echo: {messages[-1].content}", id="a1")
        return ChatAgentResponse(messages=[reply], custom_outputs=custom_inputs)

    def predict_stream(self, messages, context=None, custom_inputs=None):
        for word in messages[-1].content.split():
            yield ChatAgentChunk(delta=ChatAgentMessage(role="assistant", content=word + " ", id="a1"))


class EchoChatModel(ChatModel):
    def predict(self, context, messages, params):
        text = f"echo: {messages[-1].content} t={params.temperature}"
        return ChatCompletionResponse(
            choices=[ChatChoice(message=ChatMessage(role="assistant", content=text))]
        )

    def predict_stream(self, context, messages, params):
        for word in messages[-1].content.split():
            yield ChatCompletionChunk(choices=[ChatChunkChoice(delta=ChatChoiceDelta(content=word))])


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One ``mltrail server`` for the module: the official mlflow's store (its traces go there too)."""
    server = start_server(tmp_path_factory.mktemp("server"))
    yield server
    stop_server(server)


@pytest.fixture(autouse=True)
def _stores(tmp_path, live):
    """mltrail traces to a per-test SQLite file; the official mlflow talks to the live server."""
    mltrail.set_tracking_uri(f"sqlite:///{tmp_path / 'traces.db'}")
    mlflow.set_tracking_uri(live.url)
    yield
    mlflow.set_tracking_uri(None)


HELLO = {"input": [{"role": "user", "content": "hello big world"}]}
CHAT = {"messages": [{"role": "user", "content": "hello big world"}]}


def _mlmodel(path: Path) -> dict:
    return yaml.safe_load((path / "MLmodel").read_text())


# ------------------------------------------------------------------------- types


def test_output_item_helpers_match_mlflow():
    from mlflow.types import responses as MR

    calls = [
        ("create_text_output_item", ("hi", "m1")),
        ("create_text_output_item", ("hi", "m1", [{"type": "url_citation", "url": "u"}])),
        ("create_text_delta", ("h", "m1")),
        ("create_reasoning_item", ("r1", "because")),
        ("create_function_call_item", ("f1", "c1", "get_weather", '{"city": "Paris"}')),
        ("create_function_call_output_item", ("c1", "sunny")),
        ("create_annotation_added", ("m1", {"type": "url_citation"}, 2)),
        ("create_mcp_approval_request_item", ("a1", "{}", "tool", "srv")),
        ("create_mcp_approval_response_item", ("a2", "a1", True, "ok")),
    ]
    for name, args in calls:
        assert getattr(R, name)(*args) == getattr(MR, name)(*args), name
    items = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather?"},
        R.create_function_call_item("f1", "c1", "get_weather", '{"city": "Paris"}'),
        R.create_function_call_output_item("c1", "sunny"),
        R.create_reasoning_item("r1", "thinking"),
        R.create_text_output_item("It is sunny", "m1"),
    ]
    assert R.to_chat_completions_input(items) == MR.to_chat_completions_input(items)
    ours = R.ResponsesAgentRequest(input=items).model_dump(exclude_none=True)["input"]
    theirs = MR.ResponsesAgentRequest(input=items).model_dump(exclude_none=True)["input"]
    assert ours[:5] == theirs[:5]
    # An output message fed back keeps its id and annotations here (mlflow reads it as a bare Message).
    assert ours[5] == items[5]


def test_chat_completion_chunks_become_response_events_like_mlflow():
    from mlflow.types import responses as MR

    def chunks():
        for piece in ["Hel", "lo"]:
            yield {"id": "c1", "choices": [{"index": 0, "delta": {"content": piece}}]}
        yield {
            "id": "c1",
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "t1", "function": {"name": "f", "arguments": '{"a"'}}
                        ]
                    }
                }
            ],
        }
        yield {
            "id": "c1",
            "choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}],
        }

    ours, theirs = [], []
    mine = [e.model_dump(exclude_none=True) for e in R.output_to_responses_items_stream(chunks(), ours)]
    ref = [e.model_dump(exclude_none=True) for e in MR.output_to_responses_items_stream(chunks(), theirs)]
    assert [e["type"] for e in mine] == [e["type"] for e in ref]
    assert mine[:3] == ref[:3]  # the deltas and the finished message
    call, ref_call = mine[3]["item"], ref[3]["item"]
    assert {k: call[k] for k in ("type", "call_id", "name", "arguments")} == {
        k: ref_call[k] for k in ("type", "call_id", "name", "arguments")
    }
    assert len(ours) == len(theirs) == 2


def test_invalid_items_and_events_are_refused():
    with pytest.raises(ValueError, match="missing id"):
        R.ResponsesAgentStreamEvent(
            type="response.output_item.done", item={"type": "message", "content": [], "role": "a"}
        )
    with pytest.raises(ValueError, match="item_id"):
        R.ResponsesAgentStreamEvent(type="response.output_text.delta", delta="x")
    with pytest.raises(ValueError):
        R.ResponsesAgentRequest(input="hi")
    with pytest.raises(ValueError, match="must have an ID"):
        ChatAgentResponse(messages=[ChatAgentMessage(role="assistant", content="x")])
    with pytest.raises(ValueError, match="tool_call_id"):
        ChatAgentMessage(role="tool", content="x")
    assert ChatMessage.from_dict({"role": "user", "content": "hi", "extra": 1}).to_dict() == {
        "role": "user",
        "content": "hi",
    }


def test_signatures_read_in_mlflow_with_the_same_columns():
    from mlflow.models.signature import ModelSignature as MS
    from mlflow.types import agent as MA
    from mlflow.types import llm as ML
    from mlflow.types import responses as MR

    from mltrail.models.signature import ModelSignature
    from mltrail.types import agent as A
    from mltrail.types import llm as L

    pairs = [
        (R.RESPONSES_AGENT_INPUT_SCHEMA, R.RESPONSES_AGENT_OUTPUT_SCHEMA, MR.RESPONSES_AGENT_INPUT_SCHEMA),
        (A.CHAT_AGENT_INPUT_SCHEMA, A.CHAT_AGENT_OUTPUT_SCHEMA, MA.CHAT_AGENT_INPUT_SCHEMA),
        (L.CHAT_MODEL_INPUT_SCHEMA, L.CHAT_MODEL_OUTPUT_SCHEMA, ML.CHAT_MODEL_INPUT_SCHEMA),
    ]
    for inputs, outputs, reference in pairs:
        theirs = MS.from_dict(ModelSignature(inputs, outputs).to_dict())
        assert sorted(theirs.inputs.input_names()) == sorted(reference.input_names())
        assert sorted(theirs.inputs.required_input_names()) == sorted(reference.required_input_names())


# ------------------------------------------------------------- save, load, trace


def test_responses_agent_saves_loads_predicts_and_streams(tmp_path):
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=EchoAgent())
    meta = _mlmodel(tmp_path / "m")
    flavor = meta["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.responses_agent"
    assert flavor["streamable"] is True
    assert meta["metadata"] == {"task": "agent/v1/responses"}
    assert json.loads((tmp_path / "m" / "input_example.json").read_text()) == R.RESPONSES_AGENT_INPUT_EXAMPLE

    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    assert model.predict(HELLO)["output"][0]["content"][0]["text"] == "echo: hello big world"
    events = list(model.predict_stream(HELLO))
    assert [e["type"] for e in events] == ["response.output_text.delta"] * 3 + ["response.output_item.done"]
    with pytest.raises(MltrailException, match="'input' must be of type array"):
        model.predict({"input": "not a list"})
    with pytest.raises(MltrailException, match="ResponsesAgentRequest"):
        model.predict({"input": [{"role": "user"}]})
    with pytest.raises(MltrailException, match="missing inputs"):
        model.predict({"custom_inputs": {}})


def test_agent_calls_are_traced_with_stream_outputs_reduced():
    agent = EchoAgent()
    agent.predict(HELLO)
    trace = mltrail.get_trace(mltrail.get_last_active_trace_id())
    (span,) = trace.data.spans
    assert (span.name, span.span_type) == ("predict", "AGENT")
    assert span.inputs["request"]["input"][0]["content"] == "hello big world"
    assert span.outputs["output"][0]["id"] == "m1"

    list(agent.predict_stream(HELLO))
    (span,) = mltrail.get_trace(mltrail.get_last_active_trace_id()).data.spans
    assert (span.name, span.span_type) == ("predict_stream", "AGENT")
    assert span.outputs == {
        "object": "response",
        "output": [R.create_text_output_item("hello big world", "m1")],
    }

    list(EchoChatAgent().predict_stream(CHAT))
    (span,) = mltrail.get_trace(mltrail.get_last_active_trace_id()).data.spans
    assert span.span_type == "AGENT"
    assert span.outputs["messages"] == [{"role": "assistant", "content": "hello big world ", "id": "a1"}]

    EchoChatModel().predict(None, [ChatMessage(role="user", content="hi")], {"temperature": 0.5})
    (span,) = mltrail.get_trace(mltrail.get_last_active_trace_id()).data.spans
    assert span.span_type == "CHAT_MODEL"
    assert span.outputs["choices"][0]["message"]["content"] == "echo: hi t=0.5"


def test_agent_signature_argument_and_bad_output_are_refused(tmp_path):
    from mltrail.models.signature import infer_signature

    with pytest.raises(MltrailException, match="standard signature"):
        mltrail.pyfunc.save_model(tmp_path / "a", python_model=EchoAgent(), signature=infer_signature(["x"]))

    class Broken(ResponsesAgent):
        def predict(self, request):
            return {"output": [{"type": "message"}]}

    with pytest.raises(MltrailException, match="did not return a ResponsesAgentResponse"):
        mltrail.pyfunc.save_model(tmp_path / "b", python_model=Broken())
    assert not (tmp_path / "b").exists()


def test_chat_agent_and_chat_model_roundtrip(tmp_path):
    mltrail.pyfunc.save_model(tmp_path / "agent", python_model=EchoChatAgent())
    mltrail.pyfunc.save_model(tmp_path / "chat", python_model=EchoChatModel())
    assert _mlmodel(tmp_path / "agent")["metadata"] == {"task": "agent/v2/chat"}
    assert _mlmodel(tmp_path / "chat")["metadata"] == {"task": "agent/v1/chat"}
    agent = mltrail.pyfunc.load_model(str(tmp_path / "agent"))
    out = agent.predict({**CHAT, "custom_inputs": {"k": "v"}})
    assert out["messages"][0]["content"] == "echo: hello big world"
    assert out["custom_outputs"] == {"k": "v"}
    assert [c["delta"]["content"] for c in agent.predict_stream(CHAT)] == ["hello ", "big ", "world "]
    chat = mltrail.pyfunc.load_model(str(tmp_path / "chat"))
    out = chat.predict({**CHAT, "temperature": 0.2})
    assert out["object"] == "chat.completion"
    assert out["choices"][0]["message"]["content"] == "echo: hello big world t=0.2"
    assert [c["choices"][0]["delta"]["content"] for c in chat.predict_stream(CHAT)] == [
        "hello",
        "big",
        "world",
    ]
    with pytest.raises(MltrailException, match="messages"):
        chat.predict({"temperature": 0.1, "messages": []})


# ------------------------------------------------------------- mlflow both ways


AGENT_CODE = """
import {lib} as mlflow
from {lib}.pyfunc import ResponsesAgent
from {lib}.types.responses import ResponsesAgentResponse, ResponsesAgentStreamEvent


class CodeAgent(ResponsesAgent):
    def predict(self, request):
        return ResponsesAgentResponse(output=[self.create_text_output_item("{lib}:" + request.input[-1].content, "c1")])

    def predict_stream(self, request):
        yield ResponsesAgentStreamEvent(**self.create_text_delta("{lib}", item_id="c1"))
        yield ResponsesAgentStreamEvent(
            type="response.output_item.done", item=self.create_text_output_item("{lib}", "c1")
        )


mlflow.models.set_model(CodeAgent())
"""


@pytest.mark.parametrize("lib", ["mltrail", "mlflow"])
def test_code_agents_load_in_the_other_library(tmp_path, lib):
    (tmp_path / "agent.py").write_text(AGENT_CODE.replace("{lib}", lib))
    saver, loader = (mltrail, mlflow) if lib == "mltrail" else (mlflow, mltrail)
    saver.pyfunc.save_model(
        str(tmp_path / "m"), python_model=str(tmp_path / "agent.py"), pip_requirements=["x"]
    )
    model = loader.pyfunc.load_model(str(tmp_path / "m"))
    assert model.predict(HELLO)["output"][0]["content"][0]["text"] == f"{lib}:hello big world"
    assert [e["type"] for e in model.predict_stream(HELLO)] == [
        "response.output_text.delta",
        "response.output_item.done",
    ]


def test_pickled_agents_and_chat_models_load_in_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    for name, model in [("r", EchoAgent()), ("a", EchoChatAgent()), ("c", EchoChatModel())]:
        mltrail.pyfunc.save_model(tmp_path / name, python_model=model)
    r = mlflow.pyfunc.load_model(str(tmp_path / "r"))
    assert r.predict(HELLO)["output"][0]["content"][0]["text"] == "echo: hello big world"
    assert list(r.predict_stream(HELLO))[-1]["type"] == "response.output_item.done"
    a = mlflow.pyfunc.load_model(str(tmp_path / "a"))
    assert a.predict(CHAT)["messages"][0]["content"] == "echo: hello big world"
    assert len(list(a.predict_stream(CHAT))) == 3
    c = mlflow.pyfunc.load_model(str(tmp_path / "c"))
    assert (
        c.predict({**CHAT, "temperature": 0.3})["choices"][0]["message"]["content"]
        == "echo: hello big world t=0.3"
    )
    assert [x["choices"][0]["delta"]["content"] for x in c.predict_stream(CHAT)] == ["hello", "big", "world"]


def test_mlflow_agents_and_chat_models_load_in_mltrail(tmp_path, monkeypatch):
    from mlflow.types.agent import ChatAgentMessage as MMsg
    from mlflow.types.agent import ChatAgentResponse as MResp
    from mlflow.types.llm import ChatChoice as MChoice
    from mlflow.types.llm import ChatCompletionResponse as MCCR
    from mlflow.types.llm import ChatMessage as MCM

    class MAgent(mlflow.pyfunc.ChatAgent):
        def predict(self, messages, context=None, custom_inputs=None):
            return MResp(messages=[MMsg(role="assistant", content="mlflow " + messages[-1].content, id="x")])

    class MChat(mlflow.pyfunc.ChatModel):
        def predict(self, context, messages, params):
            msg = MCM(role="assistant", content=f"mlflow {messages[-1].content} {params.max_tokens}")
            return MCCR(choices=[MChoice(message=msg)])

    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    mlflow.pyfunc.save_model(str(tmp_path / "a"), python_model=MAgent(), pip_requirements=["x"])
    mlflow.pyfunc.save_model(str(tmp_path / "c"), python_model=MChat(), pip_requirements=["x"])
    agent = mltrail.pyfunc.load_model(str(tmp_path / "a"))
    assert agent.predict(CHAT)["messages"][0]["content"] == "mlflow hello big world"
    chat = mltrail.pyfunc.load_model(str(tmp_path / "c"))
    assert (
        chat.predict({**CHAT, "max_tokens": 7})["choices"][0]["message"]["content"]
        == "mlflow hello big world 7"
    )


def test_logged_agent_has_task_and_loads_by_model_id(tmp_path):
    mltrail.set_tracking_uri(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with mltrail.start_run():
        info = mltrail.pyfunc.log_model(name="agent", python_model=EchoAgent())
    assert info.metadata == {"task": "agent/v1/responses"}
    model = mltrail.pyfunc.load_model(f"models:/{info.model_id}")
    assert model.predict(HELLO)["output"][0]["id"] == "m1"


def test_agent_calling_an_llm_streams_through_the_openai_fake(openai_server, tmp_path):
    code = """
import openai
import mltrail
from mltrail.pyfunc import ResponsesAgent
from mltrail.types.responses import ResponsesAgentResponse


class LLMAgent(ResponsesAgent):
    def predict(self, request):
        events = list(self.predict_stream(request))
        return ResponsesAgentResponse(output=[e.item for e in events if e.type == "response.output_item.done"])

    def predict_stream(self, request):
        stream = openai.OpenAI().chat.completions.create(
            model="gpt-4o-mini", messages=self.prep_msgs_for_cc_llm(request.input), stream=True
        )
        yield from self.output_to_responses_items_stream(chunk.model_dump() for chunk in stream)


mltrail.models.set_model(LLMAgent())
"""
    (tmp_path / "llm_agent.py").write_text(code)
    mltrail.pyfunc.save_model(tmp_path / "m", python_model=str(tmp_path / "llm_agent.py"))
    model = mltrail.pyfunc.load_model(str(tmp_path / "m"))
    out = model.predict({"input": [{"role": "user", "content": "What is MLflow?"}]})
    assert out["output"][0]["content"][0]["text"] == "Answer to: What is MLflow?"
    deltas = [e["delta"] for e in model.predict_stream(HELLO) if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "Answer to: hello big world"
    sent = openai_server.requests[-1]["body"]
    assert sent["messages"] == [{"role": "user", "content": "hello big world"}]
    assert sent["stream"] is True


@pytest.mark.parametrize("lib", ["mltrail", "mlflow"])
def test_code_agents_logged_through_mltrail_server_load_in_the_other_library(tmp_path, live, lib):
    (tmp_path / "agent.py").write_text(AGENT_CODE.replace("{lib}", lib))
    mltrail.set_tracking_uri(live.url)
    logger, loader = (mltrail, mlflow) if lib == "mltrail" else (mlflow, mltrail)
    with logger.start_run():
        info = logger.pyfunc.log_model(
            name="agent", python_model=str(tmp_path / "agent.py"), pip_requirements=["x"]
        )
    model = loader.pyfunc.load_model(info.model_uri)
    assert model.metadata.metadata == {"task": "agent/v1/responses"}
    assert model.predict(HELLO)["output"][0]["content"][0]["text"] == f"{lib}:hello big world"


def test_agent_example_runs_with_the_openai_fake(tmp_path, monkeypatch, openai_server, capsys):
    import runpy

    example = Path(__file__).resolve().parents[2] / "examples" / "agent" / "run.py"
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    assert "task: agent/v1/responses" in out
    assert "answer: Answer to: What is MLflow?" in out
    # The call's root span (an OpenAI autolog left on by an earlier test may add a CHAT_MODEL child).
    assert "trace: [('predict_stream', 'AGENT')" in out
    assert openai_server.requests[-1]["body"]["messages"][0]["role"] == "system"


def test_agent_logged_to_the_embedded_store_loads_in_mlflow_from_its_files(tmp_path):
    (tmp_path / "agent.py").write_text(AGENT_CODE.replace("{lib}", "mltrail"))
    with mltrail.start_run():  # the per-test SQLite store and its local artifact folder
        info = mltrail.pyfunc.log_model(name="agent", python_model=str(tmp_path / "agent.py"))
    local = mltrail.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "dl"))
    model = mlflow.pyfunc.load_model(local)
    assert model.predict(HELLO)["output"][0]["content"][0]["text"] == "mltrail:hello big world"
    assert [e["type"] for e in model.predict_stream(HELLO)][-1] == "response.output_item.done"
