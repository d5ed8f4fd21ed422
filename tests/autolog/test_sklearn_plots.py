"""scikit-learn autologging's training plots (MLflow's PNGs), drawn with real matplotlib and sklearn."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OutputCodeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import mltrail

CONFUSION = "training_confusion_matrix.png"
ROC = "training_roc_curve.png"
PRECISION_RECALL = "training_precision_recall_curve.png"
BINARY_PLOTS = {CONFUSION, ROC, PRECISION_RECALL}
HTML = "estimator.html"  # logged for every fit, beside the plots
# Figure size x MLflow's 175 dpi: 6 x 4 inches for the confusion matrix, matplotlib's default
# 6.4 x 4.8 for the curves.
SIZES = {CONFUSION: (1050, 700), ROC: (1120, 840), PRECISION_RECALL: (1120, 840)}
DARKEST_BLUE = (8, 48, 107)  # the "Blues" colormap at 1.0: a confusion-matrix cell near 100 %


pytestmark = pytest.mark.usefixtures("sklearn_autolog")


@pytest.fixture
def three_classes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 2))
    y = np.digitize(X[:, 0], [-0.4, 0.4])  # 0, 1, 2
    return X, y


def _last_run():
    """The latest top-level run (a search's child runs start after their parent)."""
    runs = mltrail.search_runs(output_format="list", order_by=["start_time DESC"])
    return next(run for run in runs if "mlflow.parentRunId" not in run.data.tags)


def _artifacts(run) -> set[str]:
    """The run's artifact files, and the names of its logged models (MLflow 3 writes models there)."""
    files = {f.path for f in mltrail.MlflowClient().list_artifacts(run.info.run_id)}
    models = mltrail.search_logged_models(
        filter_string=f"source_run_id = '{run.info.run_id}'", output_format="list"
    )
    return files | {m.name for m in models}


def _our_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if str(w.message).startswith("mltrail autologging")]


def _open_png(run, name: str, tmp_path: Path) -> Image.Image:
    local = mltrail.MlflowClient().download_artifacts(run.info.run_id, name, str(tmp_path))
    image = Image.open(local)
    image.load()
    assert image.format == "PNG"
    return image


def test_binary_classifier_logs_the_three_plots(classification, tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    X, y = classification
    open_before = plt.get_fignums()
    with matplotlib.rc_context({"font.size": 13.0}):
        LogisticRegression().fit(X, y)
        assert matplotlib.rcParams["font.size"] == 13.0  # the user's settings are put back
    run = _last_run()
    assert _artifacts(run) == {"model", HTML, *BINARY_PLOTS}
    for name in BINARY_PLOTS:
        image = _open_png(run, name, tmp_path)
        assert image.size == SIZES[name]
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 50  # drawn, not blank
    matrix = _open_png(run, CONFUSION, tmp_path).convert("RGB")
    assert DARKEST_BLUE in {color for _, color in matrix.getcolors(maxcolors=1 << 20)}
    # Bare Figures: nothing was left open in pyplot for the user to close.
    assert plt.get_fignums() == open_before
    assert run.data.metrics["training_accuracy_score"] > 0.9


def test_multiclass_classifier_logs_only_the_confusion_matrix(three_classes, tmp_path):
    LogisticRegression(max_iter=500).fit(*three_classes)
    run = _last_run()
    assert _artifacts(run) == {"model", HTML, CONFUSION}
    assert _open_png(run, CONFUSION, tmp_path).size == SIZES[CONFUSION]


def test_regressor_logs_no_plots(three_classes):
    X, y = three_classes
    LinearRegression().fit(X, y.astype(float))
    assert _artifacts(_last_run()) == {"model", HTML}


def test_string_labels_and_decision_function_without_predict_proba(classification):
    """SVC without ``probability`` is scored by ``decision_function``, as sklearn's displays do."""
    X, y = classification
    labels = np.where(y == 1, "dog", "cat")
    model = SVC()
    assert not hasattr(model, "predict_proba")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, labels)
    assert _our_warnings(caught) == []
    assert _artifacts(_last_run()) == {"model", HTML, *BINARY_PLOTS}


def test_a_failing_plot_warns_and_the_rest_is_logged(classification):
    """OutputCodeClassifier has neither predict_proba nor decision_function: no curves to draw."""
    X, y = classification
    model = OutputCodeClassifier(LogisticRegression(), random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = model.fit(X, y)
    assert fitted is model and hasattr(model, "estimators_")
    ours = _our_warnings(caught)
    assert len(ours) == 2
    assert any(f"plot {ROC} not logged" in m for m in ours)
    assert any(f"plot {PRECISION_RECALL} not logged" in m for m in ours)
    run = _last_run()
    assert run.info.status == "FINISHED"
    assert _artifacts(run) == {"model", HTML, CONFUSION}
    assert {"training_score", "training_accuracy_score", "training_f1_score"} <= set(run.data.metrics)


def test_silent_turns_the_plot_warnings_into_debug_logs(classification, caplog):
    mltrail.sklearn.autolog(silent=True)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG, "mltrail"):
        warnings.simplefilter("always")
        OutputCodeClassifier(LogisticRegression(), random_state=0).fit(*classification)
    assert _our_warnings(caught) == []
    assert any(f"plot {ROC} not logged" in r.getMessage() for r in caplog.records)
    assert _artifacts(_last_run()) == {"model", HTML, CONFUSION}


def test_plots_do_not_depend_on_log_models_or_post_training_metrics(classification):
    mltrail.sklearn.autolog(log_models=False, log_post_training_metrics=False)
    LogisticRegression().fit(*classification)
    assert _artifacts(_last_run()) == {HTML, *BINARY_PLOTS}


def test_search_and_pipeline_get_the_plots_of_their_classifier(classification):
    X, y = classification
    GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
    assert _artifacts(_last_run()) == {"model", "best_estimator", "cv_results.csv", HTML, *BINARY_PLOTS}
    make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    assert _artifacts(_last_run()) == {"model", HTML, *BINARY_PLOTS}


def test_positive_class_scores_come_from_the_last_class(classification):
    """The curves score ``classes_[-1]``, through patched Pipeline methods too (as from_estimator)."""
    from mltrail.sklearn._plots import binary_scores

    X, y = classification
    labels = np.where(y == 1, "dog", "cat")
    with_proba = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, labels)
    scores, positive = binary_scores(with_proba, X, labels)
    assert positive == "dog" and scores.shape == (len(X),)
    np.testing.assert_allclose(scores, with_proba.predict_proba(X)[:, 1])
    margins = make_pipeline(StandardScaler(), SVC()).fit(X, labels)
    scores, positive = binary_scores(margins, X, labels)
    assert positive == "dog"
    np.testing.assert_allclose(scores, margins.decision_function(X))


def test_without_matplotlib_plots_are_skipped_with_one_warning(classification, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    with caplog.at_level(logging.WARNING, "mltrail"):
        model = LogisticRegression().fit(*classification)
    assert hasattr(model, "coef_")
    messages = [r.getMessage() for r in caplog.records if "matplotlib" in r.getMessage()]
    assert len(messages) == 1 and "training plots skipped" in messages[0]
    run = _last_run()
    assert _artifacts(run) == {"model", HTML}
    assert "training_accuracy_score" in run.data.metrics


def test_disabled_autologging_logs_no_plots(classification):
    mltrail.autolog(disable=True)
    with mltrail.start_run() as run:
        LogisticRegression().fit(*classification)
    assert _artifacts(run) == set()
    assert mltrail.get_run(run.info.run_id).data.metrics == {}


def test_official_client_lists_the_plots_on_a_live_server(classification, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from support.live_server import running_server

    with running_server(tmp_path / "server") as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        LogisticRegression().fit(*classification)
        run_id = mltrail.last_active_run().info.run_id
        official = MlflowClient(server.url)
        listed = {f.path: f for f in official.list_artifacts(run_id)}
        assert set(listed) == {HTML, *BINARY_PLOTS}  # the model is the run's LoggedModel (MLflow 3)
        assert not listed[ROC].is_dir and listed[ROC].file_size > 1000
        local = official.download_artifacts(run_id, ROC, str(tmp_path / "dl"))
        with Image.open(local) as image:
            assert image.format == "PNG" and image.size == SIZES[ROC]
