"""The lightgbm flavor: save, log and load models (re-exported by ``mltrail.lightgbm``).

Kept apart from the package's ``__init__`` so autologging can import it without a cycle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid

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
    import lightgbm as lgb

    from mltrail.models.requirements import resolve_requirements
    from mltrail.models.serialization import CLOUDPICKLE, dump_model
    from mltrail.pyfunc.flavor_dir import new_model_dir

    is_booster = isinstance(lgb_model, lgb.Booster)
    if not is_booster and not isinstance(lgb_model, lgb.LGBMModel):
        raise invalid(f"Expected a lightgbm Booster or LGBMModel, got {type(lgb_model).__name__}")
    data = "model.lgb" if is_booster else "model.pkl"
    with new_model_dir(path, code_paths=code_paths, mlflow_model=mlflow_model, metadata=metadata) as new:
        if is_booster:
            lgb_model.save_model(str(new.path / data))
        else:
            dump_model(lgb_model, new.path / data, CLOUDPICKLE)
        new.add_flavor(
            FLAVOR_NAME,
            lgb_version=lgb.__version__,
            data=data,
            model_class=f"{type(lgb_model).__module__}.{type(lgb_model).__name__}",
            serialization_format=None if is_booster else CLOUDPICKLE,
        )
        reqs = resolve_requirements(
            get_default_pip_requirements(include_cloudpickle=not is_booster),
            pip_requirements,
            extra_pip_requirements,
        )
        new.finish(
            reqs,
            {"loader_module": "mlflow.lightgbm", "data": data},
            signature,
            input_example,
            predict=lgb_model.predict,
        )


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
    from mltrail.models.serialization import CLOUDPICKLE, load_model_file
    from mltrail.pyfunc.flavor_dir import flavor_conf

    conf = flavor_conf(local, FLAVOR_NAME)
    data = local / conf.get("data", "model.lgb")
    if conf.get("model_class", _BOOSTER_CLASS) == _BOOSTER_CLASS:
        import lightgbm as lgb

        return lgb.Booster(model_file=str(data))
    # MLflow writes LightGBM sklearn models with skops by default; ours use cloudpickle.
    return load_model_file(data, conf.get("serialization_format") or CLOUDPICKLE)


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The Booster or LightGBM scikit-learn model saved at ``model_uri``."""
    from mltrail.models.download import download_model

    return _load_from_dir(download_model(str(model_uri), dst_path=dst_path))


def _load_pyfunc(path: str) -> Any:
    """Loader entry point for ``loader_module: mlflow.lightgbm`` (``path``: the data file or its folder)."""
    from mltrail.pyfunc.flavor_dir import RawModelWrapper, model_folder

    return RawModelWrapper(_load_from_dir(model_folder(path)))
