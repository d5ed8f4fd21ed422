"""The results table of ``mltrail.evaluate`` against the official ``mlflow.models.evaluate`` (mlflow 3.17.2).

Each case runs the same evaluation through both libraries, each into a run of
its own store, and compares what code written for MLflow reads: the logged
``eval_results_table.json`` (its JSON shape, columns in order and values), the
``mlflow.loggedArtifacts`` run tag, the run's artifact list, ``result.tables``
(keys, column order, dtypes and values), ``result.artifacts``' keys, and the
aggregate metrics (``result.metrics`` and the run's logged metrics: keys, order
and values).

What cannot be had here is stood in for, identically for both libraries:

* tiktoken's ``cl100k_base`` file (a download): a byte-level encoding is
  registered under that name, so ``token_count`` counts the same on both sides;
* the toxicity classifier and ``textstat``/``evaluate`` are absent, so both
  libraries skip ``toxicity``, the readability grades and ROUGE with a warning.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mltrail
from mltrail.exceptions import MltrailException
from support.mlflow_db import mlflow_sqlite_uri

mlflow = pytest.importorskip("mlflow")
tiktoken_registry = pytest.importorskip("tiktoken.registry")

TABLE_FILE = "eval_results_table.json"
# Columns whose values are wall-clock times: compared by kind only.
TIMED_COLUMNS = ("latency",)

QA = pd.DataFrame(
    {
        "question": ["What is 1+1?", "Capital of France?", "Who wrote Hamlet?"],
        "truth": ["two", "Paris", "Shakespeare"],
        "extra": [1, 2, 3],
        "answer": ["2", "Paris", "Shakespeare"],
    }
)
RAG = pd.DataFrame(
    {
        "question": ["What does Tracking log?", "What is the registry?", "Unanswerable?"],
        "retrieved": [["doc1", "doc4", "doc2"], ["doc7"], []],
        "relevant": [["doc1", "doc2"], ["doc8"], []],
    }
)
NUMBERS = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": [0, 1, 1, 0], "guess": [0, 1, 0, 0]})


@pytest.fixture(autouse=True)
def same_tokenizer_and_no_toxicity_model(monkeypatch, tmp_path):
    """Both libraries count tokens with one stand-in cl100k_base and find no toxicity classifier."""
    import tiktoken

    from mltrail.evaluation import builtin

    stand_in = tiktoken.Encoding(
        name="cl100k_base",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )
    monkeypatch.setitem(tiktoken_registry.ENCODINGS, "cl100k_base", stand_in)
    monkeypatch.setenv(
        "TIKTOKEN_CACHE_DIR", ""
    )  # what mlflow sets itself when unset; restored after the test
    monkeypatch.setenv("MLTRAIL_TOXICITY_MODEL", str(tmp_path / "no-toxicity-model"))
    builtin._tokenizer.cache_clear()
    yield
    builtin._tokenizer.cache_clear()


# ------------------------------------------------------------------ the cases
def _answer_length(lib: Any) -> Any:
    """A custom metric with per-row scores, justifications and a version."""

    def answer_length(predictions, targets):
        scores = [len(str(p)) for p in predictions]
        notes = [f"{p!r} vs {t!r}" for p, t in zip(predictions, targets, strict=True)]
        return lib.metrics.MetricValue(scores=scores, justifications=notes, aggregate_results={"mean": 1.0})

    return lib.models.make_metric(eval_fn=answer_length, greater_is_better=True, version="v2")


def _dependent_pair(lib: Any) -> list[Any]:
    """``second`` reads ``first``'s value but is listed before it: it is computed, and tabled, after it."""

    def second(predictions, first):
        return lib.metrics.MetricValue(scores=[s * 2 for s in first.scores], aggregate_results={"total": 1.0})

    def first(predictions):
        return lib.metrics.MetricValue(scores=[0.25] * len(predictions), aggregate_results={"total": 1.0})

    return [
        lib.models.make_metric(eval_fn=second, greater_is_better=True),
        lib.models.make_metric(eval_fn=first, greater_is_better=True),
    ]


def _per_row_flag(lib: Any) -> Any:
    def flag(predictions, targets):
        return lib.metrics.MetricValue(
            scores=[float(p == t) + 0.5 for p, t in zip(predictions, targets, strict=True)],
            aggregate_results={"mean": 1.0},
        )

    return lib.models.make_metric(eval_fn=flag, greater_is_better=True)


def _aggregate_only(lib: Any) -> Any:
    def rows(predictions):
        return lib.metrics.MetricValue(aggregate_results={"rows": float(len(predictions))})

    return lib.models.make_metric(eval_fn=rows, greater_is_better=True)


def _source_length(lib: Any) -> Any:
    """Reads the model's ``source`` output column (not the predictions)."""

    def source_length(predictions, source):
        return lib.metrics.MetricValue(scores=[len(s) for s in source], aggregate_results={"max": 1.0})

    return lib.models.make_metric(eval_fn=source_length, greater_is_better=True)


def _answer_list(frame: pd.DataFrame) -> list[str]:
    return [f"about {q}" for q in frame["question"]]


def _answer_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"answer": _answer_list(frame)})


def _answer_and_source(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {"answer": _answer_list(frame), "source": [f"src{i}" for i in range(len(frame))], "unused": 1}
    )


def _answer_dict(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {"response": _answer_list(frame)}


def _retrieve(frame: pd.DataFrame) -> list[list[str]]:
    index = dict(zip(RAG["question"], RAG["retrieved"], strict=True))
    return [list(index[q]) for q in frame["question"]]


def _threshold(frame: pd.DataFrame) -> np.ndarray:
    return (frame["x"] > 2).astype(int).to_numpy()


def _scaled(frame: pd.DataFrame) -> pd.Series:
    return frame["x"] * 0.1


Case = Callable[[Any], dict[str, Any]]

CASES: dict[str, Case] = {
    # Static predictions: with targets the column keeps its name, after the targets.
    "qa-static-targets": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "model_type": "question-answering",
    },
    # Without targets MLflow calls the predictions "outputs", and the ground truth stays a feature.
    "qa-static-no-targets": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "model_type": "question-answering",
    },
    "text-static": lambda lib: {"data": QA, "predictions": "answer", "model_type": "text"},
    "summarization-static-targets": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "model_type": "text-summarization",
    },
    "retriever-static": lambda lib: {
        "data": RAG,
        "predictions": "retrieved",
        "targets": "relevant",
        "model_type": "retriever",
    },
    "retriever-function": lambda lib: {
        "model": _retrieve,
        "data": RAG.drop(columns="retrieved"),
        "targets": "relevant",
        "model_type": "retriever",
        "evaluator_config": {"retriever_k": 2},
    },
    # No metric gives per-row values: MLflow logs no table at all.
    "classifier-static": lambda lib: {
        "data": NUMBERS,
        "predictions": "guess",
        "targets": "label",
        "model_type": "classifier",
    },
    "regressor-function": lambda lib: {
        "model": _scaled,
        "data": NUMBERS.drop(columns="guess"),
        "targets": "label",
        "model_type": "regressor",
    },
    "no-model-type-aggregate-only": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "extra_metrics": [_aggregate_only(lib)],
    },
    "classifier-static-per-row-metric": lambda lib: {
        "data": NUMBERS,
        "predictions": "guess",
        "targets": "label",
        "model_type": "classifier",
        "extra_metrics": [_per_row_flag(lib)],
    },
    # A model of a classic type: its output column is "outputs" even though `predictions` is not given.
    "classifier-function-per-row-metric": lambda lib: {
        "model": _threshold,
        "data": NUMBERS.drop(columns="guess"),
        "targets": "label",
        "model_type": "classifier",
        "extra_metrics": [_per_row_flag(lib)],
    },
    "regressor-function-per-row-metric": lambda lib: {
        "model": _scaled,
        "data": NUMBERS.drop(columns="guess"),
        "targets": "label",
        "model_type": "regressor",
        "extra_metrics": [_per_row_flag(lib)],
    },
    "custom-metrics-in-dependency-order": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "extra_metrics": [*_dependent_pair(lib), _answer_length(lib)],
    },
    # feature_names: only those columns are features; the other input columns are not in the table.
    "feature-names-static": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "feature_names": ["question"],
        "model_type": "question-answering",
    },
    "feature-names-static-no-targets": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "feature_names": ["extra", "question"],
        "model_type": "text",
    },
    "feature-names-including-targets": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "feature_names": ["truth", "question"],
        "model_type": "text",
    },
    "feature-names-function": lambda lib: {
        "model": _answer_list,
        "data": QA.drop(columns="answer"),
        "targets": "truth",
        "feature_names": ["question"],
        "model_type": "question-answering",
    },
    "function-list-targets": lambda lib: {
        "model": _answer_list,
        "data": QA.drop(columns="answer"),
        "targets": "truth",
        "model_type": "question-answering",
    },
    "function-list-no-targets": lambda lib: {
        "model": _answer_list,
        "data": QA.drop(columns=["answer", "truth"]),
        "model_type": "text",
    },
    # A model's single output column or key names the output column, next to targets only.
    "function-frame-targets": lambda lib: {
        "model": _answer_frame,
        "data": QA.drop(columns="answer"),
        "targets": "truth",
        "model_type": "question-answering",
    },
    "function-frame-no-targets": lambda lib: {
        "model": _answer_frame,
        "data": QA.drop(columns=["answer", "truth"]),
        "model_type": "text",
    },
    "function-dict-targets": lambda lib: {
        "model": _answer_dict,
        "data": QA.drop(columns="answer"),
        "targets": "truth",
        "model_type": "text",
    },
    "function-list-named-by-predictions": lambda lib: {
        "model": _answer_list,
        "data": QA.drop(columns="answer"),
        "targets": "truth",
        "predictions": "reply",
        "model_type": "text",
    },
    # Other output columns a metric read follow the predictions; unread ones are left out.
    "function-several-outputs": lambda lib: {
        "model": _answer_and_source,
        "data": QA.drop(columns="answer"),
        "targets": "truth",
        "predictions": "answer",
        "extra_metrics": [_source_length(lib)],
    },
    "function-several-outputs-no-targets": lambda lib: {
        "model": _answer_and_source,
        "data": QA.drop(columns=["answer", "truth"]),
        "predictions": "answer",
        "extra_metrics": [_source_length(lib)],
    },
    # Latency is timed while predicting: the first per-row column (0 for every row without a model).
    "latency-function": lambda lib: {
        "model": _answer_list,
        "data": QA.drop(columns="answer"),
        "targets": "truth",
        "model_type": "question-answering",
        "extra_metrics": [lib.metrics.latency()],
    },
    "latency-static": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "model_type": "question-answering",
        "extra_metrics": [lib.metrics.latency()],
    },
    "metric-prefix": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "model_type": "question-answering",
        "extra_metrics": [_answer_length(lib)],
        "evaluator_config": {"metric_prefix": "val_"},
    },
}


# ------------------------------------------------------------ running both
@dataclass
class Outcome:
    """What one evaluation left behind, as code written for MLflow sees it."""

    result_artifacts: list[str]
    tables: dict[str, pd.DataFrame]
    run_artifacts: list[str]
    logged_tag: Any
    payload: dict[str, Any] | None
    metrics: dict[str, float]
    run_metrics: dict[str, float]


def _outcome(lib: Any, client: Any, run_id: str, result: Any, table_file: str) -> Outcome:
    paths = [a.path for a in client.list_artifacts(run_id)]
    payload = None
    if table_file in paths:
        with open(client.download_artifacts(run_id, table_file, "."), encoding="utf-8") as f:
            payload = json.load(f)
    tag = client.get_run(run_id).data.tags.get("mlflow.loggedArtifacts")
    return Outcome(
        result_artifacts=list(result.artifacts),
        tables=result.tables,
        run_artifacts=sorted(paths),
        logged_tag=None if tag is None else json.loads(tag),
        payload=payload,
        metrics=dict(result.metrics),
        run_metrics=dict(client.get_run(run_id).data.metrics),
    )


def _run_mlflow(case: Case, tmp_path, model: Any = None) -> Outcome:
    kwargs = case(mlflow)
    if model is not None:
        kwargs["model"] = model
    mlflow.set_tracking_uri(mlflow_sqlite_uri(tmp_path / "mlflow.db"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mlflow.start_run() as run:
                result = mlflow.models.evaluate(**kwargs)
            return _outcome(mlflow, mlflow.MlflowClient(), run.info.run_id, result, _table_file(kwargs))
    finally:
        mlflow.set_tracking_uri(None)


def _run_mltrail(case: Case, model: Any = None) -> Outcome:
    kwargs = case(mltrail)
    if model is not None:
        kwargs["model"] = model
    with mltrail.start_run() as run:
        result = mltrail.evaluate(**kwargs)
    return _outcome(mltrail, mltrail.MlflowClient(), run.info.run_id, result, _table_file(kwargs))


def _table_file(kwargs: dict[str, Any]) -> str:
    return (kwargs.get("evaluator_config") or {}).get("metric_prefix", "") + TABLE_FILE


# ------------------------------------------------------------ comparing
def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, float) and isinstance(ours, (int, float)):
        return (math.isnan(theirs) and math.isnan(ours)) or ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    if isinstance(theirs, (list, tuple, np.ndarray)):
        return len(ours) == len(theirs) and all(_same(a, b) for a, b in zip(ours, theirs, strict=True))
    if isinstance(theirs, dict):
        return (
            isinstance(ours, dict)
            and ours.keys() == theirs.keys()
            and all(_same(ours[k], theirs[k]) for k in theirs)
        )
    return type(ours) is type(theirs) and ours == theirs


def _assert_rows_match(columns: list[str], ours: list[list[Any]], theirs: list[list[Any]]) -> None:
    assert len(ours) == len(theirs)
    for row, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        for column, a, b in zip(columns, mine, reference, strict=True):
            if column.endswith(TIMED_COLUMNS):
                assert isinstance(a, (int, float)) and isinstance(b, (int, float)), (row, column, a, b)
            else:
                assert _same(a, b), (row, column, a, b)


def _plain(value: Any) -> Any:
    """A table cell as plain Python (numpy scalars and arrays to their Python values)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _assert_same_metrics(ours: dict[str, float], theirs: dict[str, float]) -> None:
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        if key.split("/")[0].endswith(TIMED_COLUMNS):
            assert isinstance(ours[key], float), (key, ours[key])
        else:
            assert _same(float(ours[key]), float(value)), (key, ours[key], value)


def _assert_same(ours: Outcome, theirs: Outcome) -> None:
    _assert_same_metrics(ours.metrics, theirs.metrics)
    _assert_same_metrics(dict(sorted(ours.run_metrics.items())), dict(sorted(theirs.run_metrics.items())))
    assert ours.run_artifacts == theirs.run_artifacts
    assert ours.result_artifacts == theirs.result_artifacts
    assert ours.logged_tag == theirs.logged_tag
    assert sorted(ours.tables) == sorted(theirs.tables)
    assert (ours.payload is None) == (theirs.payload is None)
    if theirs.payload is not None:
        assert list(ours.payload) == list(theirs.payload) == ["columns", "data"]
        assert ours.payload["columns"] == theirs.payload["columns"]
        _assert_rows_match(theirs.payload["columns"], ours.payload["data"], theirs.payload["data"])
    for name, their_table in theirs.tables.items():
        our_table = ours.tables[name]
        assert list(our_table.columns) == list(their_table.columns)
        assert [d.kind for d in our_table.dtypes] == [d.kind for d in their_table.dtypes]
        assert [str(d) for d in our_table.dtypes] == [str(d) for d in their_table.dtypes]
        _assert_rows_match(
            list(their_table.columns),
            [[_plain(v) for v in row] for row in our_table.itertuples(index=False)],
            [[_plain(v) for v in row] for row in their_table.itertuples(index=False)],
        )


@pytest.mark.parametrize("name", list(CASES))
def test_results_table_matches_mlflow(name, tmp_path):
    theirs = _run_mlflow(CASES[name], tmp_path)
    ours = _run_mltrail(CASES[name])
    _assert_same(ours, theirs)


class _TableQA:
    """A python-function model's predict: answers from a lookup table."""

    def predict(self, context, model_input, params=None):
        facts = {"France": "Paris", "Hamlet": "Shakespeare"}
        return [next((v for k, v in facts.items() if k in q), "no idea") for q in model_input["question"]]


class MlflowQA(_TableQA, mlflow.pyfunc.PythonModel):
    pass


class MltrailQA(_TableQA, mltrail.pyfunc.PythonModel):
    pass


@pytest.mark.parametrize("targets", ["truth", None], ids=["targets", "no-targets"])
def test_pyfunc_model_uri_table_matches_mlflow(targets, tmp_path):
    def case(lib: Any) -> dict[str, Any]:
        data = QA.drop(columns="answer") if targets else QA.drop(columns=["answer", "truth"])
        return {"data": data, "targets": targets, "model_type": "question-answering"}

    mlflow.set_tracking_uri(mlflow_sqlite_uri(tmp_path / "mlflow.db"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mlflow.start_run():
                their_uri = mlflow.pyfunc.log_model(
                    name="qa", python_model=MlflowQA(), pip_requirements=["mlflow"]
                ).model_uri
    finally:
        mlflow.set_tracking_uri(None)
    with mltrail.start_run():
        our_uri = mltrail.pyfunc.log_model(
            "qa", python_model=MltrailQA(), pip_requirements=["mltrail"]
        ).model_uri

    theirs = _run_mlflow(case, tmp_path, model=their_uri)
    ours = _run_mltrail(case, model=our_uri)
    _assert_same(ours, theirs)
    assert list(ours.tables["eval_results_table"]["outputs"]) == ["no idea", "Paris", "Shakespeare"]


def test_no_per_row_metric_logs_no_table_and_no_table_tag():
    result = mltrail.evaluate(data=NUMBERS, predictions="guess", targets="label", model_type="classifier")
    assert result.tables == {} and list(result.artifacts) == [
        "confusion_matrix"
    ]  # the classifier's plot only
    run = mltrail.get_run(result.run_id)
    assert "mlflow.loggedArtifacts" not in run.data.tags
    assert [a.path for a in mltrail.MlflowClient().list_artifacts(result.run_id)] == ["confusion_matrix.png"]
    assert run.data.metrics["accuracy_score"] == pytest.approx(0.75)


def test_second_evaluation_in_a_run_appends_to_the_table_as_mlflow_does():
    with mltrail.start_run():
        mltrail.evaluate(data=QA, predictions="answer", targets="truth", model_type="text")
        again = mltrail.evaluate(data=QA.iloc[:1], predictions="answer", targets="truth", model_type="text")
    table = again.tables["eval_results_table"]
    assert list(table["answer"]) == ["2", "Paris", "Shakespeare", "2"]
    assert list(table.columns) == ["question", "extra", "truth", "answer", "token_count"]


def test_a_metric_reading_a_missing_model_output_fails_before_anything_is_logged():
    with pytest.raises(MltrailException, match="source") as err:
        mltrail.evaluate(
            _answer_frame,
            QA.drop(columns="answer"),
            targets="truth",
            predictions="answer",
            extra_metrics=[_source_length(mltrail)],
        )
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert mltrail.search_runs(search_all_experiments=True).empty
