"""The sklearn flavor: save, log and load models (re-exported by ``mltrail.sklearn``).

Kept apart from the package's ``__init__`` so autologging can import it without a cycle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid

FLAVOR_NAME = "sklearn"
# MLflow's names for the formats of mltrail.models.serialization (which the flavor imports only
# when it saves or loads, so that `import mltrail.sklearn` stays light).
SERIALIZATION_FORMAT_SKOPS = "skops"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SUPPORTED_SERIALIZATION_FORMATS = [
    SERIALIZATION_FORMAT_SKOPS,
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_CLOUDPICKLE,
]
_MODEL_FILE = "model.pkl"


def save_model(
    sk_model: Any,
    path: str | os.PathLike,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Any = None,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Save a scikit-learn estimator as a model directory (MLflow's layout)."""
    from mltrail.models.requirements import infer_requirements, resolve_requirements
    from mltrail.models.serialization import dump_model
    from mltrail.pyfunc.flavor_dir import new_model_dir

    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise invalid(
            f"Unrecognized serialization format: {serialization_format}. Please specify one "
            f"of the following supported formats: {SUPPORTED_SERIALIZATION_FORMATS}."
        )
    if not hasattr(sk_model, pyfunc_predict_fn):
        raise invalid(f"The model has no '{pyfunc_predict_fn}' method to use as pyfunc_predict_fn")
    import sklearn

    with new_model_dir(path, code_paths=code_paths, mlflow_model=mlflow_model, metadata=metadata) as new:
        dump_model(sk_model, new.path / _MODEL_FILE, serialization_format)
        new.add_flavor(
            FLAVOR_NAME,
            pickled_model=_MODEL_FILE,
            sklearn_version=sklearn.__version__,
            serialization_format=serialization_format,
            skops_trusted_types=None,
        )
        base = ["cloudpickle", "scikit-learn"] if serialization_format == "cloudpickle" else ["scikit-learn"]
        if serialization_format == SERIALIZATION_FORMAT_SKOPS:
            base.append("skops")
        reqs = resolve_requirements(
            infer_requirements([], base=base), pip_requirements, extra_pip_requirements
        )
        pyfunc_conf = {
            "loader_module": "mlflow.sklearn",
            "model_path": _MODEL_FILE,
            "predict_fn": pyfunc_predict_fn,
        }
        new.finish(reqs, pyfunc_conf, signature, input_example, predict=getattr(sk_model, pyfunc_predict_fn))


def log_model(
    sk_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    **kwargs: Any,
):
    """Log a scikit-learn estimator to the active run; ``name`` or ``artifact_path`` names it."""
    from mltrail.models.logging import log_model_with

    return log_model_with(
        lambda path, mlflow_model, **kw: save_model(sk_model, path, mlflow_model=mlflow_model, **kw),
        name=name or artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        code_paths=code_paths,
        serialization_format=serialization_format,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        pyfunc_predict_fn=pyfunc_predict_fn,
        metadata=metadata,
    )


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The raw scikit-learn estimator saved at ``model_uri``."""
    from mltrail.models.download import download_model
    from mltrail.models.serialization import load_model_file
    from mltrail.pyfunc.flavor_dir import flavor_conf

    local = download_model(str(model_uri), dst_path=dst_path)
    conf = flavor_conf(local, FLAVOR_NAME)
    return load_model_file(
        local / conf.get("pickled_model", _MODEL_FILE),
        conf.get("serialization_format", SERIALIZATION_FORMAT_CLOUDPICKLE),
    )


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> Any:
    """Loader entry point for ``loader_module: mlflow.sklearn`` / ``mltrail.sklearn``."""
    from mltrail.models.model import Model
    from mltrail.models.serialization import load_model_file
    from mltrail.pyfunc.flavor_dir import RawModelWrapper

    local = Path(path)
    if local.is_file():  # MLflow 1.x passed the pickle itself
        model = load_model_file(local, SERIALIZATION_FORMAT_PICKLE)
        return RawModelWrapper(model, lambda data, **params: model.predict(data))
    meta = Model.load(local)
    sk_conf = meta.flavors.get(FLAVOR_NAME, {})
    py_conf = meta.flavors.get("python_function", {})
    fmt = sk_conf.get("serialization_format", SERIALIZATION_FORMAT_CLOUDPICKLE)
    model = load_model_file(local / sk_conf.get("pickled_model", py_conf.get("model_path", _MODEL_FILE)), fmt)
    predict = getattr(model, py_conf.get("predict_fn", "predict"))
    return RawModelWrapper(model, lambda data, **params: predict(data))
