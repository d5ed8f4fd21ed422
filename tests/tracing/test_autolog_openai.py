"""``mlflow.openai.autolog()`` with the brief's code, against the loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json

import pytest

import mltrail as mlflow

openai = pytest.importorskip("openai")


def _last():
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None
    return trace


def test_brief_example_is_traced_and_linked_to_the_run(openai_server):
    # The brief: "Auto-logging for OpenAI ... all openai.chat.completions.create() calls are automatically traced"
    mlflow.openai.autolog()
    mlflow.set_experiment("llm-prompt-experiments")

    def evaluate_prompt(system_prompt: str, user_prompt: str, model: str = "gpt-4o-mini") -> dict:
        with mlflow.start_run():
            mlflow.log_params({"model": model, "system_prompt_version": "v3", "temperature": 0.7, "max_tokens": 512})
            client = openai.OpenAI()
            resp = client.chat.completions.create(
                model=model,
                messages=[
                    {"role": "system", "content": system_prompt},
                    {"role": "user", "content": user_prompt},
                ],
                max_tokens=512, temperature=0.7,
            )
            output = resp.choices[0].message.content
            mlflow.log_metrics({"prompt_tokens": resp.usage.prompt_tokens,
                                "completion_tokens": resp.usage.completion_tokens})
            return {"output": output, "run_id": mlflow.active_run().info.run_id}

    result = evaluate_prompt(system_prompt="You are a concise technical writer.",
                             user_prompt="Explain transformers in 2 sentences.")
    assert result["output"] == "Answer to: Explain transformers in 2 sentences."
    trace = _last()
    assert trace.info.trace_metadata["mlflow.sourceRun"] == result["run_id"]
    assert trace.info.experiment_id == mlflow.get_experiment_by_name("llm-prompt-experiments").experiment_id
    (span,) = trace.data.spans
    assert (span.name, span.span_type) == ("Completions", "CHAT_MODEL")
    assert span.inputs["model"] == "gpt-4o-mini" and span.inputs["temperature"] == 0.7
    assert span.inputs["messages"][1] == {"role": "user", "content": "Explain transformers in 2 sentences."}
    assert span.outputs["choices"][0]["message"]["content"] == result["output"]
    usage = span.get_attribute("mlflow.chat.tokenUsage")
    metrics = mlflow.get_run(result["run_id"]).data.metrics  # what the brief logged from resp.usage
    assert usage == {"input_tokens": metrics["prompt_tokens"], "output_tokens": metrics["completion_tokens"],
                     "total_tokens": metrics["prompt_tokens"] + metrics["completion_tokens"]}
    assert json.loads(trace.info.trace_metadata["mlflow.trace.tokenUsage"]) == usage
    assert span.get_attribute("mlflow.llm.model") == "gpt-4o-mini"
    df = mlflow.search_traces(run_id=result["run_id"])
    assert list(df["trace_id"]) == [trace.info.trace_id]


def test_streaming_is_traced_when_consumed(openai_server):
    mlflow.openai.autolog()
    openai_server.set_responder(lambda body: "one two three")
    client = openai.OpenAI()
    stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "count"}],
                                            stream=True, stream_options={"include_usage": True})
    assert mlflow.get_last_active_trace_id() is None  # the span is open until the stream is read
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "one two three"
    (span,) = _last().data.spans
    assert span.outputs["choices"][0]["message"]["content"] == "one two three"
    assert span.get_attribute("mlflow.chat.tokenUsage")["output_tokens"] == 3
    assert span.inputs["stream"] is True


def test_async_embeddings_errors_nesting_and_disable(openai_server):
    mlflow.openai.autolog()
    mlflow.openai.autolog()  # idempotent: still one span per call

    async def chat():
        client = openai.AsyncOpenAI()
        return await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a"}])

    assert asyncio.run(chat()).choices[0].message.content == "Answer to: a"
    (span,) = _last().data.spans
    assert span.span_type == "CHAT_MODEL"

    @mlflow.trace(span_type="CHAIN")
    def embed_and_fail():
        client = openai.OpenAI()
        client.embeddings.create(model="text-embedding-3-small", input=["x y"])
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gpt-4o-mini", messages=[])
        return "ok"

    embed_and_fail()
    root, emb, failed = _last().data.spans
    assert emb.parent_id == root.span_id and emb.span_type == "EMBEDDING" and emb.name == "Embeddings"
    assert emb.get_attribute("mlflow.chat.tokenUsage") == {"input_tokens": 2, "total_tokens": 2}
    assert failed.status.status_code == "ERROR" and failed.events[0].attributes["exception.type"] == "BadRequestError"

    mlflow.openai.autolog(disable=True)
    assert not hasattr(openai.resources.chat.completions.Completions.create, "__mltrail_patched__")
    before = mlflow.get_last_active_trace_id()
    openai.OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "b"}])
    assert mlflow.get_last_active_trace_id() == before
