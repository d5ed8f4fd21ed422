"""``/invocations`` for agents and chat models: their request schemas, unwrapped answers, SSE streams."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.testclient import TestClient

import mltrail
import mltrail.pyfunc
from mltrail.serving.app import create_scoring_app

AGENT_CODE = """
import mltrail
from mltrail.pyfunc import ResponsesAgent
from mltrail.types.responses import ResponsesAgentResponse, ResponsesAgentStreamEvent


class Echo(ResponsesAgent):
    def predict(self, request):
        text = request.input[-1].content
        if text == "boom":
            raise RuntimeError("the agent failed")
        return ResponsesAgentResponse(output=[self.create_text_output_item("echo: " + text, "m1")])

    def predict_stream(self, request):
        text = request.input[-1].content
        for word in text.split():
            if word == "boom":
                raise RuntimeError("stream broke")
            yield ResponsesAgentStreamEvent(**self.create_text_delta(word, item_id="m1"))
        yield ResponsesAgentStreamEvent(type="response.output_item.done", item=self.create_text_output_item(text, "m1"))


mltrail.models.set_model(Echo())
"""

CHAT_CODE = """
import mltrail
from mltrail.pyfunc import ChatModel
from mltrail.types.llm import (
    ChatChoice, ChatChoiceDelta, ChatChunkChoice, ChatCompletionChunk, ChatCompletionResponse, ChatMessage,
)


class Chat(ChatModel):
    def predict(self, context, messages, params):
        msg = ChatMessage(role="assistant", content=f"{messages[-1].content} ({params.max_tokens})")
        return ChatCompletionResponse(choices=[ChatChoice(message=msg)], id="c1", model="echo")

    def predict_stream(self, context, messages, params):
        for word in messages[-1].content.split():
            yield ChatCompletionChunk(choices=[ChatChunkChoice(delta=ChatChoiceDelta(content=word))], id="c1")


mltrail.models.set_model(Chat())
"""


def _sse(text: str) -> list:
    return [
        json.loads(line[6:]) if line[6:] != "[DONE]" else "[DONE]"
        for line in text.splitlines()
        if line.startswith("data: ")
    ]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("agents")
    (root / "agent.py").write_text(AGENT_CODE)
    (root / "chat.py").write_text(CHAT_CODE)
    mltrail.set_tracking_uri(f"sqlite:///{root / 'traces.db'}")
    try:
        mltrail.pyfunc.save_model(root / "agent", python_model=str(root / "agent.py"))
        mltrail.pyfunc.save_model(root / "chat", python_model=str(root / "chat.py"))
    finally:
        mltrail.set_tracking_uri(None)
    return root


@pytest.fixture(scope="module")
def agent(models):
    return TestClient(create_scoring_app(mltrail.pyfunc.load_model(str(models / "agent"))))


@pytest.fixture(scope="module")
def chat(models):
    return TestClient(create_scoring_app(mltrail.pyfunc.load_model(str(models / "chat"))))


def test_responses_agent_answers_its_schema_unwrapped(agent):
    resp = agent.post("/invocations", json={"input": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "response"
    assert body["output"][0]["content"][0]["text"] == "echo: hi"


def test_responses_agent_streams_server_sent_events(agent):
    resp = agent.post("/invocations", json={"input": [{"role": "user", "content": "a b"}], "stream": True})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = _sse(resp.text)
    assert [e["type"] for e in events] == ["response.output_text.delta"] * 2 + ["response.output_item.done"]
    assert events[-1]["item"]["content"][0]["text"] == "a b"


def test_agent_errors_are_clear(agent):
    bad = agent.post("/invocations", json={"input": "hello"})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "'input' must be of type array" in bad.json()["message"]
    bad = agent.post("/invocations", json={"input": [{"role": "user"}], "stream": True})
    assert bad.status_code == 400 and "ResponsesAgentRequest" in bad.json()["message"]
    failed = agent.post("/invocations", json={"input": [{"role": "user", "content": "boom"}]})
    assert failed.status_code == 400 and "the agent failed" in failed.json()["message"]
    # A stream that breaks after its first event reports the error in-band.
    broken = agent.post(
        "/invocations", json={"input": [{"role": "user", "content": "ok boom"}], "stream": True}
    )
    assert broken.status_code == 200
    assert "event: error" in broken.text and _sse(broken.text)[-1]["message"] == "stream broke"


def test_chat_model_answers_and_streams_chat_completions(chat):
    resp = chat.post("/invocations", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"] == {"role": "assistant", "content": "hi (5)"}
    stream = chat.post(
        "/invocations", json={"messages": [{"role": "user", "content": "x y"}], "stream": True}
    )
    events = _sse(stream.text)
    assert events[-1] == "[DONE]"
    assert [e["choices"][0]["delta"]["content"] for e in events[:-1]] == ["x", "y"]
    assert all(e["object"] == "chat.completion.chunk" for e in events[:-1])


def test_dataframe_bodies_still_work_for_plain_models(tmp_path):
    class Upper(mltrail.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [s.upper() for s in model_input["input"]]

    mltrail.pyfunc.save_model(tmp_path / "m", python_model=Upper())
    client = TestClient(create_scoring_app(mltrail.pyfunc.load_model(str(tmp_path / "m"))))
    # "input" next to a standard key is a dataframe column, not an agent request.
    resp = client.post("/invocations", json={"dataframe_records": [{"input": "a"}]})
    assert resp.json() == {"predictions": ["A"]}


def test_models_serve_cli_streams_an_agent(models, served):
    from model_helpers import serve_model

    server = serve_model(str(models / "agent"))
    served.append(server)
    with httpx.stream(
        "POST",
        f"{server.url}/invocations",
        json={"input": [{"role": "user", "content": "one two"}], "stream": True},
        timeout=60,
    ) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert json.loads(lines[0][6:]) == {"type": "response.output_text.delta", "item_id": "m1", "delta": "one"}
    assert len(lines) == 3
