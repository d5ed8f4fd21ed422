"""LightGBM autologging: ``lightgbm.train`` and the scikit-learn API (``LGBMClassifier().fit``).

``lightgbm.train`` logs the booster params and the call's own arguments
(``num_boost_round``, ``keep_training_booster``, …), one metric per validation
set and metric at every iteration (``train-l2``, ``valid-binary_logloss``; step
= iteration), ``best_iteration`` / ``stopped_iteration`` with early stopping,
``feature_importance_split.json`` and ``feature_importance_gain.json``, and the
Booster as artifact ``model`` (lightgbm flavor, text format, signature inferred
from the training Dataset's first rows). ``fit`` of the scikit-learn wrappers
logs ``get_params()``, the per-iteration metrics (``valid_0-l2``), training
metrics as sklearn autologging names them, feature importance and the fitted
estimator. Only the outermost call logs.
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
from mltrail.lightgbm._flavor import log_model

_log = logging.getLogger(__name__)
NAME = "lightgbm"
_UNLOGGED = {
    "params",
    "train_set",
    "valid_sets",
    "valid_names",
    "fobj",
    "feval",
    "init_model",
    "learning_rates",
    "callbacks",
}
_IMPORTANCE_TYPES = ("split", "gain")


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
    registered_model_name: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> None:
    """Enable (or disable) autologging for LightGBM (MLflow's options).

    Example::

        mltrail.lightgbm.autolog()
        booster = lightgbm.train(params, train_set, valid_sets=[train_set, valid], valid_names=["train", "valid"])
    """
    if disable:
        revert_patches(NAME)
        return
    import lightgbm
    import lightgbm.sklearn

    safe_patch(NAME, lightgbm, "train", _patched_train)
    for cls in classes_defining(lightgbm.sklearn.LGBMModel, "fit"):
        safe_patch(NAME, cls, "fit", _patched_fit)


_guarded = functools.partial(guarded, NAME)


class _AutologCallback:
    """A LightGBM callback recording each iteration's evaluation results; it never raises."""

    order = 100  # after LightGBM's own callbacks (early stopping may raise to stop training)

    def __init__(self, buffer: lu.MetricsBuffer, results: list[dict[str, float]]) -> None:
        self.buffer = buffer
        self.results = results

    def __call__(self, env: Any) -> None:
        try:
            values = {
                lu.sanitize_metric_name(f"{item[0]}-{item[1]}"): float(item[2])
                for item in env.evaluation_result_list or []
            }
            self.results.append(values)
            self.buffer.record(values, env.iteration)
        except Exception as err:
            warn_failure(NAME, "failed to log iteration metrics", err)


def _dataset_example(train_set: Any) -> Any:
    data = getattr(train_set, "data", None)
    if data is None or isinstance(data, (str, bytes)) or not hasattr(data, "shape"):
        return None
    return lu.input_sample(data, EXAMPLE_ROWS)


def _patched_train(original: Any, *args: Any, **kwargs: Any) -> Any:
    import inspect

    if running_integrations() - {NAME}:
        return original(*args, **kwargs)
    with autolog_run(NAME) as run:
        if run is None:
            return original(*args, **kwargs)
        run_id, client = run.info.run_id, lu.client_for(run)
        bound = inspect.signature(original).bind(*args, **kwargs)
        params = dict(bound.arguments.get("params") or {})
        _guarded(
            "params",
            lu.log_params,
            run_id,
            client,
            {**params, **lu.fn_args_as_params(original, args, kwargs, _UNLOGGED)},
        )
        train_set = bound.arguments.get("train_set")
        example = _guarded("input example", _dataset_example, train_set)
        if get_autolog_config(NAME).get("log_datasets", True) and example is not None:
            _guarded(
                "dataset", lu.log_training_dataset, run_id, client, train_set.data, train_set.get_label()
            )
        buffer = lu.MetricsBuffer(run_id, client)
        results: list[dict[str, float]] = []
        bound.arguments["callbacks"] = [
            *(bound.arguments.get("callbacks") or []),
            _AutologCallback(buffer, results),
        ]
        booster = original(*bound.args, **bound.kwargs)
        _guarded("metrics", buffer.flush)
        _guarded(
            "early stopping metrics", _log_early_stopping, run_id, client, booster.best_iteration, results
        )
        _guarded("feature importance", _log_importance, run_id, client, booster)
        if get_autolog_config(NAME).get("log_models", True):
            _guarded("model", _log_model, booster, example)
        return booster


def _log_early_stopping(run_id: str, client: Any, best: int, results: list[dict[str, float]]) -> None:
    """MLflow's LightGBM rule: ``best_iteration`` > 0 means early stopping was in effect."""
    if not best or best <= 0:
        return
    lu.log_metrics(run_id, client, {"stopped_iteration": len(results), "best_iteration": best})
    if 0 < best <= len(results):
        lu.log_metrics(run_id, client, results[best - 1], step=len(results))


def _log_importance(run_id: str, client: Any, booster: Any) -> None:
    features = booster.feature_name()
    for kind in _IMPORTANCE_TYPES:
        values = booster.feature_importance(importance_type=kind).tolist()
        importance = dict(zip(features, values, strict=False))
        lu.log_dict_artifact(run_id, client, importance, f"feature_importance_{kind}.json")
        _guarded("feature importance plot", lu.log_importance_plot, run_id, client, importance, kind)


def _log_model(model: Any, example: Any) -> None:
    config = get_autolog_config(NAME)
    signature = None
    if example is not None and config.get("log_model_signatures", True):
        try:
            signature = lu.infer_model_signature(example, model.predict)
        except Exception as err:
            _log.warning("model signature not inferred: %s", err)
    log_model(
        model,
        name="model",
        signature=signature,
        input_example=example if config.get("log_input_examples") else None,
        registered_model_name=config.get("registered_model_name"),
    )


def _fit_early_stopping(model: Any, run_id: str, client: Any, per_iteration: list[dict[str, float]]) -> None:
    _log_early_stopping(run_id, client, getattr(model, "best_iteration_", 0) or 0, per_iteration)


_SKLEARN_API = BoosterAPI(
    name=NAME,
    eval_history=lambda model: getattr(model, "evals_result_", None) or {},
    log_early_stopping=_fit_early_stopping,
    log_importance=lambda run_id, client, model: _log_importance(run_id, client, model.booster_),
    log_model=lambda model, example: _log_model(model, example),
)
_patched_fit = functools.partial(sklearn_api_fit, _SKLEARN_API)
