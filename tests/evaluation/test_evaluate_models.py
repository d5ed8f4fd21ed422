"""mltrail.evaluate with models (pyfunc URI, PyFuncModel, function), heuristic and custom metrics, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from judges import grading_judge

import mltrail as mlflow
from mltrail.exceptions import MltrailException
from mltrail.metrics import MetricValue
from mltrail.metrics.genai import answer_similarity
from mltrail.models import make_metric


class EchoQA(mlflow.pyfunc.PythonModel):
    """Answers from a lookup table: a stand-in for an LLM app with the same pyfunc interface."""

    def predict(self, context, model_input, params=None):
        facts = {"France": "Paris", "Hamlet": "Shakespeare"}
        answers = []
        for q in model_input["inputs"]:
            answers.append(next((v for k, v in facts.items() if k in q), "I do not know"))
        return answers


DATA = pd.DataFrame(
    {
        "inputs": ["Capital of France?", "Author of Hamlet?", "Speed of light?"],
        "ground_truth": ["Paris", "Shakespeare", "299792458 m/s"],
    }
)


def test_pyfunc_model_uri_is_scored_and_timed(openai_server):
    openai_server.set_responder(grading_judge)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model("qa_model", python_model=EchoQA())
    result = mlflow.evaluate(
        info.model_uri,
        DATA,
        targets="ground_truth",
        model_type="question-answering",
        extra_metrics=[answer_similarity(), mlflow.metrics.latency()],
    )
    table = result.tables["eval_results_table"]
    assert list(table["outputs"]) == ["Paris", "Shakespeare", "I do not know"]
    assert result.metrics["exact_match/v1"] == pytest.approx(2 / 3)
    assert list(table["answer_similarity/v1/score"]) == [5, 5, 2]
    assert (table["latency"] >= 0).all()
    assert {"latency/mean", "latency/variance", "latency/p90"} <= set(result.metrics)
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics["exact_match/v1"] == pytest.approx(2 / 3)
    # The model ran row by row for latency: each judge prompt names one output.
    assert len(openai_server.requests) == 3


def test_loaded_pyfunc_and_plain_function_models():
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model("qa_model", python_model=EchoQA())
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    by_model = mlflow.evaluate(loaded, DATA, targets="ground_truth", model_type="question-answering")
    by_function = mlflow.evaluate(
        lambda df: pd.DataFrame({"answer": [q.split()[-1].rstrip("?") for q in df["inputs"]]}),
        DATA,
        targets="ground_truth",
        model_type="question-answering",
    )
    assert by_model.metrics == {"exact_match/v1": pytest.approx(2 / 3)}
    # Next to targets, MLflow names the output column after the model's sole output column.
    assert list(by_function.tables["eval_results_table"]["answer"]) == ["France", "Hamlet", "light"]
    assert by_function.metrics["exact_match/v1"] == 0.0


def test_custom_metrics_bind_arguments_by_name():
    def words(predictions, targets, metrics):
        scores = [len(str(p).split()) for p in predictions]
        return MetricValue(scores=scores, aggregate_results={"total": float(sum(scores))})

    def weighted(predictions, weight, words):  # a data column and another metric's value
        return MetricValue(aggregate_results={"weighted": float(sum(w * s for w, s in zip(weight, words.scores,
                                                                                         strict=True)))})

    def legacy(eval_df, builtin_metrics):
        return {"legacy_rows": float(len(eval_df)), "saw_exact": builtin_metrics["exact_match"]}

    data = DATA.assign(answer=["Paris", "W. Shakespeare", "fast"], weight=[1, 2, 3])
    result = mlflow.evaluate(
        data=data.drop(columns=[]),
        predictions="answer",
        targets="ground_truth",
        model_type="question-answering",
        extra_metrics=[
            make_metric(eval_fn=weighted, greater_is_better=True),  # listed first, computed after `words`
            make_metric(eval_fn=words, greater_is_better=False, version="v2"),
            make_metric(eval_fn=legacy, greater_is_better=True),
        ],
    )
    assert result.metrics["words/v2/total"] == 4.0
    # An aggregate named like the metric is logged under the metric's own name, as in MLflow.
    assert result.metrics["weighted"] == 1 * 1 + 2 * 2 + 3 * 1
    assert result.metrics["legacy/legacy_rows"] == 3.0
    assert result.metrics["legacy/saw_exact"] == pytest.approx(1 / 3)
    assert list(result.tables["eval_results_table"]["words/v2/score"]) == [1, 2, 1]


def test_regressor_and_classifier_metrics():
    reg = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, 2.0, 3.0, 5.0]})
    result = mlflow.evaluate(lambda df: df["x"] * 1.0, reg, targets="y", model_type="regressor")
    m = result.metrics
    assert m["example_count"] == 4
    assert m["mean_absolute_error"] == pytest.approx(0.25)
    assert m["mean_squared_error"] == pytest.approx(0.25)
    assert m["root_mean_squared_error"] == pytest.approx(0.5)
    assert m["max_error"] == pytest.approx(1.0)
    assert m["r2_score"] == pytest.approx(1 - 1 / np.sum((reg["y"] - reg["y"].mean()) ** 2))

    clf = pd.DataFrame({"label": [1, 0, 1, 1, 0], "pred": [1, 0, 0, 1, 1]})
    result = mlflow.evaluate(data=clf, predictions="pred", targets="label", model_type="classifier")
    m = result.metrics
    assert m["accuracy_score"] == pytest.approx(0.6)
    assert (m["true_positives"], m["false_positives"], m["false_negatives"], m["true_negatives"]) == (2, 1, 1, 1)
    assert m["precision_score"] == pytest.approx(2 / 3) and m["recall_score"] == pytest.approx(2 / 3)
    assert mlflow.get_run(result.run_id).data.metrics["accuracy_score"] == pytest.approx(0.6)


def test_evaluate_into_given_run_and_list_of_dicts():
    with mlflow.start_run() as run:
        pass
    rows = [{"inputs": "a", "answer": "x", "truth": "x"}, {"inputs": "b", "answer": "y", "truth": "z"}]
    result = mlflow.evaluate(data=rows, predictions="answer", targets="truth", model_type="question-answering",
                             run_id=run.info.run_id)
    assert result.run_id == run.info.run_id
    assert mlflow.get_run(run.info.run_id).data.metrics == {"exact_match/v1": 0.5}
    dataset = mlflow.data.from_pandas(pd.DataFrame(rows), targets="truth", predictions="answer")
    again = mlflow.evaluate(data=dataset, model_type="question-answering")
    assert again.metrics == {"exact_match/v1": 0.5}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": None, "predictions": "answer"}, "needs `data`"),
        ({"data": DATA, "predictions": "answer"}, "predictions column 'answer' is not in the data"),
        ({"data": DATA}, "Pass a `model`"),
        ({"data": DATA.assign(a=1), "predictions": "a", "model_type": "chat"}, "Unsupported model_type"),
        ({"data": DATA.assign(a=1), "predictions": "a", "targets": "nope"}, "targets column 'nope'"),
        ({"data": DATA.assign(a=1), "predictions": "a", "model_type": "classifier"}, "needs `targets`"),
        ({"data": DATA.iloc[:0].assign(a=1), "predictions": "a"}, "no rows"),
        ({"data": "not a table", "predictions": "a"}, "Unsupported evaluation data"),
        ({"data": DATA.assign(a=1), "predictions": "a", "feature_names": ["zzz"]}, "feature_names"),
        ({"data": DATA.assign(a=1), "predictions": "a", "evaluators": "shap"}, "Unsupported evaluators"),
        ({"data": DATA.assign(a=1), "predictions": "a", "extra_metrics": ["exact_match"]}, "list of metrics"),
        ({"data": DATA.assign(a=1), "predictions": "a", "custom_artifacts": [print]}, "custom_artifacts"),
    ],
)
def test_bad_input_is_invalid_parameter_and_logs_nothing(kwargs, message):
    with pytest.raises(MltrailException, match=message) as err:
        mlflow.evaluate(**kwargs)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_failing_model_leaves_no_run_and_bad_metric_output_is_reported():
    def broken(df):
        raise ValueError("model exploded")

    with pytest.raises(ValueError, match="model exploded"):
        mlflow.evaluate(broken, DATA, targets="ground_truth")
    assert mlflow.search_runs(search_all_experiments=True).empty
    with pytest.raises(MltrailException, match="must return a MetricValue"):
        mlflow.evaluate(data=DATA.assign(a="x"), predictions="a",
                        extra_metrics=[make_metric(eval_fn=lambda predictions: "oops", greater_is_better=True,
                                                   name="oops")])
    with pytest.raises(MltrailException, match="must be specified"):
        make_metric(eval_fn=lambda predictions: None, greater_is_better=True)


def test_metric_prefix_names_metrics_columns_table_and_dataset_context():
    def shout(predictions):
        return MetricValue(scores=[p.upper() == p for p in predictions], justifications=["caps?"] * len(predictions))

    data = DATA.assign(answer=["PARIS", "Shakespeare", "x"])
    result = mlflow.evaluate(data=data, predictions="answer", targets="ground_truth", model_type="question-answering",
                             extra_metrics=[make_metric(eval_fn=shout, greater_is_better=True)],
                             evaluator_config={"metric_prefix": "val_"})
    # As MLflow: with a prefix, token_count also gets its aggregates under bare names.
    assert result.metrics["val_exact_match/v1"] == pytest.approx(1 / 3)
    assert set(result.metrics) == {"val_exact_match/v1"} | {
        f"val_token_count/{agg}" for agg in ("mean", "variance", "p90")
    }
    table = result.tables["eval_results_table"]
    assert {"val_token_count", "val_shout/score", "val_shout/justification"} <= set(table.columns)
    assert result.artifacts["eval_results_table"].uri.endswith("/val_eval_results_table.json")
    run = mlflow.get_run(result.run_id)
    assert {t.key: t.value for t in run.inputs.dataset_inputs[0].tags} == {"mlflow.data.context": "val_"}


class LLMWrapper(mlflow.pyfunc.PythonModel):
    """The brief's wrapper: each prompt goes to the chat completions API (here the fake server)."""

    def predict(self, context, model_input, params=None):
        import openai

        client = openai.OpenAI()
        return [
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": p}], max_tokens=256
            ).choices[0].message.content
            for p in model_input["prompt"].tolist()
        ]


def test_brief_llm_pyfunc_model_judged_by_another_llm(openai_server):
    def responder(request):
        prompt = request["messages"][-1]["content"]
        if prompt.startswith("You are an impartial grader"):
            return grading_judge(request)
        return {"Name the capital of France.": "Paris", "Who wrote Hamlet?": "Marlowe"}[prompt]

    openai_server.set_responder(responder)
    mlflow.set_experiment("llm-prompt-experiments")
    with mlflow.start_run() as run:
        mlflow.log_params({"base_model": "gpt-4o-mini"})
        info = mlflow.pyfunc.log_model("llm_model", python_model=LLMWrapper())
        result = mlflow.evaluate(
            info.model_uri,
            pd.DataFrame({"prompt": ["Name the capital of France.", "Who wrote Hamlet?"],
                          "truth": ["Paris", "Shakespeare"]}),
            targets="truth",
            model_type="question-answering",
            extra_metrics=[mlflow.metrics.genai.answer_correctness("openai:/gpt-4o")],
        )
    table = result.tables["eval_results_table"]
    assert list(table["outputs"]) == ["Paris", "Marlowe"]
    assert list(table["answer_correctness/v1/score"]) == [5, 2]
    metrics = mlflow.get_run(run.info.run_id).data.metrics
    assert metrics["answer_correctness/v1/mean"] == 3.5
    assert metrics["exact_match/v1"] == 0.5
    models = [r["body"]["model"] for r in openai_server.requests]
    assert sorted(models) == ["gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]
    judged = [r["body"]["messages"][0]["content"] for r in openai_server.requests if r["body"]["model"] == "gpt-4o"]
    assert any("Input:\nWho wrote Hamlet?" in p for p in judged)  # the sole feature column is the judge's input
