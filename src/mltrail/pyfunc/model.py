"""``PythonModel``: custom Python models, saved with cloudpickle in MLflow's layout.

The directory written here is what ``mlflow.pyfunc.save_model`` writes: the
pickled model in ``python_model.pkl`` (or the source file for models-from-code),
``artifacts/`` with the files named in ``artifacts``, ``code/`` with
``code_paths``, and ``loader_module: mlflow.pyfunc.model`` — so mlflow loads
mltrail's models and mltrail (which maps ``mlflow.*`` loaders onto its own)
loads mlflow's.
"""

from __future__ import annotations

import functools
import inspect
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid
from mltrail.models.model import get_flavor_configuration
from mltrail.models.model_config import model_config_in_effect
from mltrail.types.type_hints import (
    TypeHints,
    context_in_predict,
    extract_type_hints,
    supported_input_hint,
    validate_model_input,
)

PYTHON_MODEL_FILE = "python_model.pkl"
ARTIFACTS_DIR = "artifacts"
CODE_DIR = "code"
MODEL_CODE_PATH = "model_code_path"
# mlflow's loader name: what we write so that mlflow can load our models.
LOADER_MODULE = "mlflow.pyfunc.model"


def _wrap_predict(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its input validated and converted against its type hint (MLflow's ``@pyfunc``).

    A ``predict`` without a usable hint is returned as is (marked, so it is not wrapped twice).
    """
    if getattr(func, "_is_pyfunc", False):
        return func
    found = supported_input_hint(func)
    if found is None:
        func._is_pyfunc = True  # type: ignore[attr-defined]
        return func
    hint, param = found
    index = _input_index(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if param in kwargs:
            kwargs[param] = validate_model_input(kwargs[param], hint)
        elif len(args) > index:
            args = (*args[:index], validate_model_input(args[index], hint), *args[index + 1 :])
        return func(*args, **kwargs)

    wrapper._is_pyfunc = True  # type: ignore[attr-defined]
    return wrapper


def _input_index(func: Callable[..., Any]) -> int:
    """The position of the model input among ``func``'s positional arguments (``self`` counted)."""
    params = list(inspect.signature(func).parameters)
    index = 1 if params and params[0] == "self" else 0
    return index + 1 if context_in_predict(func) else index


def pyfunc(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator (MLflow's ``mlflow.pyfunc.utils.pyfunc``): validate ``func``'s input against its type hint.

    Example::

        @pyfunc
        def predict(model_input: list[str]) -> list[str]:
            return [s.upper() for s in model_input]
    """
    return _wrap_predict(func)


class PythonModel:
    """Base class for custom models: override ``predict`` (and optionally ``load_context``).

    A type-hinted ``predict`` (``list[str]``, ``list[dict[str, Any]]``, ``list[MyPydanticModel]`` …)
    gives the model its signature and has its input validated and converted on every call, as
    in MLflow 3; lists and dicts reach it unchanged.

    Example::

        class Echo(PythonModel):
            def predict(self, model_input: list[str], params=None) -> list[str]:
                return model_input
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The classes mltrail and mlflow define themselves (ChatModel …) validate on their own.
        if cls.__module__.startswith(("mltrail.", "mlflow.")) or getattr(
            cls, "_skip_type_hint_validation", False
        ):
            return
        predict = cls.__dict__.get("predict")
        if predict is not None and callable(predict):
            cls.predict = _wrap_predict(predict)  # type: ignore[method-assign]

    def load_context(self, context: PythonModelContext) -> None:
        """Called once when the model is loaded: open artifacts, build clients."""

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        """Score ``model_input`` (a DataFrame, dict, list or numpy array)."""
        raise NotImplementedError("Subclasses of PythonModel must implement predict()")

    @property
    def predict_type_hints(self) -> TypeHints:
        """The input and return hints of ``predict`` (mlflow's pyfunc wrapper reads them too)."""
        cached = self.__dict__.get("_predict_type_hints")
        if cached is None:
            index = 1 if context_in_predict(self.predict) else 0
            cached = extract_type_hints(self.predict, index)
            self.__dict__["_predict_type_hints"] = cached
        return cached


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

    @property
    def predict_type_hints(self) -> TypeHints:
        return extract_type_hints(self.func, 0)

    def predict(
        self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None
    ) -> Any:
        func = self.__dict__.get("_validated")
        if func is None:
            func = self.__dict__["_validated"] = _wrap_predict(self.func)
        return func(model_input)

    def __getstate__(self) -> dict[str, Any]:
        return {"func": self.func}


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


def load_model_from_code(path: Path, model_config: str | dict[str, Any] | None = None) -> Any:
    """Run a models-from-code file and return the object it passed to ``set_model``.

    ``model_config`` is what ``ModelConfig()`` reads inside the file. A file written
    for mlflow (``mlflow.models.set_model``) works too.
    """
    import runpy

    _CURRENT_MODEL.clear()
    before = _mlflow_current_model()
    try:
        with model_config_in_effect(model_config):
            runpy.run_path(str(path), run_name="__mltrail_model__")
    except ImportError as err:
        raise invalid(f"Failed to import code model from {path}. Error: {err}") from err
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


def add_code_folder(folder: str | Path) -> None:
    """Put a model's ``code`` folder on ``sys.path`` (first, once), so its modules import."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


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
        add_code_folder(model_path / conf["code"])
    if MODEL_CODE_PATH in conf:
        python_model = load_model_from_code(
            model_path / Path(conf[MODEL_CODE_PATH]).name, model_config or _saved_config(conf)
        )
        if not _looks_like_python_model(python_model) and callable(python_model):
            python_model = _FunctionModel(python_model)
    else:
        import cloudpickle

        with open(model_path / conf.get("python_model", PYTHON_MODEL_FILE), "rb") as fh:
            python_model = cloudpickle.load(fh)
    artifacts = {name: str(model_path / a["path"]) for name, a in (conf.get("artifacts") or {}).items()}
    context = PythonModelContext(artifacts, model_config or _saved_config(conf))
    if hasattr(python_model, "load_context"):
        python_model.load_context(context)
    return _PythonModelImpl(python_model, context)


def _saved_config(conf: dict[str, Any]) -> Any:
    """The ``model_config`` saved in the flavor: MLflow's key ``config`` (older mltrail wrote ``model_config``)."""
    return conf.get("config") or conf.get("model_config")


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

    def _convert_input(self, model_input: Any) -> Any:
        """MLflow's conversion for ``list[str]`` models: a DataFrame gives its first string column."""
        pd = sys.modules.get("pandas")
        if pd is None or not isinstance(model_input, pd.DataFrame):
            return model_input
        hints = getattr(self.python_model, "predict_type_hints", None)
        if isinstance(hints, tuple) and hints and hints[0] == list[str]:
            for column in model_input.columns:
                if model_input[column].map(lambda v: isinstance(v, str)).all():
                    return model_input[column].tolist()
            raise invalid("Expected model input to contain at least one string column")
        return model_input

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        model_input = self._convert_input(model_input)
        args = [self.context, model_input] if self._takes_context else [model_input]
        if self._takes_params:
            return self.python_model.predict(*args, params=params)
        return self.python_model.predict(*args)

    def unwrap_python_model(self) -> Any:
        return self.python_model


def _load_pyfunc(model_path: str, model_config: dict[str, Any] | None = None):
    """Loader entry point (``loader_module: mltrail.pyfunc.model``)."""
    conf = get_flavor_configuration(model_path, "python_function")
    return load_python_model(Path(model_path), conf, model_config)
