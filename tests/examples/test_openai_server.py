"""The loopback OpenAI-compatible server speaks the wire format the official client expects."""

from __future__ import annotations

import httpx
import pytest

openai = pytest.importorskip("openai")


def test_chat_completion_with_usage(openai_server):
    client = openai.OpenAI()  # OPENAI_BASE_URL / OPENAI_API_KEY come from the fixture
    resp = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hi"}], temperature=0
    )
    assert resp.object == "chat.completion" and resp.model == "gpt-4o-mini"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == "Answer to: Say hi"
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (2, 4, 6)
    assert openai_server.requests[0]["body"]["temperature"] == 0
    assert openai_server.requests[0]["headers"]["authorization"] == "Bearer sk-test-not-a-real-key"


def test_streaming_and_custom_responder(openai_server):
    openai_server.set_responder(lambda body: "one two three")
    client = openai.OpenAI()
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "count"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-1].usage.completion_tokens == 3


def test_embeddings_models_and_errors(openai_server):
    client = openai.OpenAI()
    emb = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 8
    assert {m.id for m in client.models.list()} == {"gpt-4o-mini", "gpt-4o"}
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    r = httpx.post(openai_server.base_url + "/chat/completions", json={"model": "x", "messages": []})
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_api_key"
