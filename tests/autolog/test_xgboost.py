"""XGBoost flavor and autologging with real training on tiny synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mltrail
from mltrail.autologging import is_patched
from support.lazy import lazy_module

xgb = lazy_module("xgboost")  # loaded by the first test here, not at collection


@pytest.fixture(autouse=True)
def _cleanup():
    yield
    mltrail.autolog(disable=True)
    mltrail.xgboost.autolog(disable=True)
    mltrail.sklearn.autolog(disable=True)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(160, 4)), columns=["f0", "f1", "f2", "f3"])
    y = (X["f0"] + 0.5 * X["f1"] > 0).astype(int)
    return X, y


def _runs() -> list:
    return mltrail.search_runs(output_format="list", order_by=["start_time ASC"])


def _mlmodel(run_id: str, name: str = "model") -> dict:
    # MLflow 3: the model lives at its LoggedModel, which runs:/<run>/<name> resolves to.
    path = mltrail.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/{name}/MLmodel")
    with open(path) as fh:
        return yaml.safe_load(fh)


def test_train_logs_params_iteration_metrics_early_stopping_importance_and_model(data):
    X, y = data
    mltrail.xgboost.autolog()
    dtrain = xgb.DMatrix(X[:120], label=y[:120])
    dvalid = xgb.DMatrix(X[120:], label=y[120:])
    params = {"objective": "binary:logistic", "max_depth": 2, "eta": 0.3, "eval_metric": "logloss"}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=40,
        evals=[(dtrain, "train"), (dvalid, "valid")],
        early_stopping_rounds=2,
        verbose_eval=False,
    )
    [run] = _runs()
    assert run.info.status == "FINISHED" and run.data.tags["mlflow.autologging"] == "xgboost"
    p = run.data.params
    assert p["max_depth"] == "2" and p["eta"] == "0.3" and p["objective"] == "binary:logistic"
    assert p["num_boost_round"] == "40" and p["early_stopping_rounds"] == "2" and p["verbose_eval"] == "False"
    client = mltrail.MlflowClient()
    history = client.get_metric_history(run.info.run_id, "valid-logloss")
    stopped = len(booster.get_dump()) - 1
    iterations = sorted(m.step for m in history)
    assert iterations[: stopped + 1] == list(range(stopped + 1))  # step = iteration
    assert len(client.get_metric_history(run.info.run_id, "train-logloss")) == len(history)
    assert run.data.metrics["best_iteration"] == booster.best_iteration
    assert run.data.metrics["stopped_iteration"] == stopped
    by_step = {m.step: m.value for m in history}
    assert by_step[stopped + 1] == pytest.approx(
        by_step[booster.best_iteration]
    )  # best values at the extra step
    imp = json.loads(
        Path(client.download_artifacts(run.info.run_id, "feature_importance_weight.json")).read_text()
    )
    assert imp == booster.get_score(importance_type="weight")
    flavors = _mlmodel(run.info.run_id)["flavors"]
    assert flavors["xgboost"]["model_class"] == "xgboost.core.Booster"
    assert flavors["xgboost"]["data"] == "model.ubj"
    assert flavors["python_function"]["loader_module"] == "mlflow.xgboost"
    loaded = mltrail.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    expected = booster.predict(xgb.DMatrix(X[:5]))
    np.testing.assert_allclose(loaded.predict(xgb.DMatrix(X[:5])), expected, rtol=1e-6)
    pyfunc = mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_allclose(pyfunc.predict(X[:5]), expected, rtol=1e-6)
    assert [c["name"] for c in pyfunc.metadata.signature.inputs.to_dict()] == ["f0", "f1", "f2", "f3"]


def test_importance_types_option_and_no_model(data):
    X, y = data
    mltrail.xgboost.autolog(importance_types=["gain", "cover"], log_models=False)
    xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=3)
    [run] = _runs()
    names = {a.path for a in mltrail.MlflowClient().list_artifacts(run.info.run_id)}
    assert names == {
        f"feature_importance_{kind}.{ext}" for kind in ("gain", "cover") for ext in ("json", "png")
    }
    assert "best_iteration" not in run.data.metrics  # no early stopping, no such metrics


def test_sklearn_api_logs_once_even_with_sklearn_autolog_on(data):
    X, y = data
    mltrail.autolog()  # both sklearn and xgboost integrations are on
    model = xgb.XGBClassifier(n_estimators=6, max_depth=2).fit(X, y, eval_set=[(X, y)], verbose=False)
    [run] = _runs()  # the xgboost.train inside fit is not a second run
    assert run.data.tags["mlflow.autologging"] == "xgboost"
    assert run.data.tags["estimator_name"] == "XGBClassifier"
    assert run.data.params["n_estimators"] == "6" and run.data.params["max_depth"] == "2"
    history = mltrail.MlflowClient().get_metric_history(run.info.run_id, "validation_0-logloss")
    assert sorted(m.step for m in history) == list(range(6))
    assert {"training_accuracy_score", "training_score", "training_log_loss"} <= set(run.data.metrics)
    loaded = mltrail.xgboost.load_model(f"runs:/{run.info.run_id}/model")
    assert isinstance(loaded, xgb.XGBClassifier)
    np.testing.assert_array_equal(loaded.predict(X[:10]), model.predict(X[:10]))
    assert _mlmodel(run.info.run_id)["flavors"]["xgboost"]["model_class"] == "xgboost.sklearn.XGBClassifier"


def test_sklearn_search_over_xgboost_is_logged_by_sklearn_only(data):
    from sklearn.model_selection import GridSearchCV

    X, y = data
    mltrail.autolog()
    GridSearchCV(xgb.XGBRegressor(n_estimators=3), {"max_depth": [1, 2]}, cv=2).fit(X, y)
    runs = _runs()
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 3  # the search and its two candidates
    assert parents[0].data.tags["mlflow.autologging"] == "sklearn"
    assert not any(k.startswith("validation_0") for k in parents[0].data.metrics)


def test_user_errors_propagate_and_disable_restores(data):
    X, y = data
    mltrail.xgboost.autolog()
    with pytest.raises(xgb.core.XGBoostError):
        xgb.train({"objective": "no-such-objective"}, xgb.DMatrix(X, label=y), num_boost_round=2)
    [run] = _runs()
    assert run.info.status == "FAILED"
    mltrail.xgboost.autolog(disable=True)
    assert not is_patched("xgboost", xgb, "train")
    xgb.train({}, xgb.DMatrix(X, label=y), num_boost_round=2)
    assert len(_runs()) == 1


def test_save_and_log_model_formats(data, tmp_path):
    X, y = data
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=3)
    mltrail.xgboost.save_model(booster, tmp_path / "m", model_format="json", input_example=X[:3])
    conf = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert conf["flavors"]["xgboost"]["data"] == "model.json"
    assert conf["signature"]["outputs"]
    reqs = (tmp_path / "m" / "requirements.txt").read_text()
    assert "xgboost" in reqs
    with mltrail.start_run():
        info = mltrail.xgboost.log_model(booster, name="booster")
    pyfunc = mltrail.pyfunc.load_model(info.model_uri)
    np.testing.assert_allclose(pyfunc.predict(X[:4]), booster.predict(xgb.DMatrix(X[:4])), rtol=1e-6)
    with pytest.raises(mltrail.MltrailException):
        mltrail.xgboost.save_model(booster, tmp_path / "bad", model_format="pkl")


def test_models_move_between_mltrail_and_mlflow(data, tmp_path):
    import mlflow.pyfunc
    import mlflow.xgboost

    X, y = data
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=3)
    expected = booster.predict(xgb.DMatrix(X[:5]))
    mltrail.xgboost.save_model(booster, tmp_path / "ours")
    assert isinstance(mlflow.xgboost.load_model(str(tmp_path / "ours")), xgb.Booster)
    np.testing.assert_allclose(
        mlflow.pyfunc.load_model(str(tmp_path / "ours")).predict(X[:5]), expected, rtol=1e-6
    )
    clf = xgb.XGBClassifier(n_estimators=3).fit(X, y)
    mlflow.xgboost.save_model(clf, str(tmp_path / "theirs"))
    loaded = mltrail.xgboost.load_model(tmp_path / "theirs")
    assert isinstance(loaded, xgb.XGBClassifier)
    np.testing.assert_array_equal(loaded.predict(X[:5]), clf.predict(X[:5]))
