"""``mltrail.evaluate`` against the official ``mlflow.models.evaluate`` (mlflow 3.17.2), round 2.

Aggregates a ``MetricValue`` computes itself, the keys a ``metric_prefix`` gives,
the regressor's scores on awkward targets, and the artifacts of a classifier
evaluation. Each case runs through both libraries with the harness of
``test_results_table.py`` (same stand-in tokenizer, no toxicity model), which
compares metric keys (in order) and values, logged run metrics, the artifact
lists and the results table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_results_table import (  # noqa: F401  (the autouse fixture must be in this module's namespace)
    QA,
    RAG,
    Case,
    _assert_same,
    _run_mlflow,
    _run_mltrail,
    same_tokenizer_and_no_toxicity_model,
)

import mltrail
from support.mlflow_db import mlflow_sqlite_uri

mlflow = pytest.importorskip("mlflow")


# ------------------------------------------------------------ custom metrics
def _scores_only(lib: Any, version: str | None = None) -> Any:
    """Numeric per-row scores and no aggregates: the value computes mean, variance and p90 itself."""

    def answer_chars(predictions):
        return lib.metrics.MetricValue(scores=[len(str(p)) for p in predictions])

    return lib.models.make_metric(eval_fn=answer_chars, greater_is_better=True, version=version)


def _scores_and_own_aggregates(lib: Any) -> Any:
    """Own aggregates, one named like the metric (logged under the metric's bare name)."""

    def spread(predictions):
        return lib.metrics.MetricValue(
            scores=[float(len(str(p))) for p in predictions], aggregate_results={"mean": 1.5, "spread": 2.5}
        )

    return lib.models.make_metric(eval_fn=spread, greater_is_better=True)


def _aggregates_only(lib: Any) -> Any:
    def total(predictions):
        return lib.metrics.MetricValue(aggregate_results={"total": float(len(predictions)), "mean": 0.5})

    return lib.models.make_metric(eval_fn=total, greater_is_better=True, version="v1")


def _scores_empty_aggregates(lib: Any) -> Any:
    """``aggregate_results={}`` means none: only ``None`` asks for the standard ones."""

    def quiet(predictions):
        return lib.metrics.MetricValue(scores=[1, 2, 3][: len(predictions)], aggregate_results={})

    return lib.models.make_metric(eval_fn=quiet, greater_is_better=True)


def _scores_with_a_gap(lib: Any) -> Any:
    """A ``None`` score (or a bool) is not a number: no aggregates."""

    def gappy(predictions):
        return lib.metrics.MetricValue(scores=[None, *[True] * (len(predictions) - 1)])

    return lib.models.make_metric(eval_fn=gappy, greater_is_better=True)


def _scaled(frame: pd.DataFrame) -> pd.Series:
    return frame["x"] * 0.5


ZERO_TARGETS = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0.0, 1.0, 2.0, 2.5]})
CONSTANT_TARGETS = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 2.0, 2.0], "exact": [2.0, 2.0, 2.0]})

METRIC_CASES: dict[str, Case] = {
    "scores-only-custom-metrics": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "extra_metrics": [
            _scores_only(lib, "v2"),
            _scores_and_own_aggregates(lib),
            _scores_empty_aggregates(lib),
            _scores_with_a_gap(lib),
        ],
    },
    # The prefix reaches the aggregates' names too: val_answer_chars/v2/val_mean, val_latency/val_mean;
    # token_count (no aggregates of its own) computes them under bare names: val_token_count/mean.
    "prefix-qa-latency-custom": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "model_type": "question-answering",
        "extra_metrics": [lib.metrics.latency(), _scores_only(lib, "v2"), _scores_and_own_aggregates(lib)],
        "evaluator_config": {"metric_prefix": "val_"},
    },
    "prefix-retriever": lambda lib: {
        "data": RAG,
        "predictions": "retrieved",
        "targets": "relevant",
        "model_type": "retriever",
        "evaluator_config": {"metric_prefix": "val_", "retriever_k": 5},
    },
    "prefix-regressor": lambda lib: {
        "model": _scaled,
        "data": ZERO_TARGETS,
        "targets": "y",
        "model_type": "regressor",
        "evaluator_config": {"metric_prefix": "test_"},
    },
    # MLflow compares an aggregate's name with the prefixed metric name up to its first "/":
    # with "eval/", the aggregate named like the metric no longer matches. (No per-row metric here:
    # MLflow's result.tables cannot read a table logged under a folder.)
    "prefix-with-a-slash": lambda lib: {
        "data": QA,
        "predictions": "answer",
        "targets": "truth",
        "extra_metrics": [_aggregates_only(lib)],
        "evaluator_config": {"metric_prefix": "eval/"},
    },
    # sklearn's MAPE divides by machine epsilon where a target is 0: logged, and huge.
    "regressor-zero-target": lambda lib: {
        "model": _scaled,
        "data": ZERO_TARGETS,
        "targets": "y",
        "model_type": "regressor",
    },
    "regressor-constant-targets": lambda lib: {
        "model": _scaled,
        "data": CONSTANT_TARGETS.drop(columns="exact"),
        "targets": "y",
        "model_type": "regressor",
    },
    "regressor-constant-targets-exact": lambda lib: {
        "data": CONSTANT_TARGETS,
        "predictions": "exact",
        "targets": "y",
        "model_type": "regressor",
    },
}


@pytest.mark.parametrize("name", list(METRIC_CASES))
def test_metrics_match_mlflow(name, tmp_path):
    theirs = _run_mlflow(METRIC_CASES[name], tmp_path)
    ours = _run_mltrail(METRIC_CASES[name])
    _assert_same(ours, theirs)


def test_metric_value_computes_standard_aggregates_itself():
    value = mltrail.metrics.MetricValue(scores=[1, 2, 3, 4])
    assert value.aggregate_results == pytest.approx(
        {"mean": 2.5, "variance": 1.25, "p90": float(np.percentile([1, 2, 3, 4], 90))}
    )
    assert mltrail.metrics.MetricValue(scores=(0.5, np.float64(1.5))).aggregate_results == pytest.approx(
        {"mean": 1.0, "variance": 0.25, "p90": 1.4}
    )
    assert mltrail.metrics.MetricValue(scores=[1, None]).aggregate_results is None
    assert mltrail.metrics.MetricValue(scores=[True, False]).aggregate_results is None
    assert mltrail.metrics.MetricValue(scores=["a"]).aggregate_results is None
    assert mltrail.metrics.MetricValue(scores=[1], aggregate_results={}).aggregate_results == {}
    assert mltrail.metrics.MetricValue(scores=[]).aggregate_results == {}


def test_zero_target_mape_value():
    result = mltrail.evaluate(_scaled, ZERO_TARGETS, targets="y", model_type="regressor")
    errors = np.abs(ZERO_TARGETS["x"] * 0.5 - ZERO_TARGETS["y"])
    expected = np.mean(errors / np.maximum(np.abs(ZERO_TARGETS["y"]), np.finfo(np.float64).eps))
    assert result.metrics["mean_absolute_percentage_error"] == pytest.approx(expected)
    assert result.metrics["mean_absolute_percentage_error"] > 1e14


def test_one_class_cannot_be_scored_and_nothing_is_logged():
    data = pd.DataFrame({"x": [1, 2], "label": [1, 1], "guess": [1, 1]})
    with pytest.raises(mltrail.exceptions.MltrailException, match="at least two unique labels") as err:
        mltrail.evaluate(data=data, predictions="guess", targets="label", model_type="classifier")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert mltrail.search_runs(search_all_experiments=True).empty


# ------------------------------------------------------- classifier artifacts
BINARY = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "label": [0, 1, 1, 0, 1], "guess": [0, 1, 0, 0, 1]})
THREE = pd.DataFrame(
    {
        "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "label": ["cat", "dog", "bird", "cat", "dog", "bird"],
        "guess": ["cat", "dog", "cat", "cat", "bird", "bird"],
    }
)
# A label only the model predicts: its confusion-matrix row is empty, its per-class row still there.
UNSEEN = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": [0, 1, 2, 1], "guess": [0, 1, 3, 2]})


def _three_way(frame: pd.DataFrame) -> list[str]:
    return ["bird" if x > 4 else "cat" if x < 3 else "dog" for x in frame["x"]]


def _per_row_flag(lib: Any) -> Any:
    def flag(predictions, targets):
        return lib.metrics.MetricValue(
            scores=[float(p == t) for p, t in zip(predictions, targets, strict=True)]
        )

    return lib.models.make_metric(eval_fn=flag, greater_is_better=True)


CLASSIFIER_CASES: dict[str, Case] = {
    "binary-static": lambda lib: {
        "data": BINARY,
        "predictions": "guess",
        "targets": "label",
        "model_type": "classifier",
    },
    "multiclass-static": lambda lib: {
        "data": THREE,
        "predictions": "guess",
        "targets": "label",
        "model_type": "classifier",
    },
    "multiclass-unseen-label": lambda lib: {
        "data": UNSEEN,
        "predictions": "guess",
        "targets": "label",
        "model_type": "classifier",
    },
    # The PNG takes the prefix, per_class_metrics.csv does not (as MLflow names them).
    "multiclass-function-prefix-table": lambda lib: {
        "model": _three_way,
        "data": THREE.drop(columns="guess"),
        "targets": "label",
        "model_type": "classifier",
        "extra_metrics": [_per_row_flag(lib)],
        "evaluator_config": {"metric_prefix": "val_"},
    },
}


def _artifact_file(lib: Any, run_id: str, path: str, tmp_path) -> str:
    target = tmp_path / f"{lib.__name__}-{run_id}"
    target.mkdir(exist_ok=True)
    return lib.MlflowClient().download_artifacts(run_id, path, str(target))


@pytest.mark.parametrize("name", list(CLASSIFIER_CASES))
def test_classifier_artifacts_match_mlflow(name, tmp_path):
    from PIL import Image

    case = CLASSIFIER_CASES[name]
    theirs = _run_mlflow(case, tmp_path)
    ours = _run_mltrail(case)
    _assert_same(ours, theirs)  # metrics, run artifact list, result.artifacts names in order, table
    prefix = (case(mltrail).get("evaluator_config") or {}).get("metric_prefix", "")
    assert f"{prefix}confusion_matrix.png" in ours.run_artifacts
    assert ("per_class_metrics.csv" in ours.run_artifacts) == (name.startswith("multiclass"))

    mlflow.set_tracking_uri(mlflow_sqlite_uri(tmp_path / "mlflow.db"))
    try:
        their_run = mlflow.search_runs(search_all_experiments=True, output_format="list")[0].info.run_id
        if "per_class_metrics.csv" in theirs.run_artifacts:
            their_csv = pd.read_csv(_artifact_file(mlflow, their_run, "per_class_metrics.csv", tmp_path))
    finally:
        mlflow.set_tracking_uri(None)
    our_run = mltrail.search_runs(search_all_experiments=True, output_format="list")[0].info.run_id
    with Image.open(_artifact_file(mltrail, our_run, f"{prefix}confusion_matrix.png", tmp_path)) as image:
        assert image.format == "PNG" and image.width > 500 and image.height > 300
    if "per_class_metrics.csv" in theirs.run_artifacts:
        our_csv = pd.read_csv(_artifact_file(mltrail, our_run, "per_class_metrics.csv", tmp_path))
        assert list(our_csv.columns) == list(their_csv.columns)
        assert [str(d) for d in our_csv.dtypes] == [str(d) for d in their_csv.dtypes]
        pd.testing.assert_frame_equal(our_csv, their_csv, rtol=1e-12)


def test_classifier_artifacts_in_the_result():
    from PIL import Image

    with mltrail.start_run() as run:
        result = mltrail.evaluate(data=THREE, predictions="guess", targets="label", model_type="classifier")
    assert list(result.artifacts) == ["per_class_metrics", "confusion_matrix"]
    assert result.tables == {}  # a CSV is an artifact, not a table (as in MLflow)
    root = mltrail.get_run(run.info.run_id).info.artifact_uri.rstrip("/")
    per_class = result.artifacts["per_class_metrics"]
    assert per_class.uri == f"{root}/per_class_metrics.csv"
    assert list(per_class.content["positive_class"]) == ["bird", "cat", "dog"]
    assert list(per_class.content["true_positives"]) == [1, 2, 1]
    picture = result.artifacts["confusion_matrix"]
    assert picture.uri == f"{root}/confusion_matrix.png"
    assert isinstance(picture.content, Image.Image) and picture.content.size[0] > 500


def test_normalized_confusion_matrix_rows():
    from mltrail.evaluation.classifier_artifacts import normalized_confusion_matrix

    matrix = normalized_confusion_matrix(UNSEEN["label"], UNSEEN["guess"], [0, 1, 2, 3])
    assert matrix.tolist() == [[1, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
