"""scikit-learn autologging: params, training metrics and plots, tuning child runs and the model on ``fit``.

Every public sklearn estimator class (those ``sklearn.utils.all_estimators()``
lists, plus GridSearchCV, RandomizedSearchCV and Pipeline) gets its ``fit``,
``fit_transform`` and ``fit_predict`` wrapped with
:func:`~mltrail.autologging.safe_patch`. Only the outermost call logs: the
steps a Pipeline or a search fits inside are skipped, and so is any sklearn
fit made while an xgboost/lightgbm training call is being autologged.
Data-preparation classes (``sklearn.preprocessing``, ``impute``,
``feature_extraction``, ``feature_selection``, ColumnTransformer) are left
alone on their own, as in MLflow; inside a Pipeline they are logged as its params.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from mltrail.autologging import (
    autolog_run,
    autologging_integration,
    get_autolog_config,
    revert_patches,
    running_integrations,
    safe_patch,
    warn_failure,
)
from mltrail.autologging import logging_utils as lu
from mltrail.exceptions import invalid
from mltrail.sklearn import _post_training
from mltrail.sklearn._flavor import log_model

_log = logging.getLogger(__name__)
NAME = "sklearn"
TRAINING_PREFIX = "training_"
_PATCHED_METHODS = ("fit", "fit_transform", "fit_predict")
_EXCLUDED_MODULES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
)
_EXCLUDED_CLASSES = ("sklearn.compose._column_transformer.ColumnTransformer",)


@autologging_integration(NAME)
def autolog(
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    max_tuning_runs: int | None = 5,
    log_post_training_metrics: bool = True,
    serialization_format: str = "cloudpickle",
    registered_model_name: str | None = None,
    pos_label: int | str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> None:
    """Enable (or disable) autologging for scikit-learn estimators (MLflow's options).

    On ``fit`` (and ``fit_transform`` / ``fit_predict``) of an estimator the run
    gets its params (``get_params(deep=True)``), the tags ``estimator_name`` and
    ``estimator_class``, training metrics (``training_score``,
    ``training_accuracy_score``, ``training_mean_squared_error``, …) and, with
    ``log_models``, the fitted model as artifact ``model``. Parameter searches
    also log ``best_<param>`` params, ``best_cv_score``, the best estimator and
    one child run per candidate (the best ``max_tuning_runs``). With
    ``log_post_training_metrics``, ``sklearn.metrics`` calls on a logged
    model's predictions are logged to its run as ``<metric>_<dataset variable>``.
    Classifiers also get MLflow's plots (``training_confusion_matrix.png``, and for two
    classes ``training_roc_curve.png`` and ``training_precision_recall_curve.png``) when
    matplotlib is installed.

    Example::

        import mltrail

        mltrail.sklearn.autolog()
        LinearRegression().fit(X, y)
        run = mltrail.last_active_run()
    """
    if disable:
        revert_patches(NAME)
        return
    if max_tuning_runs is not None and max_tuning_runs < 0:
        raise invalid(f"`max_tuning_runs` must be non-negative, instead got {max_tuning_runs}.")
    from sklearn.base import BaseEstimator

    for cls in estimators_to_patch():
        patch_class(cls)
    safe_patch(NAME, BaseEstimator, "__init_subclass__", _patched_init_subclass)
    if log_post_training_metrics:
        _post_training.patch_metrics(NAME)


def estimators_to_patch() -> list[type]:
    """The estimator classes (already imported) whose training methods autologging wraps.

    ``sklearn.utils.all_estimators()`` would import every sklearn module (seconds);
    instead the subclasses of ``BaseEstimator`` that exist now are patched, and the
    ones defined later (a sklearn module imported afterwards) are patched as they
    are created, through ``BaseEstimator.__init_subclass__``.
    """
    import sklearn.model_selection
    import sklearn.pipeline  # noqa: F401
    from sklearn.base import BaseEstimator

    seen: set[type] = set()
    todo = [BaseEstimator]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    chosen = [cls for cls in seen if _patchable(cls)]
    # Bases before subclasses, so a subclass inheriting a patched method is recognised.
    return sorted(chosen, key=lambda cls: (len(cls.__mro__), cls.__module__, cls.__name__))


def _patchable(cls: type) -> bool:
    """A public, concrete sklearn estimator that is not a data-preparation step (MLflow's choice)."""
    import inspect

    module = cls.__module__ or ""
    return (
        module.startswith("sklearn.")
        and not cls.__name__.startswith("_")
        and ".tests" not in module
        and not inspect.isabstract(cls)
        and not module.startswith(_EXCLUDED_MODULES)
        and f"{module}.{cls.__name__}" not in _EXCLUDED_CLASSES
    )


def patch_class(cls: type) -> None:
    """Wrap the training (and, if enabled, prediction and score) methods of one estimator class."""
    for method in _PATCHED_METHODS:
        if hasattr(cls, method):
            safe_patch(NAME, cls, method, _patched_fit)
    if get_autolog_config(NAME).get("log_post_training_metrics", True):
        _post_training.patch_class(NAME, cls)


def _patched_init_subclass(original: Any, cls: type, **kwargs: Any) -> None:
    original(cls, **kwargs)
    if _patchable(cls):
        patch_class(cls)


def is_search_estimator(estimator: Any) -> bool:
    """GridSearchCV, RandomizedSearchCV and other BaseSearchCV subclasses."""
    from sklearn.model_selection._search import BaseSearchCV

    return isinstance(estimator, BaseSearchCV)


def estimator_tags(estimator: Any) -> dict[str, str]:
    """MLflow's ``estimator_name`` / ``estimator_class`` tags."""
    cls = type(estimator)
    return {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}


def _fit_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    features = args[0] if args else kwargs.get("X")
    targets = args[1] if len(args) > 1 else kwargs.get("y", kwargs.get("Y"))
    return features, targets, kwargs.get("sample_weight")


def _patched_fit(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    if running_integrations() - {NAME}:  # inside an xgboost/lightgbm training call: theirs to log
        return original(self, *args, **kwargs)
    with autolog_run(NAME) as run:
        if run is None:
            return original(self, *args, **kwargs)
        run_id = run.info.run_id
        client = lu.client_for(run)
        features, targets, weights = _fit_data(args, kwargs)
        _guarded("params", _log_params_and_tags, self, run_id, client)
        if get_autolog_config(NAME).get("log_datasets", True):
            _guarded("dataset", lu.log_training_dataset, run_id, client, features, targets)
        result = original(self, *args, **kwargs)
        _guarded("metrics", log_training_metrics, self, run_id, client, features, targets, weights)
        _guarded("estimator.html", _log_estimator_html, self, run_id, client)
        _guarded("plots", _log_training_plots, self, run_id, client, features, targets, weights)
        if is_search_estimator(self):
            _guarded("parameter search results", _log_search_results, self, run, client)
        if get_autolog_config(NAME).get("log_models", True):
            _guarded("model", _log_model, self, "model", features)
        if get_autolog_config(NAME).get("log_post_training_metrics", True):
            _post_training.register_model(self, run_id, run._tracking_uri)
        return result


def _guarded(what: str, fn: Any, *args: Any) -> None:
    """Run one logging step; a failure is warned and the next step still runs."""
    try:
        fn(*args)
    except Exception as err:
        warn_failure(NAME, f"failed to log {what}", err)


def _log_params_and_tags(estimator: Any, run_id: str, client: Any) -> None:
    params = estimator.get_params(deep=not is_search_estimator(estimator))
    lu.log_params(run_id, client, params)
    lu.log_tags(run_id, client, estimator_tags(estimator))


def log_training_metrics(
    estimator: Any, run_id: str, client: Any, features: Any, targets: Any, weights: Any
) -> None:
    metrics: dict[str, float] = {}
    if targets is not None and hasattr(estimator, "score"):
        try:
            if weights is None:
                score = estimator.score(features, targets)
            else:
                score = estimator.score(features, targets, sample_weight=weights)
            metrics[TRAINING_PREFIX + "score"] = score
        except Exception as err:
            _log.warning("training_score not recorded for %s: %s", type(estimator).__name__, err)
    if targets is not None:
        metrics.update(training_metrics(estimator, features, targets, weights))
    lu.log_metrics(run_id, client, metrics)


def training_metrics(
    estimator: Any, features: Any, targets: Any, weights: Any = None, prefix: str = TRAINING_PREFIX
) -> dict[str, float]:
    """MLflow's classifier / regressor metrics of a fitted estimator on its training data."""
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}
    if is_classifier(estimator):
        pos_label = get_autolog_config(NAME).get("pos_label")
        average = "weighted" if pos_label is None else "binary"
        predicted = estimator.predict(features)
        for metric in ("precision_score", "recall_score", "f1_score"):
            fn = getattr(skm, metric)
            out[prefix + metric] = fn(
                targets,
                predicted,
                pos_label=pos_label if pos_label is not None else 1,
                average=average,
                sample_weight=weights,
                zero_division=0,
            )
        out[prefix + "accuracy_score"] = skm.accuracy_score(targets, predicted, sample_weight=weights)
        if hasattr(estimator, "predict_proba"):
            try:
                proba = estimator.predict_proba(features)
                out[prefix + "log_loss"] = skm.log_loss(
                    targets, proba, sample_weight=weights, labels=getattr(estimator, "classes_", None)
                )
                score = proba[:, 1] if proba.shape[1] == 2 else proba
                out[prefix + "roc_auc"] = skm.roc_auc_score(
                    targets, score, average="weighted", sample_weight=weights, multi_class="ovo"
                )
            except (ValueError, AttributeError) as err:  # one class only, no probabilities, ...
                _log.debug("probability metrics skipped: %s", err)
    elif is_regressor(estimator):
        predicted = estimator.predict(features)
        mse = skm.mean_squared_error(targets, predicted, sample_weight=weights)
        out[prefix + "mean_squared_error"] = mse
        out[prefix + "root_mean_squared_error"] = float(np.sqrt(mse))
        out[prefix + "mean_absolute_error"] = skm.mean_absolute_error(
            targets, predicted, sample_weight=weights
        )
        out[prefix + "r2_score"] = skm.r2_score(targets, predicted, sample_weight=weights)
    return out


def _log_estimator_html(estimator: Any, run_id: str, client: Any) -> None:
    """``estimator.html``: scikit-learn's interactive diagram of the fitted estimator, as MLflow logs it."""
    from sklearn.utils import estimator_html_repr

    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8"/></head>\n'
        f"<body>\n{estimator_html_repr(estimator)}\n</body>\n</html>\n"
    )
    client.log_text(run_id, page, "estimator.html")


def _log_training_plots(
    estimator: Any, run_id: str, client: Any, features: Any, targets: Any, weights: Any
) -> None:
    # Drawn whatever log_models / log_post_training_metrics say, as in MLflow. Lazy: the plot
    # helpers load mltrail.evaluation, which `import mltrail.sklearn` should not pay for.
    from mltrail.sklearn import _plots

    _plots.log_training_plots(estimator, run_id, client, features, targets, weights, flavor=NAME)


def _log_model(estimator: Any, name: str, features: Any) -> None:
    config = get_autolog_config(NAME)
    predict_fn = "predict" if hasattr(estimator, "predict") else "transform"
    if not hasattr(estimator, predict_fn):
        return  # nothing a pyfunc could call (a clusterer without predict, say)
    signature = None
    if config.get("log_model_signatures", True):
        try:
            signature = lu.infer_model_signature(features, getattr(estimator, predict_fn))
        except Exception as err:
            _log.warning("model signature not inferred: %s", err)
    example = lu.input_sample(features) if config.get("log_input_examples") else None
    log_model(
        estimator,
        name=name,
        signature=signature,
        input_example=example,
        serialization_format=config.get("serialization_format", "cloudpickle"),
        registered_model_name=config.get("registered_model_name") if name == "model" else None,
        pyfunc_predict_fn=predict_fn,
    )


def _log_search_results(search: Any, run: Any, client: Any) -> None:
    run_id = run.info.run_id
    if hasattr(search, "best_params_"):
        lu.log_params(run_id, client, {f"best_{k}": v for k, v in search.best_params_.items()})
    if hasattr(search, "best_score_"):
        lu.log_metrics(run_id, client, {"best_cv_score": search.best_score_})
    if hasattr(search, "best_estimator_") and get_autolog_config(NAME).get("log_models", True):
        _guarded("best estimator", _log_model, search.best_estimator_, "best_estimator", None)
    if hasattr(search, "cv_results_"):
        _log_cv_results(search, run, client)


def _log_cv_results(search: Any, run: Any, client: Any) -> None:
    """``cv_results.csv`` on the parent, plus a child run per candidate (the best few)."""
    import numbers

    import pandas as pd

    from mltrail.tracking._default_tags import MLFLOW_PARENT_RUN_ID, default_tags

    run_id = run.info.run_id
    table = pd.DataFrame.from_dict(search.cv_results_)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cv_results.csv")
        table.to_csv(path, index=False)
        client.log_artifact(run_id, path)
    max_runs = get_autolog_config(NAME).get("max_tuning_runs", 5)
    refit = search.refit if isinstance(search.refit, str) else "score"
    rank_column = f"rank_test_{refit}"
    if max_runs is not None and rank_column in table:
        table = table.nsmallest(max_runs, rank_column, keep="first")
    base_params = search.estimator.get_params(deep=True)
    # The parent's user/source tags too, so the children show up in the same UI filters.
    tags = {**default_tags(), MLFLOW_PARENT_RUN_ID: run_id, **estimator_tags(search.estimator)}
    for _, row in table.iterrows():
        child = client.create_run(run.info.experiment_id, tags=tags)
        child_id = child.info.run_id
        lu.log_params(child_id, client, {**base_params, **row["params"]})
        numbers_only = {
            key: value
            for key, value in row.items()
            if not str(key).startswith(("param", "split")) and isinstance(value, numbers.Number)
        }
        lu.log_metrics(child_id, client, numbers_only)
        client.set_terminated(child_id)
