"""Post-training metrics: ``sklearn.metrics`` calls on an autologged model's predictions.

After ``model.fit(X, y)`` was autologged, ``accuracy_score(y_test, model.predict(X_test))``
logs the metric ``accuracy_score_X_test`` to the model's run, and
``model.score(X_test, y_test)`` logs ``<EstimatorClass>_score_X_test``, as MLflow does.
The dataset name is the caller's variable name for the data given to ``predict``.
Metric functions imported from ``sklearn.metrics`` *before* autologging was enabled
are the unpatched originals (the same limit as MLflow's).
"""

from __future__ import annotations

import collections
import inspect
import logging
import numbers
import threading
import weakref
from typing import Any

from mltrail.autologging import running_integrations, safe_patch, warn_failure

_log = logging.getLogger(__name__)
_PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba")
_EXCLUDED_METRICS = {"check_scoring", "get_scorer", "make_scorer", "get_scorer_names"}
_MAX_TRACKED = 256

_lock = threading.Lock()
_models: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()
# id(prediction) -> (prediction, run_id, tracking uri, dataset name); the object is kept to
# make the id unambiguous, and only the latest few predictions are remembered.
_predictions: collections.OrderedDict[int, tuple[Any, str, str, str]] = collections.OrderedDict()
_keys_used: dict[tuple[str, str], dict[Any, str]] = {}


def patch_class(name: str, cls: type) -> None:
    """Patch an estimator class's predict methods and ``score``."""
    for method in _PREDICT_METHODS:
        if hasattr(cls, method):
            safe_patch(name, cls, method, _patched_predict)
    if hasattr(cls, "score"):
        safe_patch(name, cls, "score", _patched_score)


def patch_metrics(name: str) -> None:
    """Patch the ``sklearn.metrics`` functions."""
    from sklearn import metrics

    for metric in metric_names():
        safe_patch(name, metrics, metric, _patched_metric)


def metric_names() -> list[str]:
    """The metric functions of ``sklearn.metrics`` (no scorers, plots or classes)."""
    from sklearn import metrics

    return [
        name
        for name in metrics.__all__
        if name not in _EXCLUDED_METRICS
        and not name.startswith("plot_")
        and callable(getattr(metrics, name, None))
        and not inspect.isclass(getattr(metrics, name))
    ]


def register_model(model: Any, run_id: str, tracking_uri: str) -> None:
    """Remember the run an autologged model was trained in."""
    try:
        with _lock:
            _models[model] = (run_id, tracking_uri)
    except TypeError:  # not weak-referenceable: no post-training metrics for it
        pass


def _run_of(model: Any) -> tuple[str, str] | None:
    try:
        return _models.get(model)
    except TypeError:
        return None


def _caller_var_name(value: Any, fallback: str) -> str:
    """The name the user's code gave ``value`` (the first frame outside mltrail)."""
    frame = inspect.currentframe()
    try:
        while frame is not None and frame.f_globals.get("__name__", "").startswith("mltrail"):
            frame = frame.f_back
        if frame is not None:
            for var, obj in frame.f_locals.items():
                if obj is value and not var.startswith("_"):
                    return var
    finally:
        del frame
    return fallback


def _first_arg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs.get("X")


def _patched_predict(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    result = original(self, *args, **kwargs)
    owner = _run_of(self)
    if owner is None or running_integrations() - {"sklearn"}:
        return result
    dataset = _caller_var_name(_first_arg(args, kwargs), "unknown_dataset")
    with _lock:
        _predictions[id(result)] = (result, owner[0], owner[1], dataset)
        while len(_predictions) > _MAX_TRACKED:
            _predictions.popitem(last=False)
    return result


def _prediction_info(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str, str] | None:
    for value in (*args, *kwargs.values()):
        entry = _predictions.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1], entry[2], entry[3]
    return None


def _metric_key(run_id: str, metric: str, dataset: str, call: Any) -> str:
    """``<metric>_<dataset>``; a different later call on the same data gets ``<metric>-2_<dataset>``."""
    with _lock:
        calls = _keys_used.setdefault((run_id, f"{metric}_{dataset}"), {})
        if call not in calls:
            index = len(calls) + 1
            calls[call] = f"{metric}_{dataset}" if index == 1 else f"{metric}-{index}_{dataset}"
        return calls[call]


def _log(run_id: str, tracking_uri: str, key: str, value: Any) -> None:
    from mltrail.tracking.fluent import client_for_uri

    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        client_for_uri(tracking_uri).log_metric(run_id, key, float(value))


def _call_signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(id(a) for a in args) + tuple(sorted((k, repr(v)[:100]) for k, v in kwargs.items()))


def _patched_metric(original: Any, *args: Any, **kwargs: Any) -> Any:
    value = original(*args, **kwargs)
    if running_integrations() - {"sklearn"}:
        return value
    info = _prediction_info(args, kwargs)
    if info is not None:
        run_id, uri, dataset = info
        try:
            key = _metric_key(run_id, original.__name__, dataset, _call_signature(args, kwargs))
            _log(run_id, uri, key, value)
        except Exception as err:
            warn_failure("sklearn", f"post-training metric {original.__name__} not logged", err)
    return value


def _patched_score(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    value = original(self, *args, **kwargs)
    owner = _run_of(self)
    if owner is None or running_integrations() - {"sklearn"}:
        return value
    try:
        dataset = _caller_var_name(_first_arg(args, kwargs), "unknown_dataset")
        metric = f"{type(self).__name__}_score"
        key = _metric_key(owner[0], metric, dataset, _call_signature(args, kwargs))
        _log(owner[0], owner[1], key, value)
    except Exception as err:
        warn_failure("sklearn", "post-training score not logged", err)
    return value
