"""LightGBM flavor and autologging with real training on tiny synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mltrail
from support.lazy import lazy_module

lgb = lazy_module("lightgbm")  # loaded by the first test here, not at collection


@pytest.fixture(autouse=True)
def _cleanup():
    yield
    mltrail.autolog(disable=True)
    mltrail.lightgbm.autolog(disable=True)
    mltrail.sklearn.autolog(disable=True)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] - X["b"] > 0).astype(int)
    return X, y


def _runs() -> list:
    return mltrail.search_runs(output_format="list", order_by=["start_time ASC"])


def _mlmodel(run_id: str) -> dict:
    # MLflow 3: the model lives at its LoggedModel, which runs:/<run>/model resolves to.
    with open(mltrail.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/model/MLmodel")) as fh:
        return yaml.safe_load(fh)


def test_train_logs_params_metrics_early_stopping_importance_and_text_model(data):
    X, y = data
    mltrail.lightgbm.autolog()
    train = lgb.Dataset(X[:150], label=y[:150])
    valid = lgb.Dataset(X[150:], label=y[150:], reference=train)
    params = {"objective": "binary", "num_leaves": 3, "learning_rate": 0.3, "verbose": -1}
    booster = lgb.train(
        params,
        train,
        num_boost_round=60,
        valid_sets=[train, valid],
        valid_names=["train", "valid"],
        callbacks=[lgb.early_stopping(2, verbose=False)],
    )
    [run] = _runs()
    assert run.info.status == "FINISHED" and run.data.tags["mlflow.autologging"] == "lightgbm"
    p = run.data.params
    assert p["num_leaves"] == "3" and p["learning_rate"] == "0.3" and p["num_boost_round"] == "60"
    client = mltrail.MlflowClient()
    valid_hist = client.get_metric_history(run.info.run_id, "valid-binary_logloss")
    train_hist = client.get_metric_history(run.info.run_id, "train-binary_logloss")
    ran = len(train_hist) - 1  # one value per iteration, plus the best values at an extra step
    assert sorted(m.step for m in valid_hist) == [*range(ran), ran]
    assert booster.best_iteration < ran  # it did stop early
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] == ran
    by_step = {m.step: m.value for m in valid_hist}
    assert by_step[ran] == pytest.approx(by_step[booster.best_iteration - 1])
    for kind in ("split", "gain"):
        imp = json.loads(
            Path(client.download_artifacts(run.info.run_id, f"feature_importance_{kind}.json")).read_text()
        )
        assert imp == pytest.approx(
            dict(zip(booster.feature_name(), booster.feature_importance(kind).tolist(), strict=True))
        )
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"feature_importance_split.png", "feature_importance_gain.png"} <= names
    png = Path(client.download_artifacts(run.info.run_id, "feature_importance_gain.png")).read_bytes()
    assert png.startswith(b"\x89PNG")
    flavors = _mlmodel(run.info.run_id)["flavors"]
    assert flavors["lightgbm"]["model_class"] == "lightgbm.basic.Booster"
    assert flavors["lightgbm"]["data"] == "model.lgb"
    assert flavors["python_function"]["loader_module"] == "mlflow.lightgbm"
    text = Path(mltrail.artifacts.download_artifacts(artifact_uri=f"runs:/{run.info.run_id}/model/model.lgb")).read_text()
    assert text.startswith("tree")  # LightGBM's text format
    loaded = mltrail.lightgbm.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(loaded.predict(X[:5]), booster.predict(X[:5]), rtol=1e-6)
    pyfunc = mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(pyfunc.predict(X[:5]), booster.predict(X[:5]), rtol=1e-6)
    assert [c["name"] for c in pyfunc.metadata.signature.inputs.to_dict()] == ["a", "b", "c"]
    assert run.inputs.dataset_inputs  # the training data is recorded as an input


def test_regression_metric_names_without_early_stopping(data):
    X, _ = data
    mltrail.lightgbm.autolog()
    lgb.train(
        {"objective": "regression", "verbose": -1, "num_leaves": 3},
        lgb.Dataset(X, label=X["a"] * 2),
        num_boost_round=4,
        valid_sets=[lgb.Dataset(X, label=X["a"] * 2)],
        valid_names=["train"],
    )
    [run] = _runs()
    assert "train-l2" in run.data.metrics
    assert "best_iteration" not in run.data.metrics


def test_sklearn_api_logs_once(data):
    X, y = data
    mltrail.autolog()
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=3, verbose=-1).fit(
        X, y, eval_set=[(X[:50], y[:50])]
    )
    [run] = _runs()
    assert run.data.tags["mlflow.autologging"] == "lightgbm"
    assert run.data.tags["estimator_name"] == "LGBMClassifier"
    assert run.data.params["n_estimators"] == "5"
    history = mltrail.MlflowClient().get_metric_history(run.info.run_id, "valid_0-binary_logloss")
    assert sorted(m.step for m in history) == list(range(5))
    assert {"training_accuracy_score", "training_score"} <= set(run.data.metrics)
    loaded = mltrail.lightgbm.load_model(f"runs:/{run.info.run_id}/model")
    assert isinstance(loaded, lgb.LGBMClassifier)
    np.testing.assert_array_equal(loaded.predict(X[:10]), model.predict(X[:10]))
    assert _mlmodel(run.info.run_id)["flavors"]["lightgbm"]["data"] == "model.pkl"
    pyfunc = mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(pyfunc.predict(X[:10]), model.predict(X[:10]))


def test_user_error_fails_run(data):
    X, y = data
    mltrail.lightgbm.autolog()
    with pytest.raises(lgb.basic.LightGBMError):
        lgb.train(
            {"objective": "no-such-objective", "verbose": -1}, lgb.Dataset(X, label=y), num_boost_round=2
        )
    [run] = _runs()
    assert run.info.status == "FAILED"


def test_save_model_rejects_other_objects(tmp_path):
    with pytest.raises(mltrail.MltrailException):
        mltrail.lightgbm.save_model(object(), tmp_path / "m")


def test_models_move_between_mltrail_and_mlflow(data, tmp_path):
    import mlflow.lightgbm
    import mlflow.pyfunc

    X, y = data
    booster = lgb.train({"verbose": -1, "num_leaves": 3}, lgb.Dataset(X, label=y), num_boost_round=3)
    clf = lgb.LGBMClassifier(n_estimators=3, num_leaves=3, verbose=-1).fit(X, y)
    mltrail.lightgbm.save_model(booster, tmp_path / "ours_booster", input_example=X[:2])
    mltrail.lightgbm.save_model(clf, tmp_path / "ours_clf")
    assert isinstance(mlflow.lightgbm.load_model(str(tmp_path / "ours_booster")), lgb.Booster)
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(str(tmp_path / "ours_clf")).predict(X[:5]), clf.predict(X[:5])
    )
    mlflow.lightgbm.save_model(clf, str(tmp_path / "theirs"), serialization_format="cloudpickle")
    np.testing.assert_array_equal(
        mltrail.pyfunc.load_model(tmp_path / "theirs").predict(X[:5]), clf.predict(X[:5])
    )
