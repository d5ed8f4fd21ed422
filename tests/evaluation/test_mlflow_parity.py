"""The same evaluate() call through the real mlflow package and through mltrail gives the same metrics and table."""

from __future__ import annotations

import pandas as pd
import pytest

import mltrail
from support.mlflow_db import mlflow_sqlite_uri

mlflow = pytest.importorskip("mlflow")


def _words(predictions, targets, metrics):
    scores = [len(str(p).split()) for p in predictions]
    return {"scores": scores, "aggregate_results": {"total": float(sum(scores))}}


def _caps(predictions):
    scores = [int(str(p).isupper()) for p in predictions]
    return {"scores": scores, "justifications": [f"{p!r} upper?" for p in predictions],
            "aggregate_results": {"caps": float(sum(scores))}}


def _metrics(lib, metric_value_cls):
    def words(predictions, targets, metrics):
        return metric_value_cls(**_words(predictions, targets, metrics))

    def caps(predictions):
        return metric_value_cls(**_caps(predictions))

    return [
        lib.metrics.make_metric(eval_fn=words, greater_is_better=True, version="v3"),
        lib.metrics.make_metric(eval_fn=caps, greater_is_better=True),
        lib.metrics.exact_match(),
    ]


def test_static_evaluation_matches_mlflow(tmp_path):
    data = pd.DataFrame(
        {
            "inputs": ["What is the capital of France?", "Who wrote Hamlet?", "Loud?"],
            "ground_truth": ["Paris", "Shakespeare", "YES"],
            "answer": ["Paris", "Christopher Marlowe", "YES"],
        }
    )
    kwargs = {"predictions": "answer", "targets": "ground_truth"}

    mlflow.set_tracking_uri(mlflow_sqlite_uri(tmp_path / "mlflow.db"))
    try:
        with mlflow.start_run():
            theirs = mlflow.models.evaluate(
                data=data.copy(), extra_metrics=_metrics(mlflow, mlflow.metrics.MetricValue), **kwargs
            )
    finally:
        mlflow.set_tracking_uri(None)
    ours = mltrail.evaluate(data=data.copy(), extra_metrics=_metrics(mltrail, mltrail.metrics.MetricValue), **kwargs)

    assert ours.metrics == pytest.approx(theirs.metrics)
    their_table = theirs.tables["eval_results_table"]
    our_table = ours.tables["eval_results_table"]
    assert list(our_table.columns) == list(their_table.columns)
    assert our_table.to_dict("records") == their_table.to_dict("records")
