"""scikit-learn autologging with real estimators on tiny synthetic data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import mltrail
from mltrail.autologging import get_autolog_config, is_patched

CLASSIFIER_METRICS = {
    "training_score",
    "training_accuracy_score",
    "training_precision_score",
    "training_recall_score",
    "training_f1_score",
    "training_log_loss",
    "training_roc_auc",
}
REGRESSOR_METRICS = {
    "training_score",
    "training_mean_squared_error",
    "training_root_mean_squared_error",
    "training_mean_absolute_error",
    "training_r2_score",
}


pytestmark = pytest.mark.usefixtures("sklearn_autolog")


@pytest.fixture
def regression():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    y = 3 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=50)
    return X, y


def _runs() -> list:
    return mltrail.search_runs(output_format="list", order_by=["start_time ASC"])


def test_classifier_fit_logs_params_tags_metrics_and_model(classification):
    X, y = classification
    model = LogisticRegression(C=0.5, max_iter=200).fit(X, y)
    [run] = _runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "sklearn"
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert run.data.params["C"] == "0.5" and run.data.params["max_iter"] == "200"
    assert set(run.data.metrics) == CLASSIFIER_METRICS
    assert run.data.metrics["training_accuracy_score"] == pytest.approx(accuracy_score(y, model.predict(X)))
    loaded = mltrail.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    pyfunc = mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert [i["name"] for i in pyfunc.metadata.signature.inputs.to_dict()] == ["a", "b", "c"]
    assert list(pyfunc.predict(X.iloc[:3])) == list(model.predict(X.iloc[:3]))
    assert run.inputs.dataset_inputs[0].tags[0].value == "train"


def test_regressor_metrics_inside_a_user_run(regression):
    X, y = regression
    with mltrail.start_run() as user_run:
        mltrail.log_param("mine", "yes")
        model = LinearRegression().fit(X, y)
    [run] = _runs()
    assert run.info.run_id == user_run.info.run_id
    assert "mlflow.autologging" not in run.data.tags
    assert set(run.data.metrics) == REGRESSOR_METRICS
    mse = mean_squared_error(y, model.predict(X))
    assert run.data.metrics["training_mean_squared_error"] == pytest.approx(mse)
    assert run.data.metrics["training_root_mean_squared_error"] == pytest.approx(np.sqrt(mse))
    assert run.data.params["mine"] == "yes" and run.data.params["fit_intercept"] == "True"


def test_exclusive_logs_nothing_into_user_runs(regression):
    mltrail.sklearn.autolog(exclusive=True)
    with mltrail.start_run():
        LinearRegression().fit(*regression)
    [run] = _runs()
    assert run.data.metrics == {} and run.data.params == {}


def test_pipeline_logs_once_with_nested_step_params(classification):
    X, y = classification
    make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=2)).fit(X, y)
    [run] = _runs()  # the steps' fits inside the pipeline make no runs of their own
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert run.data.params["decisiontreeclassifier__max_depth"] == "2"
    assert "standardscaler__with_mean" in run.data.params
    assert set(run.data.metrics) >= CLASSIFIER_METRICS


def test_long_param_values_are_truncated(regression):
    class Wide(BaseEstimator, RegressorMixin):
        def __init__(self, blob: str = "x" * 7000):
            self.blob = blob

        def fit(self, X, y):
            self.inner_ = LinearRegression().fit(X, y)
            return self

        def predict(self, X):
            return self.inner_.predict(X)

    # A user estimator's own fit is not patched: the sklearn fit it makes is what gets logged.
    Wide().fit(*regression)
    [inner] = _runs()
    assert inner.data.tags["estimator_name"] == "LinearRegression"
    # Inside a Pipeline the inner fit is nested, so only the pipeline is logged.
    make_pipeline(Wide()).fit(*regression)
    _first, run = _runs()
    assert run.data.tags["estimator_name"] == "Pipeline"
    assert len(run.data.params["wide__blob"]) == 6000


def test_fit_predict_and_fit_transform_are_logged(regression):
    X, _ = regression
    KMeans(n_clusters=2, n_init=2, random_state=0).fit_predict(X)
    [run] = _runs()
    assert run.data.tags["estimator_name"] == "KMeans" and run.data.params["n_clusters"] == "2"
    StandardScaler().fit_transform(X)  # data preparation alone is not logged (as in MLflow)
    assert len(_runs()) == 1


def test_user_exception_fails_the_run_and_propagates():
    with pytest.raises(ValueError):
        LogisticRegression().fit(np.zeros((4, 2)), np.array([1, 1, 1, 1]))  # one class only
    [run] = _runs()
    assert run.info.status == "FAILED"
    assert run.data.params["C"] == "1.0"


def test_logging_failure_warns_and_returns_the_fitted_model(regression, monkeypatch):
    import mltrail.autologging.logging_utils as lu

    def broken(*args, **kwargs):
        raise RuntimeError("store exploded")

    monkeypatch.setattr(lu, "log_metrics", broken)
    with pytest.warns(UserWarning, match=r"mltrail autologging \(sklearn\).*store exploded"):
        model = LinearRegression().fit(*regression)
    assert hasattr(model, "coef_")
    [run] = _runs()
    assert run.info.status == "FINISHED" and run.data.params


def test_grid_search_best_params_child_runs_and_best_estimator(classification):
    X, y = classification
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0, 10.0]}, cv=2)
    search.fit(X, y)
    runs = _runs()
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 5 and len(children) == 4
    assert parent.data.params["best_C"] == str(search.best_params_["C"])
    assert parent.data.params["param_grid"] == str({"C": [0.01, 0.1, 1.0, 10.0]})
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert {c.data.params["C"] for c in children} == {"0.01", "0.1", "1.0", "10.0"}
    for child in children:
        assert "mean_test_score" in child.data.metrics and "rank_test_score" in child.data.metrics
        assert child.data.tags["estimator_name"] == "LogisticRegression"
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.user"] == parent.data.tags["mlflow.user"]
    best = mltrail.sklearn.load_model(f"runs:/{parent.info.run_id}/best_estimator")
    assert search.best_params_["C"] == best.C
    whole = mltrail.sklearn.load_model(f"runs:/{parent.info.run_id}/model")
    assert type(whole).__name__ == "GridSearchCV"
    names = {f.path for f in mltrail.MlflowClient().list_artifacts(parent.info.run_id)}
    assert "cv_results.csv" in names
    # MLflow 3: both models are the run's LoggedModels (written once, at their own locations).
    models = mltrail.search_logged_models(
        filter_string=f"source_run_id = '{parent.info.run_id}'", output_format="list"
    )
    assert {m.name for m in models} == {"model", "best_estimator"}


def test_max_tuning_runs_limits_child_runs(classification):
    mltrail.sklearn.autolog(max_tuning_runs=2)
    X, y = classification
    RandomizedSearchCV(
        DecisionTreeClassifier(), {"max_depth": [1, 2, 3, 4]}, n_iter=4, cv=2, random_state=0
    ).fit(X, y)
    runs = _runs()
    assert len([r for r in runs if "mlflow.parentRunId" in r.data.tags]) == 2


def test_post_training_metrics(classification):
    X, y = classification
    X_test, y_test = X.iloc[:20], y.iloc[:20]
    model = LogisticRegression().fit(X, y)
    [run] = _runs()
    # Metric functions are looked up on sklearn.metrics after autolog() (names imported
    # from it earlier are the unpatched originals, as in MLflow).
    from sklearn import metrics as skm

    acc = skm.accuracy_score(y_test, model.predict(X_test))
    model.score(X_test, y_test)
    metrics = mltrail.get_run(run.info.run_id).data.metrics
    assert metrics["accuracy_score_X_test"] == pytest.approx(acc)
    assert metrics["LogisticRegression_score_X_test"] == pytest.approx(acc)
    assert not any(k.startswith("accuracy_score") and k != "accuracy_score_X_test" for k in metrics)


def test_estimator_html_is_logged_for_every_fit(classification, tmp_path):
    X, y = classification
    make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    KMeans(n_clusters=2, n_init=2, random_state=0).fit(X)  # no targets: still logged, as in MLflow
    for run in _runs():
        page = mltrail.artifacts.load_text(f"runs:/{run.info.run_id}/estimator.html")
        assert page.startswith("<!DOCTYPE html>") and '<meta charset="UTF-8"/>' in page
        assert "sk-estimator" in page  # scikit-learn's own diagram markup
    pipeline_page = mltrail.artifacts.load_text(f"runs:/{_runs()[0].info.run_id}/estimator.html")
    assert "StandardScaler" in pipeline_page and "LogisticRegression" in pipeline_page


def test_patched_conditional_methods_keep_their_names(classification):
    """sklearn picks how to read scores by the method's name: a patched predict_proba must still say so."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import RocCurveDisplay

    X, y = classification
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    search = GridSearchCV(LogisticRegression(), {"C": [0.5, 1.0]}, cv=2).fit(X, y)
    for model in (pipe, search):
        assert model.predict_proba.__name__ == "predict_proba"
        assert model.decision_function.__name__ == "decision_function"
        display = RocCurveDisplay.from_estimator(model, X, y)
        assert 0.5 < display.roc_auc <= 1.0
        plt.close(display.figure_)


def test_disable_and_options(regression):
    mltrail.sklearn.autolog(log_models=False, extra_tags={"team": "ml"})
    assert get_autolog_config("sklearn")["log_models"] is False
    LinearRegression().fit(*regression)
    [run] = _runs()
    assert run.data.tags["team"] == "ml"
    assert [f.path for f in mltrail.MlflowClient().list_artifacts(run.info.run_id)] == ["estimator.html"]
    mltrail.sklearn.autolog(disable=True)
    assert not is_patched("sklearn", LinearRegression, "fit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LinearRegression().fit(*regression)
    assert len(_runs()) == 1


def test_classes_imported_after_autolog_are_patched():
    # A sklearn module first imported after autolog(): its classes are patched as they are defined.
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import sys
        import mltrail
        import sklearn.base
        assert "sklearn.svm" not in sys.modules
        mltrail.sklearn.autolog()
        from sklearn.svm import SVR
        SVR().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
        print(mltrail.last_active_run().data.tags["estimator_name"])
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "SVR"


def test_universal_autolog_keeps_a_direct_configuration(regression):
    mltrail.sklearn.autolog(max_tuning_runs=2, log_models=False)
    mltrail.autolog()  # as in MLflow: the integration configured directly keeps its options
    assert get_autolog_config("sklearn")["max_tuning_runs"] == 2
    mltrail.autolog(disable=True)  # but disabling everything does disable it
    assert not is_patched("sklearn", LinearRegression, "fit")
    mltrail.autolog(log_models=False)
    assert get_autolog_config("sklearn")["log_models"] is False
    mltrail.autolog()  # set by autolog() before: autolog() may change it
    assert get_autolog_config("sklearn")["log_models"] is True


def test_autolog_against_a_live_server_read_by_the_official_client(tmp_path, monkeypatch, classification):
    # mltrail SDK -> mltrail server over HTTP; the official mlflow client reads the result back.
    import mlflow
    import yaml

    from support.live_server import running_server

    X, y = classification
    with running_server(tmp_path / "server") as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        model = LogisticRegression(C=2.0).fit(X, y)
        run_id = mltrail.last_active_run().info.run_id
        official = mlflow.MlflowClient(server.url)
        run = official.get_run(run_id)
        assert run.data.params["C"] == "2.0"
        assert run.data.tags["mlflow.autologging"] == "sklearn"
        assert set(run.data.metrics) == CLASSIFIER_METRICS
        local = official.download_artifacts(run_id, "model", str(tmp_path / "dl"))
        with open(f"{local}/MLmodel") as fh:
            assert set(yaml.safe_load(fh)["flavors"]) == {"sklearn", "python_function"}
        loaded = mlflow.sklearn.load_model(local)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
