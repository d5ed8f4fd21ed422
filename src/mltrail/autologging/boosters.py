"""What XGBoost's and LightGBM's autologgers share: the scikit-learn-API ``fit`` and eval histories.

Both libraries wrap their boosters in scikit-learn estimators (``XGBClassifier``,
``LGBMRegressor``, ...) whose ``fit`` is logged the same way: params and tags,
the training dataset, the per-iteration evaluation history, early stopping,
training metrics as sklearn autologging names them, feature importance and the
fitted estimator. Only the library-specific reads differ; a :class:`BoosterAPI`
names them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mltrail.autologging import logging_utils as lu
from mltrail.autologging.config import get_autolog_config
from mltrail.autologging.patching import running_integrations, warn_failure
from mltrail.autologging.runs import autolog_run
from mltrail.entities import Metric
from mltrail.sklearn._autolog import estimator_tags, log_training_metrics

# How many training rows make the model's input example and signature.
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class BoosterAPI:
    """The library-specific parts of a boosting library's scikit-learn ``fit`` autologging."""

    name: str
    # The fitted estimator's eval history: {dataset name: {metric name: [value per iteration]}}.
    eval_history: Callable[[Any], dict[str, dict[str, list[float]]]]
    # Log early-stopping results given the per-iteration metrics (does nothing without early stopping).
    log_early_stopping: Callable[[Any, str, Any, list[dict[str, float]]], None]
    # Log feature importance of the fitted estimator's booster.
    log_importance: Callable[[str, Any, Any], None]
    # Log the fitted estimator as the run's model, given an input example (or None).
    log_model: Callable[[Any, Any], None]


def guarded(name: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; a failure is warned as integration ``name`` failing to log ``what``, never raised."""
    try:
        return fn(*args, **kwargs)
    except Exception as err:
        warn_failure(name, f"failed to log {what}", err)
        return None


def log_eval_history(
    run_id: str, client: Any, history: dict[str, dict[str, list[float]]]
) -> list[dict[str, float]]:
    """Log ``<data>-<metric>`` at step = iteration in one batch; return the metrics of each iteration."""
    now = int(time.time() * 1000)
    batch = []
    per_iteration: list[dict[str, float]] = []
    for data, metrics in history.items():
        for metric, values in metrics.items():
            key = lu.sanitize_metric_name(f"{data}-{metric}")
            for step, value in enumerate(values):
                batch.append(Metric(key, float(value), now, step))
                while len(per_iteration) <= step:
                    per_iteration.append({})
                per_iteration[step][key] = float(value)
    if batch:
        client.log_batch(run_id, metrics=batch)
    return per_iteration


def sklearn_api_fit(api: BoosterAPI, original: Any, estimator: Any, *args: Any, **kwargs: Any) -> Any:
    """The patched ``fit`` of a booster's scikit-learn estimator (only the outermost autologged call logs)."""
    if running_integrations() - {api.name}:  # inside another integration's call (an sklearn search): theirs
        return original(estimator, *args, **kwargs)
    with autolog_run(api.name) as run:
        if run is None:
            return original(estimator, *args, **kwargs)
        run_id, client = run.info.run_id, lu.client_for(run)
        config = get_autolog_config(api.name)
        features = args[0] if args else kwargs.get("X")
        targets = args[1] if len(args) > 1 else kwargs.get("y")
        guarded(api.name, "params", lu.log_params, run_id, client, estimator.get_params(deep=True))
        guarded(api.name, "tags", lu.log_tags, run_id, client, estimator_tags(estimator))
        if config.get("log_datasets", True):
            guarded(api.name, "dataset", lu.log_training_dataset, run_id, client, features, targets)
        result = original(estimator, *args, **kwargs)

        def log_metrics() -> None:
            per_iteration = log_eval_history(run_id, client, api.eval_history(estimator))
            api.log_early_stopping(estimator, run_id, client, per_iteration)

        guarded(api.name, "metrics", log_metrics)
        guarded(
            api.name, "training metrics", log_training_metrics,
            estimator, run_id, client, features, targets, kwargs.get("sample_weight"),
        )  # fmt: skip
        guarded(api.name, "feature importance", api.log_importance, run_id, client, estimator)
        if config.get("log_models", True):
            guarded(api.name, "model", api.log_model, estimator, lu.input_sample(features, EXAMPLE_ROWS))
        return result
