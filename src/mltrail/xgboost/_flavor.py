"""The xgboost flavor: save, log and load models (re-exported by ``mltrail.xgboost``).

Kept apart from the package's ``__init__`` so autologging can import it without a cycle.
"""

from __future__ import annotations

import importlib
import os
import sys
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
    import shutil

    import xgboost as xgb

    from mltrail.models.model import Model
    from mltrail.models.requirements import resolve_requirements
    from mltrail.models.signature import infer_signature_by_scoring
    from mltrail.pyfunc._api import finish_model, prepare_model_dir
    from mltrail.pyfunc.model import copy_code_paths

    if model_format not in _FORMATS:
        raise invalid(f"Unsupported model_format '{model_format}': use one of {list(_FORMATS)}")
    if not hasattr(xgb_model, "save_model"):
        raise invalid(f"Expected an xgboost Booster or XGBModel, got {type(xgb_model).__name__}")
    path = prepare_model_dir(path)
    data = f"model.{model_format}"
    try:
        xgb_model.save_model(str(path / data))
        code_dir = copy_code_paths(code_paths, path)
        model = mlflow_model or Model()
        if metadata:
            model.metadata = metadata
        model.add_flavor(
            FLAVOR_NAME,
            xgb_version=xgb.__version__,
            data=data,
            model_class=f"{type(xgb_model).__module__}.{type(xgb_model).__name__}",
            model_format=model_format,
            code=code_dir,
        )
        reqs = resolve_requirements(get_default_pip_requirements(), pip_requirements, extra_pip_requirements)
        pyfunc_conf: dict[str, Any] = {"loader_module": "mlflow.xgboost", "data": data}
        if code_dir:
            pyfunc_conf["code"] = code_dir
        if signature is None and input_example is not None:
            signature = infer_signature_by_scoring(input_example, lambda x: _predict(xgb_model, x))
        finish_model(path, model, signature, input_example, reqs, pyfunc_conf)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


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
    from mltrail.models.model import get_flavor_configuration

    conf = get_flavor_configuration(local, FLAVOR_NAME)
    if conf.get("code"):
        sys.path.insert(0, str(local / conf["code"]))
    module_name, _, class_name = conf.get("model_class", "xgboost.core.Booster").rpartition(".")
    model = getattr(importlib.import_module(module_name), class_name)()
    model.load_model(str(local / conf.get("data", "model.xgb")))
    return model


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The Booster or XGBoost scikit-learn model saved at ``model_uri``."""
    from mltrail.models.download import download_model

    return _load_from_dir(download_model(str(model_uri), dst_path=dst_path))


class _XGBModelWrapper:
    def __init__(self, xgb_model: Any) -> None:
        self.xgb_model = xgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return _predict(self.xgb_model, data, **(params or {}))

    def get_raw_model(self) -> Any:
        return self.xgb_model


def _load_pyfunc(path: str) -> _XGBModelWrapper:
    """Loader entry point for ``loader_module: mlflow.xgboost`` (``path``: the data file or its folder)."""
    local = Path(path)
    return _XGBModelWrapper(_load_from_dir(local.parent if local.is_file() else local))
