"""``PythonModel``: custom Python models, saved with cloudpickle in MLflow's layout.

The directory written here is what ``mlflow.pyfunc.save_model`` writes: the
pickled model in ``python_model.pkl`` (or the source file for models-from-code),
``artifacts/`` with the files named in ``artifacts``, ``code/`` with
``code_paths``, and ``loader_module: mlflow.pyfunc.model`` — so mlflow loads
mltrail's models and mltrail (which maps ``mlflow.*`` loaders onto its own)
loads mlflow's.
"""

from __future__ import annotations

import inspect
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from mltrail.exceptions import invalid

PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"
CODE_DIR = "code"
MODEL_CODE_PATH = "model_code_path"
# mlflow's loader name: what we write so that mlflow can load our models.
LOADER_MODULE = "mlflow.pyfunc.model"


class _TypeHints(NamedTuple):
    input: Any = None
    output: Any = None


class PythonModel:
    """Base class for custom models: override ``predict`` (and optionally ``load_context``).

    Example::

        class Echo(PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input["prompt"].tolist()
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded: open artifacts, build clients."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        """Score ``model_input`` (a DataFrame, dict, list or numpy array)."""
        raise NotImplementedError("Subclasses of PythonModel must implement predict()")

    @property
    def predict_type_hints(self) -> _TypeHints:
        # mlflow's pyfunc wrapper reads this when it loads one of our models;
        # no type hints means "pass the input through", which is what we want.
        return _TypeHints()


class PythonModelContext:
    """What ``load_context`` and ``predict`` receive: artifact paths and the model config."""

    def __init__(
        self, artifacts: dict[str, str] | None = None, model_config: dict[str, Any] | None = None
    ) -> None:
        self._artifacts = artifacts or {}
        self._model_config = model_config or {}

    @property
    def artifacts(self) -> dict[str, str]:
        """Artifact name -> absolute local path."""
        return self._artifacts

    @property
    def model_config(self) -> dict[str, Any]:
        return self._model_config


class _FunctionModel(PythonModel):
    """Wraps a plain ``predict(model_input)`` function given as ``python_model``."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        return self.func(model_input)


# ------------------------------------------------------------ models from code

_CURRENT_MODEL: list[Any] = []


def set_model(model: Any) -> None:
    """Called by a models-from-code file to say which object is the model."""
    _CURRENT_MODEL.clear()
    _CURRENT_MODEL.append(model)
    # When mlflow is the one loading the file (an mltrail model loaded by mlflow),
    # it looks for the model in its own global: set that too.
    mlflow_model_module = sys.modules.get("mlflow.models.model")
    if mlflow_model_module is not None:
        mlflow_model_module.__mlflow_model__ = model


def _load_model_from_code(path: Path) -> Any:
    import runpy

    _CURRENT_MODEL.clear()
    before = _mlflow_current_model()
    runpy.run_path(str(path), run_name="__mltrail_model__")
    if _CURRENT_MODEL:
        return _CURRENT_MODEL.pop()
    # A file written for mlflow calls mlflow.models.set_model instead.
    after = _mlflow_current_model()
    if after is not None and after is not before:
        return after
    raise invalid(f"The model code file '{path.name}' did not call mltrail.models.set_model(model)")


def _mlflow_current_model() -> Any:
    mod = sys.modules.get("mlflow.models.model")
    return getattr(mod, "__mlflow_model__", None) if mod is not None else None


# ------------------------------------------------------------------ save/load


def _copy_into(src: str, dest_dir: Path) -> None:
    p = Path(src)
    if not p.exists():
        raise invalid(f"code path or artifact '{src}' does not exist")
    target = dest_dir / p.name
    if p.is_dir():
        shutil.copytree(p, target, dirs_exist_ok=True)
    else:
        shutil.copy2(p, target)


def copy_code_paths(code_paths: list[str] | None, path: Path) -> str | None:
    """Copy ``code_paths`` into ``<path>/code``; the directory name for the flavor config, or None."""
    if not code_paths:
        return None
    (path / CODE_DIR).mkdir()
    for cp in code_paths:
        _copy_into(cp, path / CODE_DIR)
    return CODE_DIR


def save_python_model(
    path: Path, python_model: Any, artifacts: dict[str, str] | None, code_paths: list[str] | None
) -> dict[str, Any]:
    """Write the model's files into ``path``; return the ``python_function`` flavor config."""
    import cloudpickle

    conf: dict[str, Any] = {"cloudpickle_version": cloudpickle.__version__}
    if isinstance(python_model, str | Path):
        src = Path(python_model)
        if not src.is_file():
            raise invalid(
                f"python_model '{python_model}' is not a file: pass a PythonModel or a .py file path"
            )
        shutil.copy2(src, path / src.name)
        conf[MODEL_CODE_PATH] = src.name
    else:
        if not isinstance(python_model, PythonModel) and not _looks_like_python_model(python_model):
            if callable(python_model):
                python_model = _FunctionModel(python_model)
            else:
                raise invalid(
                    "python_model must be a PythonModel subclass instance, a callable or a file path"
                )
        with open(path / PYTHON_MODEL_FILE, "wb") as fh:
            cloudpickle.dump(python_model, fh)
        conf["python_model"] = PYTHON_MODEL_FILE
    if artifacts:
        adir = path / ARTIFACTS_DIR
        adir.mkdir()
        saved: dict[str, dict[str, str]] = {}
        for name, uri in artifacts.items():
            local = _local_artifact(uri)
            _copy_into(local, adir)
            saved[name] = {"path": f"{ARTIFACTS_DIR}/{Path(local).name}", "uri": uri}
        conf["artifacts"] = saved
    code_dir = copy_code_paths(code_paths, path)
    if code_dir:
        conf["code"] = code_dir
    return conf


def _local_artifact(uri: str) -> str:
    if "://" in uri or uri.startswith(("runs:/", "models:/", "mlflow-artifacts:")):
        from mltrail.artifacts import download_artifacts

        return download_artifacts(artifact_uri=uri)
    return uri


def _looks_like_python_model(obj: Any) -> bool:
    # An mlflow.pyfunc.PythonModel (or any duck-typed equivalent) is fine too.
    return hasattr(obj, "predict") and hasattr(obj, "load_context")


def load_python_model(model_path: Path, conf: dict[str, Any], model_config: dict[str, Any] | None = None):
    """Unpickle (or run the code of) a python model and call its ``load_context``."""
    if conf.get("code"):
        code_dir = str(model_path / conf["code"])
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
    if MODEL_CODE_PATH in conf:
        python_model = _load_model_from_code(model_path / Path(conf[MODEL_CODE_PATH]).name)
        if not _looks_like_python_model(python_model) and callable(python_model):
            python_model = _FunctionModel(python_model)
    else:
        import cloudpickle

        with open(model_path / conf.get("python_model", PYTHON_MODEL_FILE), "rb") as fh:
            python_model = cloudpickle.load(fh)
    artifacts = {name: str(model_path / a["path"]) for name, a in (conf.get("artifacts") or {}).items()}
    context = PythonModelContext(artifacts, model_config or conf.get("model_config"))
    if hasattr(python_model, "load_context"):
        python_model.load_context(context)
    return _PythonModelImpl(python_model, context)


class _PythonModelImpl:
    """Calls the user's ``predict`` with or without ``context``/``params`` as it declares."""

    def __init__(self, python_model: Any, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context
        try:
            names = list(inspect.signature(python_model.predict).parameters)
        except (TypeError, ValueError):
            names = ["context", "model_input", "params"]
        # MLflow 3 allows predict(self, model_input, params=None) without context.
        positional = [n for n in names if n != "params"]
        self._takes_context = "context" in names or len(positional) >= 2
        self._takes_params = "params" in names

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        args = [self.context, model_input] if self._takes_context else [model_input]
        if self._takes_params:
            return self.python_model.predict(*args, params=params)
        return self.python_model.predict(*args)

    def unwrap_python_model(self) -> Any:
        return self.python_model


def _load_pyfunc(model_path: str, model_config: dict[str, Any] | None = None):
    """Loader entry point (``loader_module: mltrail.pyfunc.model``)."""
    from mltrail.models.model import get_flavor_configuration

    conf = get_flavor_configuration(model_path, "python_function")
    return load_python_model(Path(model_path), conf, model_config)
