"""``models:/`` and ``runs:/`` URIs -> the concrete artifact URI behind them.

The resolution asks the tracking store and the model registry, so it lives in
:mod:`mltrail.tracking._model_uris`; model code imports it from here.

Example::

    resolve_model_uri("models:/MyLLMApp@champion")  # ".../artifacts/llm_model"
"""

from mltrail.tracking._model_uris import (
    logged_model_for_runs_uri,
    model_version_for,
    parse_models_uri,
    resolve_model_uri,
)

__all__ = ["logged_model_for_runs_uri", "model_version_for", "parse_models_uri", "resolve_model_uri"]
