"""mltrail.evaluate with LLM-as-judge metrics answered by the fake OpenAI server over real HTTP."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from judges import grading_judge, section

import mltrail as mlflow
from mltrail.evaluation.builtin import _tokenizer
from mltrail.exceptions import MltrailException
from mltrail.metrics.genai import (
    EvaluationExample,
    answer_correctness,
    answer_relevance,
    answer_similarity,
    faithfulness,
    make_genai_metric,
    relevance,
)

QA = pd.DataFrame(
    {
        "inputs": ["What is the capital of France?", "Who wrote Hamlet?", "What is 2 + 2?"],
        "ground_truth": ["Paris", "Shakespeare", "4"],
        "answer": ["Paris is the capital.", "Shakespeare wrote it.", "It is five."],
    }
)


def _artifact_table(run_id: str) -> dict:
    path = mlflow.MlflowClient().download_artifacts(run_id, "eval_results_table.json", ".")
    return json.loads(Path(path).read_text())


def test_static_predictions_logged_with_judge_scores_and_justifications(openai_server):
    openai_server.set_responder(grading_judge)
    result = mlflow.evaluate(
        data=QA,
        predictions="answer",
        targets="ground_truth",
        model_type="question-answering",
        extra_metrics=[answer_correctness(), answer_relevance()],
    )
    # Rows 1 and 2 contain their targets (5), row 3 does not (2).
    assert result.metrics["answer_correctness/v1/mean"] == pytest.approx(4.0)
    assert result.metrics["answer_correctness/v1/variance"] == pytest.approx(2.0)
    assert result.metrics["answer_correctness/v1/p90"] == pytest.approx(5.0)
    assert result.metrics["exact_match/v1"] == 0.0
    assert "answer_relevance/v1/mean" in result.metrics

    run = mlflow.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == pytest.approx(result.metrics)
    assert mlflow.active_run() is None  # evaluate() started and ended its own run

    table = result.tables["eval_results_table"]
    assert list(table["answer_correctness/v1/score"]) == [5, 5, 2]
    assert table["answer_correctness/v1/justification"][2] == "answer_correctness: output misses"
    count = _tokenizer()  # tiktoken when its encoding is available here, else words
    assert list(table["token_count"]) == [count(a) for a in QA["answer"]]
    logged = _artifact_table(result.run_id)
    assert {"inputs", "ground_truth", "answer", "token_count", "answer_correctness/v1/score",
            "answer_correctness/v1/justification", "answer_relevance/v1/score"} <= set(logged["columns"])
    assert len(logged["data"]) == 3
    assert result.artifacts["eval_results_table"].uri.endswith("eval_results_table.json")
    # mlflow.load_table reads the logged table back, as in MLflow.
    reread = mlflow.load_table("eval_results_table.json", run_ids=[result.run_id])
    assert list(reread["answer_correctness/v1/score"]) == [5, 5, 2]

    # One judge call per row and metric, each a real chat completion with our prompt.
    bodies = [r["body"] for r in openai_server.requests]
    assert len(bodies) == 6
    assert {b["model"] for b in bodies} == {"gpt-4o-mini"}
    assert all(b["temperature"] == 0.0 for b in bodies)
    correctness_prompts = [b["messages"][0]["content"] for b in bodies if "answer_correctness" in b["messages"][0]["content"]]
    assert sorted(section(p, "targets") for p in correctness_prompts) == ["4", "Paris", "Shakespeare"]
    # The evaluation data is recorded as the run's input (untagged, as MLflow does without a metric_prefix).
    (ds_input,) = run.inputs.dataset_inputs
    assert ds_input.tags == [] or not ds_input.tags
    assert ds_input.dataset.digest


def test_unparseable_judge_reply_gives_none_score_with_explanation(openai_server):
    def judge(request):
        prompt = request["messages"][-1]["content"]
        if "Hamlet" in prompt:
            return "I would rate this answer quite highly!"
        if "2 + 2" in prompt:
            return '{"score": 9, "justification": "out of range"}'
        return 'Sure. ```json\n{"score": 4, "justification": "close enough"}\n```'

    openai_server.set_responder(judge)
    result = mlflow.evaluate(data=QA, predictions="answer", targets="ground_truth",
                             extra_metrics=[answer_correctness()])
    table = result.tables["eval_results_table"]
    scores = list(table["answer_correctness/v1/score"])
    assert scores[0] == 4
    assert pd.isna(scores[1]) and pd.isna(scores[2])
    justifications = list(table["answer_correctness/v1/justification"])
    assert justifications[0] == "close enough"
    assert "Failed to extract a score" in justifications[1]
    assert "I would rate this answer quite highly!" in justifications[1]
    assert "Failed to extract a score" in justifications[2]
    # Aggregates cover the parseable rows only.
    assert result.metrics["answer_correctness/v1/mean"] == 4.0
    logged = _artifact_table(result.run_id)
    row = dict(zip(logged["columns"], logged["data"][1], strict=True))
    assert row["answer_correctness/v1/score"] is None


def test_all_rows_unparseable_gives_nan_aggregates_and_a_warning(openai_server):
    openai_server.set_responder(lambda request: "no idea")
    with pytest.warns(UserWarning, match=r"no score could be read .* on 3 of 3 rows"):
        result = mlflow.evaluate(data=QA, predictions="answer", extra_metrics=[answer_relevance()])
    # As in MLflow: NaN mean and variance, no p90.
    judged = {k: v for k, v in result.metrics.items() if k.startswith("answer_relevance")}
    assert set(judged) == {"answer_relevance/v1/mean", "answer_relevance/v1/variance"}
    assert all(math.isnan(v) for v in judged.values())
    assert mlflow.get_run(result.run_id).info.status == "FINISHED"
    assert result.tables["eval_results_table"]["answer_relevance/v1/score"].isna().all()


def test_judge_rate_limit_is_retried(openai_server):
    from support.openai_server import _Handler

    failures = {"left": 2}

    class Flaky(_Handler):
        def do_POST(self):
            if failures["left"] > 0:
                failures["left"] -= 1
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self._error(429, "Rate limit reached", "rate_limit_exceeded")
                return
            super().do_POST()

    openai_server._server.RequestHandlerClass = Flaky
    openai_server.set_responder(lambda request: '{"score": 3, "justification": "ok"}')
    metric = answer_similarity()
    result = mlflow.evaluate(data=QA.iloc[:1], predictions="answer", targets="ground_truth", extra_metrics=[metric])
    assert failures["left"] == 0
    assert result.metrics["answer_similarity/v1/mean"] == 3.0


def test_judge_server_error_marks_rows_failed(openai_server, monkeypatch):
    from support.openai_server import _Handler

    class Broken(_Handler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._error(500, "The server had an error", "server_error")

    monkeypatch.setenv("MLTRAIL_GENAI_JUDGE_MAX_RETRIES", "0")
    openai_server._server.RequestHandlerClass = Broken
    with pytest.warns(UserWarning, match=r"failed on 3 of 3 rows.*500"):
        result = mlflow.evaluate(data=QA, predictions="answer", targets="ground_truth",
                                 extra_metrics=[answer_correctness()])
    justifications = result.tables["eval_results_table"]["answer_correctness/v1/justification"]
    assert all("judge call failed" in j and "500" in j for j in justifications)
    assert math.isnan(result.metrics["answer_correctness/v1/mean"])


def test_rag_question_answering_flow_in_active_run(openai_server):
    """The brief's flow: a RAG app's outputs with retrieved context, judged for correctness, relevance, faithfulness."""
    openai_server.set_responder(grading_judge)
    rag = pd.DataFrame(
        {
            "question": ["What does MLflow Tracking log?", "What is the registry for?"],
            "retrieved": ["parameters, metrics and artifacts", "model versioning and lifecycle"],
            "truth": ["parameters, metrics and artifacts", "versioning models"],
            "response": ["It logs parameters, metrics and artifacts.", "It stores pictures of cats."],
        }
    )
    mlflow.set_experiment("rag-eval")
    with mlflow.start_run(run_name="rag-v1") as run:
        mlflow.log_param("retriever_k", 3)
        result = mlflow.evaluate(
            data=rag,
            predictions="response",
            targets="truth",
            model_type="question-answering",
            evaluator_config={"col_mapping": {"inputs": "question", "context": "retrieved"}},
            extra_metrics=[
                answer_correctness("openai:/gpt-4o"),
                relevance("openai:/gpt-4o"),
                faithfulness("openai:/gpt-4o"),
            ],
        )
        assert mlflow.active_run().info.run_id == run.info.run_id == result.run_id
    logged = mlflow.get_run(run.info.run_id)
    assert logged.data.params == {"retriever_k": "3"}
    assert logged.data.metrics["faithfulness/v1/mean"] == pytest.approx(3.5)
    assert logged.data.metrics["answer_correctness/v1/mean"] == pytest.approx(3.5)
    table = result.tables["eval_results_table"]
    assert list(table["faithfulness/v1/score"]) == [5, 2]
    prompts = [r["body"]["messages"][0]["content"] for r in openai_server.requests]
    faith = [p for p in prompts if '"faithfulness"' in p]
    assert section(faith[0], "context") in set(rag["retrieved"])
    assert section(faith[0], "Input") is None  # faithfulness judges against the context only
    rel = [p for p in prompts if '"relevance"' in p]
    assert section(rel[0], "Input") in set(rag["question"])
    assert {r["body"]["model"] for r in openai_server.requests} == {"gpt-4o"}


def test_custom_genai_metric_with_examples_and_context_column(openai_server):
    openai_server.set_responder(lambda request: '{"score": 2, "justification": "too casual"}')
    tone = make_genai_metric(
        name="professionalism",
        definition="How formal the answer's language is.",
        grading_prompt="5: formal business prose. 1: slang.",
        examples=[EvaluationExample(input="Hi?", output="yo sup", score=1, justification="slang")],
        grading_context_columns=["audience"],
        aggregations=["mean", "min", "max"],
        version="v2",
        parameters={"max_tokens": 50},
        max_workers=2,
    )
    data = QA.assign(audience=["board", "kids", "engineers"])
    result = mlflow.evaluate(data=data, predictions="answer", extra_metrics=[tone])
    assert result.metrics == {"professionalism/v2/mean": 2.0, "professionalism/v2/min": 2.0,
                              "professionalism/v2/max": 2.0}
    prompt = openai_server.requests[0]["body"]["messages"][0]["content"]
    assert "Example Output:\nyo sup" in prompt and "Example score: 1" in prompt
    assert section(prompt, "audience") in {"board", "kids", "engineers"}
    assert openai_server.requests[0]["body"]["max_tokens"] == 50


def test_missing_grading_column_fails_before_anything_is_logged(openai_server):
    with pytest.raises(MltrailException) as err:
        mlflow.evaluate(data=QA, predictions="answer", extra_metrics=[faithfulness()])
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "context" in err.value.message and "col_mapping" in err.value.message
    assert openai_server.requests == []
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_judge_configuration_errors(openai_server, monkeypatch):
    with pytest.raises(MltrailException, match="Unsupported judge model provider"):
        answer_correctness(model="bedrock:/claude")
    with pytest.raises(MltrailException, match="Malformed judge model URI"):
        make_genai_metric("x", "d", "g", model="gpt-4o")
    with pytest.raises(MltrailException, match="Unknown aggregation"):
        make_genai_metric("x", "d", "g", aggregations=["mode"])
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url + "/no-key-variant")
    with pytest.raises(MltrailException, match="OPENAI_API_KEY"):
        mlflow.evaluate(data=QA, predictions="answer", targets="ground_truth", extra_metrics=[answer_correctness()])
    assert mlflow.search_runs(search_all_experiments=True).empty
