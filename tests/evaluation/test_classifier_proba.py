"""What ``mltrail.evaluate`` reads from a model's raw estimator, against the official ``mlflow.models.evaluate`` (3.17.2).

A scikit-learn (or XGBoost) model saved once by ``mltrail.sklearn``/``mltrail.xgboost`` in
MLflow's format is evaluated by both libraries from the same path: the ``score`` metric from
the estimator's own ``score``, the probability metrics (``log_loss``, ``roc_auc``,
``precision_recall_auc``), the curve plots and the per-class AUC columns of
``per_class_metrics.csv`` must match in names, order and values (the harness of
``test_results_table.py`` compares metrics, run metrics, run artifacts and ``result.artifacts``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_results_table import (  # noqa: F401  (the autouse fixture must be in this module's namespace)
    _assert_same,
    _run_mlflow,
    _run_mltrail,
    same_tokenizer_and_no_toxicity_model,
)

import mltrail
from support.mlflow_db import mlflow_sqlite_uri

mlflow = pytest.importorskip("mlflow")
sklearn_linear = pytest.importorskip("sklearn.linear_model")

_RNG = np.random.RandomState(7)
FEATURES = pd.DataFrame({"a": _RNG.randn(60), "b": _RNG.randn(60)})
NOISY = FEATURES["a"] + 0.6 * _RNG.randn(60)
BINARY = np.where(NOISY > 0, 1, 0)
YES_NO = np.where(NOISY > 0, "yes", "no")
THREE = np.where(NOISY > 0.6, 2, np.where(NOISY < -0.6, 0, 1))
ANIMALS = np.array(["bird", "cat", "dog"])[THREE]
TARGET = 2.0 * FEATURES["a"] - FEATURES["b"] + 0.3 * _RNG.randn(60)

CURVES = ["roc_curve_plot", "precision_recall_curve_plot", "lift_curve_plot", "calibration_curve_plot"]


def _save(estimator: Any, labels: Any, tmp_path, flavor: str = "sklearn") -> str:
    """Fit ``estimator`` and save it once, in MLflow's format; both libraries load it from the path."""
    estimator.fit(FEATURES, labels)
    path = tmp_path / "model"
    getattr(mltrail, flavor).save_model(estimator, str(path))
    return str(path)


def _case(labels: Any, model_type: str = "classifier", config: dict[str, Any] | None = None) -> Any:
    def case(lib: Any) -> dict[str, Any]:
        kwargs = {"data": FEATURES.assign(label=labels), "targets": "label", "model_type": model_type}
        if config is not None:
            kwargs["evaluator_config"] = dict(config)
        return kwargs

    return case


def _both(case: Any, uri: str, tmp_path) -> tuple[Any, Any]:
    theirs = _run_mlflow(case, tmp_path, model=uri)
    ours = _run_mltrail(case, model=uri)
    _assert_same(
        ours, theirs
    )  # metric keys in order and values, run metrics, artifact lists, result.artifacts
    return ours, theirs


def _last_run_file(lib: Any, path: str, tmp_path, tracking_uri: str | None = None) -> str:
    lib.set_tracking_uri(tracking_uri) if tracking_uri else None
    try:
        run = lib.search_runs(
            search_all_experiments=True, output_format="list", order_by=["start_time DESC"]
        )[0]
        target = tmp_path / f"{lib.__name__}-files"
        target.mkdir(exist_ok=True)
        return lib.MlflowClient().download_artifacts(run.info.run_id, path, str(target))
    finally:
        if tracking_uri:
            lib.set_tracking_uri(None)


@pytest.mark.parametrize(
    ("labels", "config"),
    [(BINARY, None), (YES_NO, {"metric_prefix": "val_"})],
    ids=["ints", "strings-prefix"],
)
def test_binary_probability_metrics_and_curves_match_mlflow(labels, config, tmp_path):
    uri = _save(sklearn_linear.LogisticRegression(), labels, tmp_path)
    ours, _ = _both(_case(labels, config=config), uri, tmp_path)
    prefix = (config or {}).get("metric_prefix", "")
    assert next(iter(ours.metrics)) == f"{prefix}score"
    assert list(ours.metrics)[-3:] == [
        f"{prefix}{k}" for k in ("log_loss", "roc_auc", "precision_recall_auc")
    ]
    assert ours.result_artifacts == [*CURVES, "confusion_matrix"]
    assert ours.run_artifacts == sorted(f"{prefix}{name}.png" for name in [*CURVES, "confusion_matrix"])


def test_binary_values_are_sklearns():
    from sklearn import metrics

    model = sklearn_linear.LogisticRegression().fit(FEATURES, YES_NO)
    with mltrail.start_run():
        info = mltrail.sklearn.log_model(model, name="m")
        result = mltrail.evaluate(
            info.model_uri, FEATURES.assign(y=YES_NO), targets="y", model_type="classifier"
        )
    proba = model.predict_proba(FEATURES)[:, 1]
    assert result.metrics["score"] == model.score(FEATURES, YES_NO)
    assert result.metrics["roc_auc"] == pytest.approx(metrics.roc_auc_score(YES_NO == "yes", proba))
    assert result.metrics["precision_recall_auc"] == pytest.approx(
        metrics.average_precision_score(YES_NO, proba, pos_label="yes")
    )
    assert result.metrics["log_loss"] == pytest.approx(
        metrics.log_loss(YES_NO, model.predict_proba(FEATURES))
    )


@pytest.mark.parametrize(
    ("labels", "config", "artifacts"),
    [
        (THREE, None, ["calibration_curve_plot", "roc_curve_plot", "precision_recall_curve_plot"]),
        # MLflow's multiclass calibration compares labels with class indexes: string labels draw empty lines.
        (ANIMALS, None, ["calibration_curve_plot", "roc_curve_plot", "precision_recall_curve_plot"]),
        (THREE, {"max_classes_for_multiclass_roc_pr": 2}, ["calibration_curve_plot"]),
        (
            THREE,
            {"calibration_n_bins": "five", "metric_prefix": "t_"},
            ["roc_curve_plot", "precision_recall_curve_plot"],
        ),
    ],
    ids=["ints", "strings", "too-many-classes", "bad-calibration-config"],
)
def test_multiclass_probability_artifacts_match_mlflow(labels, config, artifacts, tmp_path):
    uri = _save(sklearn_linear.LogisticRegression(), labels, tmp_path)
    ours, _ = _both(_case(labels, config=config), uri, tmp_path)
    assert ours.result_artifacts == [*artifacts, "per_class_metrics", "confusion_matrix"]
    prefix = (config or {}).get("metric_prefix", "")
    assert list(ours.metrics)[-2:] == [f"{prefix}log_loss", f"{prefix}roc_auc"]

    their_csv = pd.read_csv(
        _last_run_file(mlflow, "per_class_metrics.csv", tmp_path, mlflow_sqlite_uri(tmp_path / "mlflow.db"))
    )
    our_csv = pd.read_csv(_last_run_file(mltrail, "per_class_metrics.csv", tmp_path))
    assert ("roc_auc" in our_csv.columns) == ("roc_curve_plot" in artifacts)
    assert list(our_csv.columns) == list(their_csv.columns)
    pd.testing.assert_frame_equal(our_csv, their_csv, rtol=1e-12)


def test_curve_images_are_pngs(tmp_path):
    from PIL import Image

    uri = _save(sklearn_linear.LogisticRegression(), THREE, tmp_path)
    with mltrail.start_run() as run:
        result = mltrail.evaluate(uri, FEATURES.assign(y=THREE), targets="y", model_type="classifier")
    root = mltrail.get_run(run.info.run_id).info.artifact_uri.rstrip("/")
    for name in ("calibration_curve_plot", "roc_curve_plot", "precision_recall_curve_plot"):
        artifact = result.artifacts[name]
        assert artifact.uri == f"{root}/{name}.png"
        assert isinstance(artifact.content, Image.Image) and artifact.content.width > 500
    assert list(result.artifacts["per_class_metrics"].content.columns)[-2:] == [
        "roc_auc",
        "precision_recall_auc",
    ]


def test_regressor_score_matches_mlflow(tmp_path):
    uri = _save(sklearn_linear.LinearRegression(), TARGET, tmp_path)
    ours, _ = _both(_case(TARGET, "regressor", {"metric_prefix": "r_"}), uri, tmp_path)
    assert list(ours.metrics)[:2] == ["r_score", "r_example_count"]


def test_xgboost_classifier_has_probabilities_but_no_score(tmp_path):
    xgboost = pytest.importorskip("xgboost")
    uri = _save(xgboost.XGBClassifier(n_estimators=5, max_depth=2), BINARY, tmp_path, flavor="xgboost")
    ours, _ = _both(_case(BINARY), uri, tmp_path)
    assert "score" not in ours.metrics and "roc_auc" in ours.metrics
    assert ours.result_artifacts == [*CURVES, "confusion_matrix"]


def test_a_function_model_gives_no_probabilities():
    with mltrail.start_run():
        result = mltrail.evaluate(
            lambda frame: (frame["a"] > 0).astype(int).to_numpy(),
            FEATURES.assign(y=BINARY),
            targets="y",
            model_type="classifier",
        )
    assert "roc_auc" not in result.metrics and "score" not in result.metrics
    assert list(result.artifacts) == ["confusion_matrix"]
