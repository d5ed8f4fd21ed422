"""XGBoost autologging: ``xgboost.train`` and the scikit-learn API (``XGBClassifier().fit``).

``xgboost.train`` logs the booster params and the call's own arguments
(``num_boost_round``, ``early_stopping_rounds``, …), one metric per evaluation
set and metric at every iteration (``train-rmse``, ``valid-logloss``; step =
iteration), ``best_iteration`` / ``stopped_iteration`` with early stopping,
``feature_importance_<type>.json`` and the Booster as artifact ``model``
(xgboost flavor, signature inferred from the training DMatrix's first rows).
``fit`` of the scikit-learn wrappers logs ``get_params()``, the per-iteration
``validation_<i>-<metric>`` metrics, training metrics as sklearn autologging
names them, feature importance and the fitted estimator. Only the outermost
call logs: the ``train`` inside ``fit`` and a fit inside an autologged sklearn
search are not logged twice.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from mltrail.autologging import (
    autolog_run,
    autologging_integration,
    classes_defining,
    get_autolog_config,
    revert_patches,
    running_integrations,
    safe_patch,
    warn_failure,
)
from mltrail.autologging import logging_utils as lu
from mltrail.autologging.boosters import EXAMPLE_ROWS, BoosterAPI, guarded, sklearn_api_fit
from mltrail.xgboost._flavor import _predict, log_model

_log = logging.getLogger(__name__)
NAME = "xgboost"
_UNLOGGED = {
    "params",
    "dtrain",
    "evals",
    "obj",
    "feval",
    "evals_result",
    "xgb_model",
    "callbacks",
    "learning_rates",
    "custom_metric",
}
_EXAMPLE_ATTR = "_mltrail_input_example"


@autologging_integration(NAME)
def autolog(
    importance_types: list[str] | None = None,
    log_input_examples: bool = False,
    log_model_signatures: bool = True,
    log_models: bool = True,
    log_datasets: bool = True,
    disable: bool = False,
    exclusive: bool = False,
    disable_for_unsupported_versions: bool = False,
    silent: bool = False,
    registered_model_name: str | None = None,
    model_format: str = "ubj",
    extra_tags: dict[str, str] | None = None,
) -> None:
    """Enable (or disable) autologging for XGBoost (MLflow's options).

    ``importance_types`` defaults to ``["weight"]`` (``feature_importance_weight.json``).

    Example::

        mltrail.xgboost.autolog()
        booster = xgboost.train(params, dtrain, evals=[(dtrain, "train"), (dvalid, "valid")])
    """
    if disable:
        revert_patches(NAME)
        return
    import xgboost
    import xgboost.sklearn

    safe_patch(NAME, xgboost, "train", _patched_train)
    safe_patch(NAME, xgboost.DMatrix, "__init__", _patched_dmatrix_init)
    for cls in classes_defining(xgboost.sklearn.XGBModel, "fit"):
        safe_patch(NAME, cls, "fit", _patched_fit)


def _other_integration_running() -> bool:
    """Inside another integration's autologged call (an sklearn search fitting us): theirs to log."""
    return bool(running_integrations() - {NAME})


_guarded = functools.partial(guarded, NAME)


def _patched_dmatrix_init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
    original(self, *args, **kwargs)
    data = args[0] if args else kwargs.get("data")
    if data is not None and not isinstance(data, (str, bytes)) and hasattr(data, "shape"):
        try:
            sample = lu.input_sample(data, EXAMPLE_ROWS)
            setattr(self, _EXAMPLE_ATTR, sample.copy() if hasattr(sample, "copy") else sample)
        except Exception as err:  # an exotic input type: no example, no signature
            _log.debug("no input example from DMatrix data: %s", err)


def _make_callback(buffer: lu.MetricsBuffer, results: list[dict[str, float]]) -> Any:
    import xgboost

    class _AutologCallback(xgboost.callback.TrainingCallback):
        """Records every evaluation result; never stops training, never raises."""

        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
            try:
                values = {
                    lu.sanitize_metric_name(f"{data}-{metric}"): history[-1]
                    for data, metrics in evals_log.items()
                    for metric, history in metrics.items()
                }
                values = {k: (v[0] if isinstance(v, tuple) else v) for k, v in values.items()}
                results.append(values)
                buffer.record(values, epoch)
            except Exception as err:
                warn_failure(NAME, "failed to log iteration metrics", err)
            return False

    return _AutologCallback()


def _patched_train(original: Any, *args: Any, **kwargs: Any) -> Any:
    if _other_integration_running():
        return original(*args, **kwargs)
    with autolog_run(NAME) as run:
        if run is None:
            return original(*args, **kwargs)
        run_id, client = run.info.run_id, lu.client_for(run)
        call = lu.fn_args_as_params(original, args, kwargs, set())
        params = dict(call.get("params") or {})
        _guarded(
            "params",
            lu.log_params,
            run_id,
            client,
            {**params, **lu.fn_args_as_params(original, args, kwargs, _UNLOGGED)},
        )
        buffer = lu.MetricsBuffer(run_id, client)
        results: list[dict[str, float]] = []
        callbacks = list(call.get("callbacks") or [])
        try:
            callbacks.append(_make_callback(buffer, results))
        except Exception as err:
            warn_failure(NAME, "no per-iteration metrics", err)
        kwargs = dict(kwargs)
        kwargs["callbacks"] = callbacks  # keyword-only in xgboost.train
        booster = original(*args, **kwargs)
        _guarded("metrics", buffer.flush)
        if call.get("early_stopping_rounds"):
            _guarded("early stopping metrics", _log_early_stopping, run_id, client, booster, results)
        _guarded("feature importance", _log_importance, run_id, client, booster)
        if get_autolog_config(NAME).get("log_models", True):
            example = getattr(call.get("dtrain"), _EXAMPLE_ATTR, None)
            _guarded("model", _log_model, booster, example)
        return booster


def _log_early_stopping(run_id: str, client: Any, booster: Any, results: list[dict[str, float]]) -> None:
    best = int(booster.best_iteration)
    lu.log_metrics(run_id, client, {"stopped_iteration": len(results) - 1, "best_iteration": best})
    if 0 <= best < len(results):
        lu.log_metrics(run_id, client, results[best], step=len(results))


def _log_importance(run_id: str, client: Any, booster: Any) -> None:
    for kind in get_autolog_config(NAME).get("importance_types") or ["weight"]:
        scores = booster.get_score(importance_type=kind)
        lu.log_dict_artifact(run_id, client, scores, f"feature_importance_{kind}.json")
        if scores:
            _guarded("feature importance plot", lu.log_importance_plot, run_id, client, scores, kind)


def _log_model(model: Any, example: Any) -> None:
    config = get_autolog_config(NAME)
    signature = None
    if example is not None and config.get("log_model_signatures", True):
        try:
            signature = lu.infer_model_signature(example, lambda x: _predict(model, x))
        except Exception as err:
            _log.warning("model signature not inferred: %s", err)
    log_model(
        model,
        name="model",
        signature=signature,
        input_example=example if config.get("log_input_examples") else None,
        model_format=config.get("model_format", "ubj"),
        registered_model_name=config.get("registered_model_name"),
    )


def _fit_history(model: Any) -> dict[str, dict[str, list[float]]]:
    try:
        return model.evals_result()
    except Exception:  # fitted without eval_set
        return {}


def _fit_early_stopping(model: Any, run_id: str, client: Any, per_iteration: list[dict[str, float]]) -> None:
    best = getattr(model, "best_iteration", None) if getattr(model, "early_stopping_rounds", None) else None
    if best is not None and per_iteration:
        _log_early_stopping(run_id, client, model.get_booster(), per_iteration)


_SKLEARN_API = BoosterAPI(
    name=NAME,
    eval_history=_fit_history,
    log_early_stopping=_fit_early_stopping,
    log_importance=lambda run_id, client, model: _log_importance(run_id, client, model.get_booster()),
    log_model=lambda model, example: _log_model(model, example),
)
_patched_fit = functools.partial(sklearn_api_fit, _SKLEARN_API)
