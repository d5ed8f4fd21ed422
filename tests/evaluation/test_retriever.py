"""model_type="retriever": precision_at_k, recall_at_k and ndcg_at_k, checked by hand, against sklearn and against MLflow."""

from __future__ import annotations

import logging
import math
import random
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

import mltrail
from mltrail.evaluation import retrieval
from mltrail.exceptions import MltrailException
from support.mlflow_db import mlflow_sqlite_uri

KINDS = ("precision", "recall", "ndcg")
AGGREGATES = ("mean", "variance", "p90")


def _d(position: int) -> float:
    """The NDCG discount of a 0-based position."""
    return 1 / math.log2(position + 2)


# (retrieved, relevant, k, precision, recall, ndcg), worked out by hand.
HAND_ROWS = [
    pytest.param(["a", "b", "c", "d"], ["a", "d"], 3, 1 / 3, 1 / 2, 1 / (1 + _d(1)), id="top-k-cut"),
    pytest.param([], ["a"], 3, 0.0, 0.0, 0.0, id="nothing-retrieved"),
    pytest.param(["a"], [], 3, 0.0, 0.0, 0.0, id="no-ground-truth"),
    pytest.param([], [], 3, 0.0, 1.0, 1.0, id="both-empty"),
    # Relevant 1 retrieved three times: three relevant "documents", and the ideal ranking has four (2 as well).
    pytest.param(
        [1, 1, 1, 3],
        [1, 2],
        4,
        3 / 4,
        1 / 2,
        (1 + _d(1) + _d(2)) / (1 + _d(1) + _d(2) + _d(3)),
        id="relevant-duplicates",
    ),
    pytest.param(["x", "x", "a"], ["a"], 3, 1 / 3, 1.0, _d(2), id="irrelevant-duplicates"),
    pytest.param(["a", "b", "a"], ["a"], 2, 1 / 2, 1.0, 1.0, id="duplicate-beyond-k"),
    pytest.param(["a"], ["a", "a"], 3, 1.0, 1.0, 1.0, id="duplicate-ground-truth"),
    pytest.param(["x", "a"], ["a", "b", "c"], 10, 1 / 2, 1 / 3, _d(1) / (1 + _d(1)), id="k-beyond-list"),
    pytest.param([3, 1, 2], [1], 2, 1 / 2, 1.0, _d(1), id="int-ids"),
    pytest.param(["1"], [1], 3, 0.0, 0.0, 0.0, id="str-is-not-int"),
    pytest.param(["b", "a"], ["a"], 1, 0.0, 0.0, 0.0, id="k-1"),
    pytest.param(["a", "b", "c"], ["c", "b", "a"], 3, 1.0, 1.0, 1.0, id="perfect"),
    pytest.param(np.array(["a", "b"]), np.array(["b"]), 3, 1 / 2, 1.0, _d(1), id="numpy-str-rows"),
    pytest.param(np.array([5, 6, 7]), [7, 9], 3, 1 / 3, 1 / 2, _d(2) / (1 + _d(1)), id="numpy-int-row"),
]


def _value(metric, retrieved_rows, relevant_rows):
    return metric.eval_fn(pd.Series(retrieved_rows), pd.Series(relevant_rows))


@pytest.mark.parametrize(("retrieved", "relevant", "k", "precision", "recall", "ndcg"), HAND_ROWS)
def test_hand_made_rows(retrieved, relevant, k, precision, recall, ndcg):
    expected = {"precision": precision, "recall": recall, "ndcg": ndcg}
    for kind in KINDS:
        metric = getattr(mltrail.metrics, f"{kind}_at_k")(k)
        assert metric.name == f"{kind}_at_{k}" and metric.greater_is_better and metric.version is None
        value = _value(metric, [retrieved], [relevant])
        assert value.scores == [pytest.approx(expected[kind], abs=1e-12)], kind


def test_aggregates_are_mean_population_variance_and_p90():
    rows = [(r, g) for r, g, *_ in (p.values for p in HAND_ROWS)]
    retrieved, relevant = [r for r, _ in rows], [g for _, g in rows]
    for kind in KINDS:
        value = _value(getattr(mltrail.metrics, f"{kind}_at_k")(3), retrieved, relevant)
        scores = np.asarray(value.scores)
        assert value.aggregate_results == {
            "mean": pytest.approx(scores.mean()),
            "variance": pytest.approx(scores.var()),
            "p90": pytest.approx(np.percentile(scores, 90)),
        }


def _random_rows(seed: int, n: int) -> tuple[list[list], list[list]]:
    """Rows of str and int ids from a small vocabulary, so duplicates, overlaps and empty lists are common."""
    rng = random.Random(seed)
    vocab = ["a", "b", "c", "d", "e", "f", 1, 2, 3, 4]
    retrieved = [[rng.choice(vocab) for _ in range(rng.randint(0, 8))] for _ in range(n)]
    relevant = [[rng.choice(vocab) for _ in range(rng.randint(0, 4))] for _ in range(n)]
    return retrieved, relevant


def _sklearn_ndcg(retrieved: list, relevant: list, k: int) -> float:
    """NDCG of one row through sklearn: every retrieved position is its own document (so a repeat of a relevant
    id is one more relevant document), and relevant ids that were not retrieved are ranked last."""
    top = retrieved[:k]
    wanted = set(relevant)
    if not top and not wanted:
        return 1.0
    if not top or not wanted:
        return 0.0
    truth = [1.0 if doc in wanted else 0.0 for doc in top] + [1.0] * len(wanted - set(top))
    score = [float(len(top) - i) for i in range(len(top))] + [0.0] * len(wanted - set(top))
    if len(truth) < 2:  # sklearn ranks at least two documents
        truth.append(0.0)
        score.append(0.0)
    return float(ndcg_score([truth], [score], k=len(top)))


@pytest.mark.parametrize("k", [1, 2, 3, 5, 10])
def test_ndcg_matches_sklearn_on_random_rows(k):
    retrieved, relevant = _random_rows(seed=k, n=400)
    assert any(not r for r in retrieved) and any(not g for g in relevant)
    assert any(len(set(r[:k])) < len(r[:k]) for r in retrieved) or k == 1
    ours = _value(mltrail.metrics.ndcg_at_k(k), retrieved, relevant).scores
    expected = [_sklearn_ndcg(r, g, k) for r, g in zip(retrieved, relevant, strict=True)]
    assert ours == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------- MLflow parity
def _mlflow_metric(kind: str, k):
    with warnings.catch_warnings():  # MLflow 3 marks these metrics deprecated; they still work
        warnings.simplefilter("ignore")
        return getattr(mlflow.metrics, f"{kind}_at_k")(k)


def _assert_same(ours, theirs):
    assert (ours is None) == (theirs is None)
    if ours is None:
        return
    assert [float(s) for s in ours.scores] == pytest.approx([float(s) for s in theirs.scores], abs=1e-9)
    assert ours.aggregate_results == pytest.approx(
        {a: float(v) for a, v in theirs.aggregate_results.items()}, abs=1e-9
    )


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 50])
def test_scores_and_aggregates_match_mlflow_metric_functions(k):
    retrieved, relevant = _random_rows(seed=100 + k, n=300)
    hand = [p.values for p in HAND_ROWS]
    retrieved += [r for r, *_ in hand]
    relevant += [g for _, g, *_ in hand]
    for kind in KINDS:
        ours_metric, their_metric = getattr(mltrail.metrics, f"{kind}_at_k")(k), _mlflow_metric(kind, k)
        assert ours_metric.name == their_metric.name
        assert ours_metric.greater_is_better == their_metric.greater_is_better
        ours = _value(ours_metric, retrieved, relevant)
        theirs = their_metric.eval_fn(pd.Series(retrieved), pd.Series(relevant))
        _assert_same(ours, theirs)


@pytest.mark.parametrize(
    ("retrieved", "relevant"),
    [
        pytest.param([["a"], "b"], [["a"], ["b"]], id="string-prediction"),
        pytest.param([["a"], None], [["a"], ["b"]], id="none-prediction"),
        pytest.param([["a"], ["b"]], [["a"], float("nan")], id="nan-target"),
        pytest.param([["a"], [1.5]], [["a"], ["b"]], id="float-ids"),
        pytest.param([["a"], [np.int64(1)]], [["a"], [1]], id="numpy-scalar-ids"),
        pytest.param([["a"], np.array([1.0])], [["a"], ["b"]], id="float-array"),
        pytest.param([["a"], np.array(["x"], dtype=object)], [["a"], ["b"]], id="object-array"),
        pytest.param([("a",), ["b"]], [["a"], ["b"]], id="tuple-row"),
        pytest.param([["a"], [["b"]]], [["a"], ["b"]], id="nested-list"),
    ],
)
def test_rows_that_are_not_lists_of_ids_skip_the_metric_with_mlflows_warning(retrieved, relevant, caplog):
    for kind in KINDS:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            ours = _value(getattr(mltrail.metrics, f"{kind}_at_k")(3), retrieved, relevant)
            (our_warning,) = [r.message for r in caplog.records]
            theirs = _mlflow_metric(kind, 3).eval_fn(pd.Series(retrieved), pd.Series(relevant))
            their_warning = caplog.records[-1].message
        assert ours is None and theirs is None
        assert (
            f"Cannot calculate metric '{kind}_at_k' for non-arraylike of string or int inputs" in our_warning
        )
        assert our_warning == their_warning


@pytest.mark.parametrize("k", [0, -2, 2.0, "3", None])
def test_invalid_k_warns_and_the_metric_is_skipped_as_in_mlflow(k, caplog):
    for kind in KINDS:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mltrail.evaluation.retrieval"):
            metric = getattr(mltrail.metrics, f"{kind}_at_k")(k)
        assert [r.message for r in caplog.records] == [
            f"Cannot calculate '{kind}_at_k' for invalid parameter 'k'. 'k' should be a positive integer; "
            f"found: {k!r}. Skipping metric logging."
        ]
        their_metric = _mlflow_metric(kind, k)
        assert metric.name == their_metric.name == f"{kind}_at_{k}"
        assert metric.eval_fn(pd.Series([["a"]]), pd.Series([["a"]])) is None
        assert their_metric.eval_fn(pd.Series([["a"]]), pd.Series([["a"]])) is None


# ------------------------------------------------------------- evaluate()
RAG = pd.DataFrame(
    {
        "question": ["What does Tracking log?", "What is the registry?", "How do I serve?", "Unanswerable?"],
        "retrieved_context_ids": [["doc1", "doc4", "doc2", "doc9"], ["doc7"], ["doc3", "doc3", "doc5"], []],
        "ground_truth_ids": [["doc1", "doc2"], ["doc8"], ["doc3", "doc5", "doc6"], []],
    }
)
KEYS_AT_3 = {f"{kind}_at_3/{agg}" for kind in KINDS for agg in AGGREGATES}


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    """A SQLite store for the real mlflow client, shared by this module's parity tests."""
    return mlflow_sqlite_uri(tmp_path_factory.mktemp("mlflow") / "mlflow.db")


def _mlflow_evaluate(uri: str, **kwargs) -> tuple[dict[str, float], pd.DataFrame]:
    """The metrics and results table of the real ``mlflow.models.evaluate`` (the table is read from its store)."""
    mlflow.set_tracking_uri(uri)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mlflow.start_run():
                result = mlflow.models.evaluate(**kwargs)
        return {key: float(v) for key, v in result.metrics.items()}, result.tables["eval_results_table"]
    finally:
        mlflow.set_tracking_uri(None)


def _assert_tables_match(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    # Same columns and values; the column order of the data part follows the input frame (MLflow moves
    # the targets and predictions columns after the features).
    assert sorted(ours.columns) == sorted(theirs.columns)
    for column in theirs.columns:
        mine, reference = list(ours[column]), list(theirs[column])
        if column.endswith("/score"):
            assert mine == pytest.approx(reference, abs=1e-9), column
        else:
            assert [list(v) if isinstance(v, np.ndarray) else v for v in mine] == reference, column


def test_static_dataframe_logs_mlflows_metrics_and_table(mlflow_uri):
    kwargs = {
        "data": RAG,
        "predictions": "retrieved_context_ids",
        "targets": "ground_truth_ids",
        "model_type": "retriever",
    }
    with mltrail.start_run() as run:
        result = mltrail.evaluate(**kwargs)
    assert set(result.metrics) == KEYS_AT_3
    assert result.metrics["precision_at_3/mean"] == pytest.approx((2 / 3 + 0 + 1 + 0) / 4)
    assert result.metrics["recall_at_3/mean"] == pytest.approx((1 + 0 + 2 / 3 + 1) / 4)
    logged = mltrail.get_run(run.info.run_id).data
    assert set(logged.metrics) == KEYS_AT_3
    assert logged.metrics == pytest.approx(result.metrics)
    assert logged.params == {}  # retriever_k is read from evaluator_config, not logged as a param
    table = result.tables["eval_results_table"]
    assert not {"token_count", "toxicity/v1/score"} & set(table.columns)
    assert list(table["ndcg_at_3/score"]) == pytest.approx([(1 + _d(2)) / (1 + _d(1)), 0.0, 1.0, 1.0])

    their_metrics, their_table = _mlflow_evaluate(mlflow_uri, **kwargs)
    assert result.metrics == pytest.approx(their_metrics, abs=1e-12)
    _assert_tables_match(table, their_table)
    reread = mltrail.load_table("eval_results_table.json", run_ids=[run.info.run_id])
    assert list(reread["precision_at_3/score"]) == pytest.approx(list(table["precision_at_3/score"]))


def _retrieve(frame: pd.DataFrame) -> list[list[str]]:
    """A stand-in retriever: the documents for each question, best first (a list per row)."""
    index = dict(zip(RAG["question"], RAG["retrieved_context_ids"], strict=True))
    return [list(index[q]) for q in frame["question"]]


class ListRetriever(mltrail.pyfunc.PythonModel):
    """A python-function retriever model whose predict returns one list of doc ids per row."""

    def predict(self, context, model_input, params=None):
        return _retrieve(model_input)


def test_function_and_pyfunc_models_returning_lists(mlflow_uri):
    data = RAG[["question", "ground_truth_ids"]]
    kwargs = {"data": data, "targets": "ground_truth_ids", "model_type": "retriever"}
    by_function = mltrail.evaluate(_retrieve, **kwargs)
    assert set(by_function.metrics) == KEYS_AT_3
    table = by_function.tables["eval_results_table"]
    assert list(table["outputs"]) == list(RAG["retrieved_context_ids"])

    with mltrail.start_run():
        info = mltrail.pyfunc.log_model("retriever", python_model=ListRetriever())
    by_uri = mltrail.evaluate(info.model_uri, **kwargs)
    by_loaded = mltrail.evaluate(mltrail.pyfunc.load_model(info.model_uri), **kwargs)
    assert by_uri.metrics == by_loaded.metrics == pytest.approx(by_function.metrics)
    assert list(by_uri.tables["eval_results_table"]["outputs"]) == list(RAG["retrieved_context_ids"])

    their_metrics, their_table = _mlflow_evaluate(mlflow_uri, model=_retrieve, **kwargs)
    assert by_function.metrics == pytest.approx(their_metrics, abs=1e-12)
    _assert_tables_match(table, their_table)


def test_model_output_column_named_with_predictions():
    def retrieve(frame):
        return pd.DataFrame(
            {"doc_ids": _retrieve(frame), "scores": [[0.9] * len(r) for r in _retrieve(frame)]}
        )

    result = mltrail.evaluate(
        retrieve,
        RAG[["question", "ground_truth_ids"]],
        targets="ground_truth_ids",
        predictions="doc_ids",
        model_type="retriever",
    )
    static = mltrail.evaluate(
        data=RAG, predictions="retrieved_context_ids", targets="ground_truth_ids", model_type="retriever"
    )
    assert result.metrics == pytest.approx(static.metrics)


def test_custom_retriever_k(mlflow_uri):
    kwargs = {
        "data": RAG,
        "predictions": "retrieved_context_ids",
        "targets": "ground_truth_ids",
        "model_type": "retriever",
        "evaluator_config": {"retriever_k": 1},
    }
    with mltrail.start_run() as run:
        result = mltrail.evaluate(**kwargs)
    assert set(result.metrics) == {f"{kind}_at_1/{agg}" for kind in KINDS for agg in AGGREGATES}
    assert list(result.tables["eval_results_table"]["precision_at_1/score"]) == [1.0, 0.0, 1.0, 0.0]
    assert mltrail.get_run(run.info.run_id).data.params == {}
    their_metrics, _ = _mlflow_evaluate(mlflow_uri, **kwargs)
    assert result.metrics == pytest.approx(their_metrics, abs=1e-12)

    prefixed = mltrail.evaluate(
        **{**kwargs, "evaluator_config": {"default": {"retriever_k": 5}, "metric_prefix": "val_"}}
    )
    assert set(prefixed.metrics) == {f"val_{kind}_at_5/val_{agg}" for kind in KINDS for agg in AGGREGATES}


def test_retriever_k_is_popped_so_metrics_do_not_receive_it():
    def k_seen(predictions, retriever_k):
        return mltrail.metrics.MetricValue(aggregate_results={"k_seen": float(retriever_k)})

    metric = mltrail.models.make_metric(eval_fn=k_seen, greater_is_better=True)
    with pytest.raises(MltrailException, match="needs \\['retriever_k'\\]"):
        mltrail.evaluate(
            data=RAG,
            predictions="retrieved_context_ids",
            targets="ground_truth_ids",
            model_type="retriever",
            evaluator_config={"retriever_k": 2},
            extra_metrics=[metric],
        )
    # Other model types leave it alone, like any evaluator_config key.
    result = mltrail.evaluate(
        data=RAG,
        predictions="retrieved_context_ids",
        evaluator_config={"retriever_k": 2},
        extra_metrics=[metric],
    )
    assert result.metrics == {"k_seen": 2.0}


@pytest.mark.parametrize("k", [0, -1, 2.5, "3"])
def test_invalid_retriever_k_skips_the_metrics_with_warnings(k, caplog):
    with caplog.at_level(logging.WARNING, logger="mltrail.evaluation.retrieval"):
        result = mltrail.evaluate(
            data=RAG,
            predictions="retrieved_context_ids",
            model_type="retriever",
            evaluator_config={"retriever_k": k},
        )
    assert result.metrics == {}
    assert len([r for r in caplog.records if "invalid parameter 'k'" in r.message]) == 3
    assert result.tables == {}  # no metric gave per-row scores: MLflow logs no results table


def test_retriever_without_targets_is_invalid_and_logs_nothing():
    with pytest.raises(MltrailException, match="model_type 'retriever' needs `targets`") as err:
        mltrail.evaluate(data=RAG, predictions="retrieved_context_ids", model_type="retriever")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert mltrail.search_runs(search_all_experiments=True).empty


def test_bad_rows_skip_the_metrics_with_a_warning_and_the_evaluation_goes_on(caplog):
    bad = RAG.copy()
    bad.at[1, "retrieved_context_ids"] = "doc7"  # one string instead of a list
    with caplog.at_level(logging.WARNING, logger="mltrail.evaluation.retrieval"):
        result = mltrail.evaluate(
            data=bad,
            predictions="retrieved_context_ids",
            targets="ground_truth_ids",
            model_type="retriever",
            extra_metrics=[mltrail.metrics.precision_at_k(2)],
        )
    assert result.metrics == {}
    messages = [r.message for r in caplog.records]
    assert len(messages) == 4 and all("on row 1, value doc7" in m for m in messages)
    run = mltrail.get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics == {}
    assert result.tables == {}  # every metric was skipped: no per-row scores, no results table (as in MLflow)

    def sometimes_none(frame):
        return [
            None if q.startswith("How") else ids
            for q, ids in zip(frame["question"], _retrieve(frame), strict=True)
        ]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mltrail.evaluation.retrieval"):
        result = mltrail.evaluate(
            sometimes_none,
            RAG[["question", "ground_truth_ids"]],
            targets="ground_truth_ids",
            model_type="retriever",
        )
    assert result.metrics == {}
    assert len(caplog.records) == 3 and all("on row 2, value None" in r.message for r in caplog.records)


def test_retriever_metrics_as_extra_metrics_without_a_model_type():
    result = mltrail.evaluate(
        data=RAG,
        predictions="retrieved_context_ids",
        targets="ground_truth_ids",
        extra_metrics=[mltrail.metrics.recall_at_k(2), mltrail.metrics.ndcg_at_k(4)],
    )
    assert set(result.metrics) == {f"recall_at_2/{a}" for a in AGGREGATES} | {
        f"ndcg_at_4/{a}" for a in AGGREGATES
    }
    assert list(result.tables["eval_results_table"]["recall_at_2/score"]) == pytest.approx(
        [1 / 2, 0, 1 / 3, 1]
    )


def test_public_names():
    assert {"precision_at_k", "recall_at_k", "ndcg_at_k"} <= set(mltrail.metrics.__all__)
    assert mltrail.metrics.precision_at_k is retrieval.precision_at_k
