"""The sklearn flavor: save, log and load models (re-exported by ``mltrail.sklearn``).

Kept apart from the package's ``__init__`` so autologging can import it without a cycle.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid

FLAVOR_NAME = "sklearn"
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
    import shutil

    from mltrail.models.model import Model
    from mltrail.models.requirements import infer_requirements, resolve_requirements
    from mltrail.models.signature import infer_signature_by_scoring
    from mltrail.pyfunc._api import finish_model, prepare_model_dir

    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise invalid(
            f"Unrecognized serialization format: {serialization_format}. Please specify one "
            f"of the following supported formats: {SUPPORTED_SERIALIZATION_FORMATS}."
        )
    if not hasattr(sk_model, pyfunc_predict_fn):
        raise invalid(f"The model has no '{pyfunc_predict_fn}' method to use as pyfunc_predict_fn")
    import sklearn

    path = prepare_model_dir(path)
    try:
        _dump(sk_model, path / _MODEL_FILE, serialization_format)
        from mltrail.pyfunc.model import copy_code_paths

        code_dir = copy_code_paths(code_paths, path)
        model = mlflow_model or Model()
        if metadata:
            model.metadata = metadata
        model.add_flavor(
            FLAVOR_NAME,
            pickled_model=_MODEL_FILE,
            sklearn_version=sklearn.__version__,
            serialization_format=serialization_format,
            code=code_dir,
            skops_trusted_types=None,
        )
        base = ["cloudpickle", "scikit-learn"] if serialization_format == "cloudpickle" else ["scikit-learn"]
        if serialization_format == SERIALIZATION_FORMAT_SKOPS:
            base.append("skops")
        reqs = resolve_requirements(
            infer_requirements([], base=base), pip_requirements, extra_pip_requirements
        )
        pyfunc_conf: dict[str, Any] = {
            "loader_module": "mlflow.sklearn",
            "model_path": _MODEL_FILE,
            "predict_fn": pyfunc_predict_fn,
        }
        if code_dir:
            pyfunc_conf["code"] = code_dir
        if signature is None and input_example is not None:
            signature = infer_signature_by_scoring(input_example, getattr(sk_model, pyfunc_predict_fn))
        finish_model(path, model, signature, input_example, reqs, pyfunc_conf)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _dump(sk_model: Any, target: Path, fmt: str) -> None:
    if fmt == SERIALIZATION_FORMAT_SKOPS:
        try:
            import skops.io
        except ImportError:
            raise invalid(
                "serialization_format='skops' needs the 'skops' package: pip install skops"
            ) from None
        skops.io.dump(sk_model, str(target))
        return
    with open(target, "wb") as fh:
        if fmt == SERIALIZATION_FORMAT_CLOUDPICKLE:
            import cloudpickle

            cloudpickle.dump(sk_model, fh)
        else:
            pickle.dump(sk_model, fh)


def _load_from_file(path: Path, fmt: str) -> Any:
    if fmt == SERIALIZATION_FORMAT_SKOPS:
        try:
            import skops.io
        except ImportError:
            raise invalid("This model was saved with skops: install the 'skops' package to load it") from None
        return skops.io.load(str(path), trusted=skops.io.get_untrusted_types(file=str(path)))
    with open(path, "rb") as fh:
        # cloudpickle output is readable by plain pickle once cloudpickle is importable.
        if fmt == SERIALIZATION_FORMAT_CLOUDPICKLE:
            import cloudpickle  # noqa: F401
        return pickle.load(fh)


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
    from mltrail.models.model import get_flavor_configuration

    local = download_model(str(model_uri), dst_path=dst_path)
    conf = get_flavor_configuration(local, FLAVOR_NAME)
    if conf.get("code"):
        sys.path.insert(0, str(local / conf["code"]))
    return _load_from_file(
        local / conf.get("pickled_model", _MODEL_FILE),
        conf.get("serialization_format", SERIALIZATION_FORMAT_CLOUDPICKLE),
    )


class _SklearnModelWrapper:
    def __init__(self, sk_model: Any, predict_fn: str = "predict") -> None:
        self.sk_model = sk_model
        self._predict = getattr(sk_model, predict_fn)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self._predict(data)

    def get_raw_model(self) -> Any:
        return self.sk_model


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _SklearnModelWrapper:
    """Loader entry point for ``loader_module: mlflow.sklearn`` / ``mltrail.sklearn``."""
    from mltrail.models.model import Model

    local = Path(path)
    if local.is_file():  # MLflow 1.x passed the pickle itself
        return _SklearnModelWrapper(_load_from_file(local, SERIALIZATION_FORMAT_PICKLE))
    meta = Model.load(local)
    sk_conf = meta.flavors.get(FLAVOR_NAME, {})
    py_conf = meta.flavors.get("python_function", {})
    fmt = sk_conf.get("serialization_format", SERIALIZATION_FORMAT_CLOUDPICKLE)
    model = _load_from_file(local / sk_conf.get("pickled_model", py_conf.get("model_path", _MODEL_FILE)), fmt)
    return _SklearnModelWrapper(model, py_conf.get("predict_fn", "predict"))
