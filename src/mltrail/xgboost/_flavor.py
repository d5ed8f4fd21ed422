"""The xgboost flavor: save, log and load models (re-exported by ``mltrail.xgboost``).

Kept apart from the package's ``__init__`` so autologging can import it without a cycle.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid

FLAVOR_NAME = "xgboost"
_FORMATS = ("ubj", "json", "xgb")


def get_default_pip_requirements() -> list[str]:
    """The pinned requirements of a saved XGBoost model (mltrail and xgboost)."""
    from mltrail.models.requirements import mltrail_requirement, modules_to_requirements

    return [mltrail_requirement(), *modules_to_requirements(["xgboost"])]


def save_model(
    xgb_model: Any,
    path: str | os.PathLike,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Any = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    model_format: str = "ubj",
    metadata: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Save a Booster or XGBoost scikit-learn model as a model directory (MLflow's layout)."""
    import xgboost as xgb

    from mltrail.models.requirements import resolve_requirements
    from mltrail.pyfunc.flavor_dir import new_model_dir

    if model_format not in _FORMATS:
        raise invalid(f"Unsupported model_format '{model_format}': use one of {list(_FORMATS)}")
    if not hasattr(xgb_model, "save_model"):
        raise invalid(f"Expected an xgboost Booster or XGBModel, got {type(xgb_model).__name__}")
    data = f"model.{model_format}"
    with new_model_dir(path, code_paths=code_paths, mlflow_model=mlflow_model, metadata=metadata) as new:
        xgb_model.save_model(str(new.path / data))
        new.add_flavor(
            FLAVOR_NAME,
            xgb_version=xgb.__version__,
            data=data,
            model_class=f"{type(xgb_model).__module__}.{type(xgb_model).__name__}",
            model_format=model_format,
        )
        reqs = resolve_requirements(get_default_pip_requirements(), pip_requirements, extra_pip_requirements)
        new.finish(
            reqs,
            {"loader_module": "mlflow.xgboost", "data": data},
            signature,
            input_example,
            predict=lambda x: _predict(xgb_model, x),
        )


def _predict(xgb_model: Any, data: Any, **params: Any) -> Any:
    import xgboost as xgb

    if isinstance(xgb_model, xgb.Booster):
        return xgb_model.predict(xgb.DMatrix(data), **params)
    return xgb_model.predict(data, **params)


def log_model(
    xgb_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    model_format: str = "ubj",
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    **kwargs: Any,
):
    """Log an XGBoost model to the active run; ``name`` (or ``artifact_path``) names it."""
    from mltrail.models.logging import log_model_with

    return log_model_with(
        lambda path, mlflow_model, **kw: save_model(xgb_model, path, mlflow_model=mlflow_model, **kw),
        name=name or artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        model_format=model_format,
        metadata=metadata,
    )


def _load_from_dir(local: Path) -> Any:
    from mltrail.pyfunc.flavor_dir import flavor_conf

    conf = flavor_conf(local, FLAVOR_NAME)
    module_name, _, class_name = conf.get("model_class", "xgboost.core.Booster").rpartition(".")
    model = getattr(importlib.import_module(module_name), class_name)()
    model.load_model(str(local / conf.get("data", "model.xgb")))
    return model


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The Booster or XGBoost scikit-learn model saved at ``model_uri``."""
    from mltrail.models.download import download_model

    return _load_from_dir(download_model(str(model_uri), dst_path=dst_path))


def _load_pyfunc(path: str) -> Any:
    """Loader entry point for ``loader_module: mlflow.xgboost`` (``path``: the data file or its folder)."""
    from mltrail.pyfunc.flavor_dir import RawModelWrapper, model_folder

    booster = _load_from_dir(model_folder(path))
    return RawModelWrapper(booster, lambda data, **params: _predict(booster, data, **params))
