"""``mltrail.pyfunc.save_model`` / ``log_model`` / ``load_model`` with MLflow's arguments."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from mltrail.exceptions import RESOURCE_ALREADY_EXISTS, MltrailException, invalid
from mltrail.models.download import download_model
from mltrail.models.input_example import save_input_example
from mltrail.models.model import MLMODEL_FILE_NAME, Model, directory_size
from mltrail.models.requirements import infer_requirements, pinned, resolve_requirements, write_environment
from mltrail.models.signature import ModelSignature, infer_signature
from mltrail.pyfunc.loaders._saving import agent_plan
from mltrail.pyfunc.model import LOADER_MODULE, add_code_folder, save_python_model
from mltrail.pyfunc.pyfunc_model import PyFuncModel
from mltrail.pyfunc.signature import signature_for_python_model

FLAVOR_NAME = "python_function"

# mlflow's loader modules and ours: each maps to the mltrail module that loads it.
_LOADERS = {
    "mlflow.pyfunc.model": "mltrail.pyfunc.model",
    # mlflow's models-from-code loader: ours picks the agent, chat or python-model wrapper.
    "mlflow.pyfunc.loaders.code_model": "mltrail.pyfunc.loaders.code_model",
    "mltrail.pyfunc.model": "mltrail.pyfunc.model",
    "mlflow.sklearn": "mltrail.sklearn",
    "mltrail.sklearn": "mltrail.sklearn",
}


def prepare_model_dir(path: str | os.PathLike) -> Path:
    """An empty directory for a new model (MLflow refuses to overwrite an existing one)."""
    p = Path(path)
    if p.exists() and any(p.iterdir()):
        raise MltrailException(
            f"Path '{p}' already exists and is not empty", error_code=RESOURCE_ALREADY_EXISTS
        )
    p.mkdir(parents=True, exist_ok=True)
    return p


def finish_model(
    path: Path,
    mlflow_model: Model,
    signature: ModelSignature | None,
    input_example: Any,
    requirements: list[str],
    pyfunc_conf: dict[str, Any] | None,
) -> Model:
    """Write input example, environment files and MLmodel — the steps every flavor shares."""
    if input_example is not None:
        mlflow_model.saved_input_example_info = save_input_example(path, input_example)
        if signature is None:
            try:
                signature = infer_signature(input_example)
            except MltrailException:
                signature = None
    if signature is not None:
        mlflow_model.signature = signature
    env = write_environment(path, requirements)
    if pyfunc_conf is not None:
        py = ".".join(map(str, sys.version_info[:3]))
        mlflow_model.add_flavor(FLAVOR_NAME, **pyfunc_conf, env=env, python_version=py)
    mlflow_model.model_size_bytes = directory_size(path)
    mlflow_model.save(path / MLMODEL_FILE_NAME)
    return mlflow_model


def save_model(
    path: str | os.PathLike,
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: list[str] | None = None,
    infer_code_paths: bool = False,
    conda_env: Any = None,
    mlflow_model: Model | None = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    code_path: list[str] | None = None,
    **kwargs: Any,
) -> None:
    """Save a ``PythonModel`` (or a models-from-code file) as an MLflow-format model directory.

    Example::

        mltrail.pyfunc.save_model("my_model", python_model=MyModel(), input_example=df)
    """
    if python_model is None:
        raise invalid("save_model needs `python_model` (a PythonModel instance or a path to a .py file)")
    if loader_module is not None or data_path is not None:
        raise invalid("Custom `loader_module`/`data_path` models are not supported: pass `python_model`")
    code_paths = code_paths if code_paths is not None else code_path
    path = prepare_model_dir(path)
    try:
        conf = save_python_model(path, python_model, artifacts, code_paths)
        conf["loader_module"] = LOADER_MODULE
        conf["streamable"] = False
        if model_config:
            conf["config"] = model_config  # MLflow's key (mlflow.models.model.MODEL_CONFIG)
        model = mlflow_model or Model()
        if metadata:
            model.metadata = metadata
        code_obj = python_model if not isinstance(python_model, str | Path) else None
        code_dir = conf.get("code") and path / conf["code"]
        plan = agent_plan(python_model, signature, input_example, artifacts, model_config, code_dir)
        if plan is not None:  # ResponsesAgent, ChatAgent, ChatModel: MLflow's loader, signature and task
            conf["loader_module"], conf["streamable"] = plan.loader_module, plan.streamable
            signature, input_example = plan.signature, plan.input_example
            model.metadata = {**plan.metadata, **(model.metadata or {})}
        else:
            signature = signature_for_python_model(
                python_model, signature, input_example, artifacts, model_config, code_dir
            )
        inferred = infer_requirements([code_obj], base=["cloudpickle", "pandas", "numpy"])
        reqs = resolve_requirements(inferred, pip_requirements, extra_pip_requirements)
        finish_model(path, model, signature, input_example, reqs, conf)
    except BaseException:
        # Nothing half-written: a failed save leaves no model directory behind.
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        raise


def log_model(
    artifact_path: str | None = None,
    loader_module: str | None = None,
    data_path: str | None = None,
    code_paths: list[str] | None = None,
    infer_code_paths: bool = False,
    conda_env: Any = None,
    python_model: Any = None,
    artifacts: dict[str, str] | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    name: str | None = None,
    code_path: list[str] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    **kwargs: Any,
):
    """Log the model as a LoggedModel (of the active run, if any): its files are written once.

    ``name`` (MLflow 3) and ``artifact_path`` (MLflow 2, deprecated) are both accepted;
    ``params``, ``tags``, ``model_type``, ``step`` and ``model_id`` are MLflow 3's. Returns a
    :class:`~mltrail.models.ModelInfo` (``model_uri`` is ``models:/<model_id>``;
    ``runs:/<run_id>/<name>`` loads it too); ``registered_model_name`` also registers it.

    Example::

        info = mltrail.pyfunc.log_model(name="llm_model", python_model=LLMWrapper())
        info.model_uri  # "models:/m-…"
    """
    from mltrail.models.logging import log_model_with

    if name is not None and artifact_path is not None:
        raise invalid(
            "Both `artifact_path` (deprecated) and `name` parameters were specified. Please only specify `name`."
        )
    return log_model_with(
        save_model,
        name=name or artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        params=params,
        tags=tags,
        model_type=model_type,
        step=step,
        model_id=model_id,
        python_model=python_model,
        artifacts=artifacts,
        code_paths=code_paths if code_paths is not None else code_path,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        model_config=model_config,
    )


def _loader_for(name: str):
    target = _LOADERS.get(name)
    if target is None and name.startswith("mlflow."):
        candidate = "mltrail." + name[len("mlflow.") :]
        try:
            if importlib.util.find_spec(candidate) is not None:
                target = candidate
        except ModuleNotFoundError:  # a parent package we do not have: use mlflow's loader
            pass
    return importlib.import_module(target or name)


def load_model(
    model_uri: str,
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: dict[str, Any] | None = None,
) -> PyFuncModel:
    """Load any model with a ``python_function`` flavor from a path or URI.

    URIs: local paths, ``file://``, ``runs:/<id>/path``, ``models:/Name/1``,
    ``models:/Name@alias``, ``models:/Name/Production``, ``mlflow-artifacts:/…``.

    Example::

        model = mltrail.pyfunc.load_model("models:/MyLLMApp@champion")
    """
    local = download_model(str(model_uri), dst_path=dst_path)
    meta = Model.load(local)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise invalid(
            f"Model at '{model_uri}' has no '{FLAVOR_NAME}' flavor, so it cannot be loaded as pyfunc "
            f"(flavors: {', '.join(meta.flavors) or 'none'})"
        )
    if conf.get("code"):
        add_code_folder(local / conf["code"])
    loader = _loader_for(conf.get("loader_module", LOADER_MODULE))
    data_path = str(local / conf["data"]) if conf.get("data") else str(local)
    if model_config is not None:
        impl = loader._load_pyfunc(data_path, model_config=model_config)
    else:
        impl = loader._load_pyfunc(data_path)
    return PyFuncModel(meta, impl, str(local))


def get_model_dependencies(model_uri: str, format: str = "pip") -> str:
    """Path of the model's ``requirements.txt`` (``format="pip"``) or ``conda.yaml``."""
    local = download_model(model_uri)
    return str(local / ("requirements.txt" if format == "pip" else "conda.yaml"))


class EnvType:
    """The environment kinds a model's ``env`` config names (MLflow's ``mlflow.pyfunc.EnvType``)."""

    CONDA = "conda"
    VIRTUALENV = "virtualenv"


def add_to_model(
    model: Model,
    loader_module: str,
    data: str | None = None,
    code: str | None = None,
    conda_env: str | None = None,
    python_env: str | None = None,
    model_config: dict[str, Any] | None = None,
    model_code_path: str | None = None,
    **kwargs: Any,
) -> Model:
    """Add a ``python_function`` flavor to ``model`` (a custom flavor's ``save_model`` calls this).

    Example::

        mltrail.pyfunc.add_to_model(model, loader_module="my_flavor", data="model.pkl", conda_env="conda.yaml")
    """
    params: dict[str, Any] = dict(kwargs)
    params["loader_module"] = loader_module
    params["python_version"] = ".".join(map(str, sys.version_info[:3]))
    if code:
        params["code"] = code
    if data:
        params["data"] = data
    if conda_env or python_env:
        params["env"] = {}
        if conda_env:
            params["env"][EnvType.CONDA] = conda_env
        if python_env:
            params["env"][EnvType.VIRTUALENV] = python_env
    if model_config:
        params["config"] = model_config
    if model_code_path:
        params["model_code_path"] = model_code_path
    return model.add_flavor(FLAVOR_NAME, **params)


def get_default_pip_requirements() -> list[str]:
    """The pip requirements every ``PythonModel`` saved by this flavor gets (cloudpickle, pinned)."""
    return [pinned("cloudpickle")]


def get_default_conda_env() -> dict[str, Any]:
    """The conda environment of a ``PythonModel`` saved with no requirements of its own."""
    py = ".".join(map(str, sys.version_info[:3]))
    return {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={py}", "pip<=24.0", {"pip": ["mlflow", *get_default_pip_requirements()]}],
    }


def load_pyfunc(
    model_uri: str,
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: dict[str, Any] | None = None,
) -> PyFuncModel:
    """MLflow's deprecated name for :func:`load_model`."""
    return load_model(
        model_uri, suppress_warnings=suppress_warnings, dst_path=dst_path, model_config=model_config
    )
