"""LLM-as-judge metrics with judges other than openai:/, each answered over real HTTP by a loopback double.

``anthropic:/`` talks to a fake speaking Anthropic's Messages API,
``endpoints:/`` to a fake MLflow deployments server, and the OpenAI-compatible
providers (mistral, togetherai, ...) to the fake OpenAI server through their
base-URL variables. MLflow's own judge-calling code is run against the two new
doubles too, so they are known to speak what MLflow speaks.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd
import pytest
from judges import grading_judge, section

import mltrail as mlflow
from mltrail.evaluation import judge
from mltrail.evaluation.providers import PROVIDERS
from mltrail.exceptions import MltrailException
from mltrail.metrics.genai import answer_correctness, answer_relevance, faithfulness, make_genai_metric
from support.anthropic_server import TEST_API_KEY

QA = pd.DataFrame(
    {
        "inputs": ["What is the capital of France?", "Who wrote Hamlet?", "What is 2 + 2?"],
        "ground_truth": ["Paris", "Shakespeare", "4"],
        "answer": ["Paris is the capital.", "Shakespeare wrote it.", "It is five."],
    }
)
CLAUDE = "anthropic:/claude-3-5-haiku-latest"
# Providers with a key of their own (``gateway:/`` sends the tracking server's credentials instead).
OPENAI_COMPATIBLE = [
    name
    for name, p in PROVIDERS.items()
    if p.path("m") == "/chat/completions" and name != "openai" and p.key_var is not None
]


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Retries wait 10 ms instead of 0.5 s; what is retried stays the same."""
    monkeypatch.setattr(judge, "_BACKOFF_SECONDS", 0.01)


def _logged_table(run_id: str) -> dict:
    path = mlflow.MlflowClient().download_artifacts(run_id, "eval_results_table.json", ".")
    return json.loads(Path(path).read_text())


def _evaluate(metric, data=QA):
    return mlflow.evaluate(data=data, predictions="answer", targets="ground_truth", extra_metrics=[metric])


# --- anthropic:/ ------------------------------------------------------------------------------


def test_anthropic_judge_scores_and_logs_like_openai(anthropic_server):
    anthropic_server.set_responder(grading_judge)
    result = mlflow.evaluate(
        data=QA,
        predictions="answer",
        targets="ground_truth",
        model_type="question-answering",
        extra_metrics=[answer_correctness(model=CLAUDE), answer_relevance(model=CLAUDE)],
    )
    assert result.metrics["answer_correctness/v1/mean"] == pytest.approx(4.0)
    assert result.metrics["answer_correctness/v1/variance"] == pytest.approx(2.0)
    assert result.metrics["answer_correctness/v1/p90"] == pytest.approx(5.0)
    assert "answer_relevance/v1/mean" in result.metrics
    run = mlflow.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == pytest.approx(result.metrics)

    table = result.tables["eval_results_table"]
    assert list(table["answer_correctness/v1/score"]) == [5, 5, 2]
    assert table["answer_correctness/v1/justification"][2] == "answer_correctness: output misses"
    logged = _logged_table(result.run_id)
    rows = [dict(zip(logged["columns"], r, strict=True)) for r in logged["data"]]
    assert [r["answer_correctness/v1/score"] for r in rows] == [5, 5, 2]
    assert rows[0]["answer_correctness/v1/justification"] == "answer_correctness: output matches"

    # One Messages API call per row and metric, with Anthropic's headers and body.
    assert len(anthropic_server.requests) == 6
    for request in anthropic_server.requests:
        assert request["path"] == "/v1/messages"
        assert request["headers"]["x-api-key"] == TEST_API_KEY
        assert request["headers"]["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request["headers"]
        body = request["body"]
        assert body["model"] == "claude-3-5-haiku-latest"
        assert body["max_tokens"] == 1024
        assert body["temperature"] == 0.0
        assert [m["role"] for m in body["messages"]] == ["user"]
    prompts = [r["body"]["messages"][0]["content"] for r in anthropic_server.requests]
    correctness = [p for p in prompts if '"answer_correctness"' in p]
    assert sorted(section(p, "targets") for p in correctness) == ["4", "Paris", "Shakespeare"]


def test_anthropic_parameters_pass_through_in_anthropic_names(anthropic_server):
    anthropic_server.set_responder(lambda request: '{"score": 4, "justification": "fine"}')
    metric = make_genai_metric(
        name="tone",
        definition="How formal the answer is.",
        grading_prompt="5: formal. 1: slang.",
        model=CLAUDE,
        parameters={"max_tokens": 50, "temperature": 0.3, "stop": "\n\nEND", "top_k": 5},
    )
    result = mlflow.evaluate(data=QA.iloc[:1], predictions="answer", extra_metrics=[metric])
    assert result.metrics["tone/v1/mean"] == 4.0
    (request,) = anthropic_server.requests
    body = request["body"]
    assert body["max_tokens"] == 50
    assert body["temperature"] == 0.3
    assert body["top_k"] == 5
    assert body["stop_sequences"] == ["\n\nEND"]
    assert "stop" not in body


@pytest.mark.parametrize("failure", [429, 529, 503, "drop"])
def test_anthropic_transient_failures_are_retried(anthropic_server, failure):
    anthropic_server.set_responder(lambda request: '{"score": 3, "justification": "ok"}')
    anthropic_server.fail_next(failure, times=2)
    result = _evaluate(answer_correctness(model=CLAUDE), QA.iloc[:1])
    assert anthropic_server.failed == 2
    assert len(anthropic_server.requests) == 1  # the third attempt got through
    assert result.metrics["answer_correctness/v1/mean"] == 3.0
    assert list(result.tables["eval_results_table"]["answer_correctness/v1/justification"]) == ["ok"]


def test_anthropic_retries_give_up_after_the_configured_count(anthropic_server, monkeypatch):
    monkeypatch.setenv("MLTRAIL_GENAI_JUDGE_MAX_RETRIES", "1")
    anthropic_server.fail_next(429, times=5, message="Number of request tokens has exceeded your rate limit")
    result = _evaluate(answer_correctness(model=CLAUDE), QA.iloc[:1])
    assert anthropic_server.failed == 2  # the first try and one retry
    (justification,) = result.tables["eval_results_table"]["answer_correctness/v1/justification"]
    assert "judge call failed" in justification
    assert "HTTP 429" in justification and "rate_limit_error" in justification
    assert math.isnan(result.metrics["answer_correctness/v1/mean"])  # no row scored: NaN, as in MLflow


def test_anthropic_wrong_key_is_a_clear_error_that_never_shows_the_key(anthropic_server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    wrong_key = "sk-ant-api03-WRONG-secret-value"
    monkeypatch.setenv("ANTHROPIC_API_KEY", wrong_key)
    result = _evaluate(answer_correctness(model=CLAUDE), QA.iloc[:2])
    justifications = list(result.tables["eval_results_table"]["answer_correctness/v1/justification"])
    for text in justifications:
        assert "judge call failed" in text
        assert "HTTP 401" in text and "authentication_error: invalid x-api-key" in text
        assert f"{anthropic_server.base_url}/v1/messages" in text
        assert wrong_key not in text
    assert anthropic_server.requests == []  # refused, and a 401 is not retried
    assert anthropic_server.failed == 0
    assert math.isnan(result.metrics["answer_correctness/v1/mean"])  # no row scored: NaN, as in MLflow
    assert wrong_key not in json.dumps(_logged_table(result.run_id))
    assert wrong_key not in caplog.text


def test_a_key_echoed_back_by_the_provider_is_masked(anthropic_server):
    anthropic_server.fail_next(403, message=f"Key {TEST_API_KEY} may not use this model")
    result = _evaluate(answer_correctness(model=CLAUDE), QA.iloc[:1])
    (justification,) = result.tables["eval_results_table"]["answer_correctness/v1/justification"]
    assert "HTTP 403" in justification and "permission_error: Key *** may not use this model" in justification
    assert TEST_API_KEY not in justification
    assert TEST_API_KEY not in json.dumps(_logged_table(result.run_id))


def test_openai_judge_errors_are_masked_too(openai_server):
    from support.openai_server import _Handler

    key = "sk-test-not-a-real-key"  # what the openai_server fixture exports

    class Refusing(_Handler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._error(401, f"Incorrect API key provided: {key}.", "invalid_api_key")

    openai_server._server.RequestHandlerClass = Refusing
    result = _evaluate(answer_correctness(), QA.iloc[:1])
    (justification,) = result.tables["eval_results_table"]["answer_correctness/v1/justification"]
    assert "HTTP 401" in justification and "Incorrect API key provided: ***" in justification
    assert key not in justification


# --- endpoints:/ (MLflow deployments server) -------------------------------------------------


def test_endpoints_chat_judge_end_to_end(deployments_server, monkeypatch):
    deployments_server.require_token("gateway-token-123")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "gateway-token-123")
    deployments_server.set_responder(grading_judge)
    rag = pd.DataFrame(
        {
            "question": ["What does MLflow Tracking log?", "What is the registry for?"],
            "retrieved": ["parameters, metrics and artifacts", "model versioning and lifecycle"],
            "response": ["It logs parameters, metrics and artifacts.", "It stores pictures of cats."],
        }
    )
    with mlflow.start_run() as run:
        result = mlflow.evaluate(
            data=rag,
            predictions="response",
            evaluator_config={"col_mapping": {"inputs": "question", "context": "retrieved"}},
            extra_metrics=[faithfulness(model="endpoints:/judge-chat", parameters={"max_tokens": 64})],
        )
    assert result.run_id == run.info.run_id
    assert mlflow.get_run(run.info.run_id).data.metrics["faithfulness/v1/mean"] == pytest.approx(3.5)
    table = result.tables["eval_results_table"]
    assert list(table["faithfulness/v1/score"]) == [5, 2]
    assert list(table["faithfulness/v1/justification"]) == [
        "faithfulness: output matches",
        "faithfulness: output misses",
    ]

    # The endpoint is looked up once, then invoked once per row with a chat payload.
    lookups = [r for r in deployments_server.requests if r["method"] == "GET"]
    assert [r["path"] for r in lookups] == ["/api/2.0/endpoints/judge-chat"]
    calls = [r for r in deployments_server.requests if r["method"] == "POST"]
    assert len(calls) == 2
    for call in calls:
        assert call["path"] == "/endpoints/judge-chat/invocations"
        assert call["headers"]["authorization"] == "Bearer gateway-token-123"
        body = call["body"]
        assert set(body) == {"messages", "temperature", "max_tokens"}  # the endpoint names the model
        assert body["temperature"] == 0.0 and body["max_tokens"] == 64
        assert section(body["messages"][0]["content"], "context") in set(rag["retrieved"])


def test_endpoints_completions_judge_sends_a_prompt(deployments_server):
    deployments_server.set_responder(
        lambda request: '{"score": 5, "justification": "prompt seen"}' if "prompt" in request else "no prompt"
    )
    result = _evaluate(answer_correctness(model="endpoints:/judge-completions"), QA.iloc[:2])
    assert result.metrics["answer_correctness/v1/mean"] == 5.0
    calls = [r for r in deployments_server.requests if r["method"] == "POST"]
    assert [set(c["body"]) for c in calls] == [{"prompt", "temperature"}] * 2


def test_endpoints_rate_limit_is_retried(deployments_server):
    deployments_server.set_responder(lambda request: '{"score": 4, "justification": "ok"}')
    deployments_server.fail_next(429)
    result = _evaluate(answer_correctness(model="endpoints:/judge-chat"), QA.iloc[:1])
    assert result.metrics["answer_correctness/v1/mean"] == 4.0
    assert len([r for r in deployments_server.requests if r["method"] == "POST"]) == 2


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (
            "no-such-endpoint",
            "HTTP 404: The endpoint 'no-such-endpoint' is not present or active on the server",
        ),
        (
            "embeddings",
            "is of type 'llm/v1/embeddings'; a judge needs a 'llm/v1/chat' or 'llm/v1/completions'",
        ),
    ],
)
def test_unusable_endpoint_fails_before_anything_is_logged(deployments_server, endpoint, expected):
    with pytest.raises(MltrailException) as err:
        _evaluate(answer_correctness(model=f"endpoints:/{endpoint}"))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert f"endpoints:/{endpoint}" in err.value.message and expected in err.value.message
    assert not [r for r in deployments_server.requests if r["method"] == "POST"]
    assert mlflow.search_runs(search_all_experiments=True).empty


# --- OpenAI-compatible providers through their base-URL variables ----------------------------


def test_togetherai_judge_end_to_end_through_its_base_url(openai_server, monkeypatch):
    monkeypatch.setenv("TOGETHERAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("TOGETHERAI_API_KEY", "together-key-1")
    openai_server.set_responder(grading_judge)
    model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    result = _evaluate(answer_correctness(model=f"togetherai:/{model}", parameters={"max_tokens": 100}))
    assert result.metrics["answer_correctness/v1/mean"] == pytest.approx(4.0)
    assert list(result.tables["eval_results_table"]["answer_correctness/v1/score"]) == [5, 5, 2]
    assert mlflow.get_run(result.run_id).data.metrics == pytest.approx(result.metrics)
    assert len(openai_server.requests) == 3
    for request in openai_server.requests:
        assert request["path"] == "/v1/chat/completions"
        assert request["headers"]["authorization"] == "Bearer together-key-1"  # not OPENAI_API_KEY
        assert request["body"]["model"] == model  # the slash in the model name survives
        assert request["body"]["max_tokens"] == 100 and request["body"]["temperature"] == 0.0


@pytest.mark.parametrize("name", OPENAI_COMPATIBLE)
def test_every_openai_compatible_provider_uses_its_own_variables(openai_server, monkeypatch, name):
    provider = PROVIDERS[name]
    monkeypatch.setenv(provider.base_url_var, openai_server.base_url)
    monkeypatch.setenv(provider.key_var, f"{name}-key")
    openai_server.set_responder(lambda request: '{"score": 2, "justification": "meh"}')
    assert judge.complete(f"{name}:/some-model", "Grade this.") == '{"score": 2, "justification": "meh"}'
    (request,) = openai_server.requests
    assert request["headers"]["authorization"] == f"Bearer {name}-key"
    assert request["body"]["model"] == "some-model"
    assert request["body"]["messages"] == [{"role": "user", "content": "Grade this."}]


def test_mistral_defaults_to_its_public_api():
    assert PROVIDERS["mistral"].default_base_url == "https://api.mistral.ai/v1"
    assert PROVIDERS["togetherai"].default_base_url == "https://api.together.xyz/v1"
    assert PROVIDERS["anthropic"].default_base_url == "https://api.anthropic.com"


# --- configuration errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "variable"),
    [
        (CLAUDE, "ANTHROPIC_API_KEY"),
        ("mistral:/mistral-large-latest", "MISTRAL_API_KEY"),
        ("togetherai:/meta-llama/Llama-3-8b-chat-hf", "TOGETHERAI_API_KEY"),
        ("endpoints:/judge-chat", "MLFLOW_DEPLOYMENTS_TARGET"),
    ],
)
def test_missing_variable_fails_early_naming_it(openai_server, monkeypatch, uri, variable):
    for name in ("ANTHROPIC_API_KEY", "MISTRAL_API_KEY", "TOGETHERAI_API_KEY", "MLFLOW_DEPLOYMENTS_TARGET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MltrailException) as err:
        _evaluate(answer_correctness(model=uri))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert variable in err.value.message and uri.split(":")[0] in err.value.message
    assert openai_server.requests == []
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_base_url_must_be_http(monkeypatch):
    monkeypatch.setenv("MLFLOW_DEPLOYMENTS_TARGET", "databricks")
    with pytest.raises(MltrailException, match="MLFLOW_DEPLOYMENTS_TARGET must be an http"):
        judge.check_judge_available("endpoints:/chat")


def test_unknown_provider_lists_the_supported_ones():
    with pytest.raises(MltrailException) as err:
        answer_correctness(model="bedrock:/anthropic.claude-3-haiku")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Unsupported judge model provider 'bedrock'" in err.value.message
    for name in ("openai", "anthropic", "mistral", "togetherai", "endpoints"):
        assert name in err.value.message


# --- the doubles against MLflow's own judge-calling code -------------------------------------


def test_mlflow_anthropic_judge_code_accepts_the_anthropic_double(anthropic_server):
    """MLflow's Anthropic adapter builds its request and parses the double's reply."""
    from mlflow.metrics.genai.model_utils import _call_llm_provider_api

    anthropic_server.set_responder(lambda request: "graded by the double")
    text = _call_llm_provider_api(
        "anthropic",
        "claude-3-5-haiku-latest",
        input_data="Grade this.",
        eval_parameters={"temperature": 0.0, "max_tokens": 64},
        proxy_url=f"{anthropic_server.base_url}/v1/messages",
    )
    assert text == "graded by the double"
    (request,) = anthropic_server.requests
    assert request["headers"]["x-api-key"] == TEST_API_KEY
    assert request["body"]["messages"] == [{"role": "user", "content": "Grade this."}]


def test_mlflow_deployments_client_reads_the_deployments_double(deployments_server):
    """MLflow's deployments client and its endpoints:/ judge call understand the double."""
    from mlflow.deployments import get_deploy_client
    from mlflow.metrics.genai.model_utils import score_model_on_payload

    client = get_deploy_client(deployments_server.base_url)
    endpoint = client.get_endpoint("judge-chat")
    assert endpoint.endpoint_type == "llm/v1/chat" and endpoint.model.name == "gpt-4o-mini"
    assert {e.name for e in client.list_endpoints()} == {"judge-chat", "judge-completions", "embeddings"}
    assert score_model_on_payload("endpoints:/judge-chat", "Grade this.", {"temperature": 0.0}) == (
        "Answer to: Grade this."
    )
    assert score_model_on_payload("endpoints:/judge-completions", "Grade that.") == "Answer to: Grade that."
