"""The lightgbm flavor: save, log and load models (re-exported by ``mltrail.lightgbm``).

Kept apart from the package's ``__init__`` so autologging can import it without a cycle.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid
from mltrail.sklearn import _load_from_file

FLAVOR_NAME = "lightgbm"
_BOOSTER_CLASS = "lightgbm.basic.Booster"


def get_default_pip_requirements(include_cloudpickle: bool = False) -> list[str]:
    """The pinned requirements of a saved LightGBM model."""
    from mltrail.models.requirements import mltrail_requirement, modules_to_requirements

    return [
        mltrail_requirement(),
        *modules_to_requirements(["lightgbm", *(["cloudpickle"] if include_cloudpickle else [])]),
    ]


def save_model(
    lgb_model: Any,
    path: str | os.PathLike,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Any = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Save a LightGBM Booster (text) or scikit-learn model (cloudpickle) as a model directory."""
    import shutil

    import lightgbm as lgb

    from mltrail.models.model import Model
    from mltrail.models.requirements import resolve_requirements
    from mltrail.models.signature import infer_signature_by_scoring
    from mltrail.pyfunc._api import finish_model, prepare_model_dir
    from mltrail.pyfunc.model import copy_code_paths

    is_booster = isinstance(lgb_model, lgb.Booster)
    if not is_booster and not isinstance(lgb_model, lgb.LGBMModel):
        raise invalid(f"Expected a lightgbm Booster or LGBMModel, got {type(lgb_model).__name__}")
    path = prepare_model_dir(path)
    data = "model.lgb" if is_booster else "model.pkl"
    try:
        if is_booster:
            lgb_model.save_model(str(path / data))
        else:
            import cloudpickle

            with open(path / data, "wb") as fh:
                cloudpickle.dump(lgb_model, fh)
        code_dir = copy_code_paths(code_paths, path)
        model = mlflow_model or Model()
        if metadata:
            model.metadata = metadata
        model.add_flavor(
            FLAVOR_NAME,
            lgb_version=lgb.__version__,
            data=data,
            model_class=f"{type(lgb_model).__module__}.{type(lgb_model).__name__}",
            code=code_dir,
            serialization_format=None if is_booster else "cloudpickle",
        )
        reqs = resolve_requirements(
            get_default_pip_requirements(include_cloudpickle=not is_booster),
            pip_requirements,
            extra_pip_requirements,
        )
        pyfunc_conf: dict[str, Any] = {"loader_module": "mlflow.lightgbm", "data": data}
        if code_dir:
            pyfunc_conf["code"] = code_dir
        if signature is None and input_example is not None:
            signature = infer_signature_by_scoring(input_example, lgb_model.predict)
        finish_model(path, model, signature, input_example, reqs, pyfunc_conf)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def log_model(
    lgb_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    **kwargs: Any,
):
    """Log a LightGBM model to the active run; ``name`` (or ``artifact_path``) names it."""
    from mltrail.models.logging import log_model_with

    return log_model_with(
        lambda path, mlflow_model, **kw: save_model(lgb_model, path, mlflow_model=mlflow_model, **kw),
        name=name or artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
    )


def _load_from_dir(local: Path) -> Any:
    from mltrail.models.model import get_flavor_configuration

    conf = get_flavor_configuration(local, FLAVOR_NAME)
    if conf.get("code"):
        sys.path.insert(0, str(local / conf["code"]))
    data = local / conf.get("data", "model.lgb")
    if conf.get("model_class", _BOOSTER_CLASS) == _BOOSTER_CLASS:
        import lightgbm as lgb

        return lgb.Booster(model_file=str(data))
    # MLflow writes LightGBM sklearn models with skops by default; ours use cloudpickle.
    return _load_from_file(data, conf.get("serialization_format") or "cloudpickle")


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The Booster or LightGBM scikit-learn model saved at ``model_uri``."""
    from mltrail.models.download import download_model

    return _load_from_dir(download_model(str(model_uri), dst_path=dst_path))


class _LGBModelWrapper:
    def __init__(self, lgb_model: Any) -> None:
        self.lgb_model = lgb_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.lgb_model.predict(data, **(params or {}))

    def get_raw_model(self) -> Any:
        return self.lgb_model


def _load_pyfunc(path: str) -> _LGBModelWrapper:
    """Loader entry point for ``loader_module: mlflow.lightgbm`` (``path``: the data file or its folder)."""
    local = Path(path)
    return _LGBModelWrapper(_load_from_dir(local.parent if local.is_file() else local))
