"""The LangChain model flavor: ``save_model`` / ``log_model`` / ``load_model`` from code (MLflow's layout).

LangChain 1.x chains are saved as *models from code*, as MLflow 3.17 requires: the
``lc_model`` argument is the path of a Python file that builds the chain and calls
``mltrail.models.set_model(chain)`` (or ``mlflow.models.set_model``). The file is
run once when saving (to check it and infer the signature from an input example)
and again on every load. The ``MLmodel`` has MLflow's ``langchain`` flavor and a
``python_function`` flavor with ``loader_module: mlflow.langchain``, so the
official mlflow loads what is saved here and mltrail loads mlflow's.

Example::

    # chain.py
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI
    import mltrail
    mltrail.models.set_model(ChatPromptTemplate.from_template("Tell me about {topic}") | ChatOpenAI())

    info = mltrail.langchain.log_model(lc_model="chain.py", name="chain",
                                       input_example={"topic": "MLflow"})
    mltrail.pyfunc.load_model(info.model_uri).predict({"topic": "tracing"})
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid
from mltrail.langchain._pyfunc import LangChainModelWrapper

FLAVOR_NAME = "langchain"
_LOADER = "mlflow.langchain"


def _versions() -> tuple[str, int]:
    """The version recorded as ``langchain_version``, and langchain-core's major version."""
    from importlib.metadata import PackageNotFoundError, version

    core = version("langchain-core")
    try:
        recorded = version("langchain")
    except PackageNotFoundError:
        recorded = core
    return recorded, int(core.split(".")[0])


def _code_requirements(code_file: Path) -> list[str]:
    """The pinned distributions the code file imports (``langchain_openai`` -> ``langchain-openai==…``)."""
    from mltrail.models.requirements import modules_to_requirements

    modules: set[str] = set()
    try:
        tree = ast.parse(code_file.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError) as err:
        raise invalid(f"The LangChain code file '{code_file.name}' cannot be parsed: {err}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    modules -= {"mltrail", "mlflow"}
    return modules_to_requirements(modules)


def save_model(
    lc_model: str | os.PathLike,
    path: str | os.PathLike,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Any = None,
    signature: Any = None,
    input_example: Any = None,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    loader_fn: Any = None,
    persist_dir: Any = None,
    model_config: str | dict[str, Any] | None = None,
    streamable: bool | None = None,
    **kwargs: Any,
) -> None:
    """Save the LangChain chain built by the code file ``lc_model`` as a model directory."""
    from mltrail.models.requirements import infer_requirements, resolve_requirements
    from mltrail.pyfunc.flavor_dir import new_model_dir
    from mltrail.pyfunc.model import add_code_folder, load_model_from_code

    recorded_version, core_major = _versions()
    if not isinstance(lc_model, str | os.PathLike):
        raise invalid(
            "LangChain v1 onward only supports models-from-code, i.e., the 'lc_model' argument value must be "
            "a path containing the `LangChain` model code (a file that calls mltrail.models.set_model(chain))."
            if core_major >= 1
            else "Pass `lc_model` as the path of a Python file that builds the chain and calls "
            "mltrail.models.set_model(chain): pickled chains are not saved by mltrail."
        )
    code_file = Path(lc_model)
    if not code_file.is_file():
        raise invalid(f"The LangChain code file '{lc_model}' does not exist")
    with new_model_dir(path, code_paths=code_paths, mlflow_model=mlflow_model, metadata=metadata) as new:
        if new.code_dir:
            add_code_folder(new.path / new.code_dir)
        shutil.copy2(code_file, new.path / code_file.name)
        config = _config_dict(model_config)
        chain = load_model_from_code(code_file, config)
        if not hasattr(chain, "invoke"):
            raise invalid(
                f"The code file '{code_file.name}' set a {type(chain).__name__} as the model; a LangChain "
                "Runnable (with invoke) is expected"
            )
        if streamable is None:
            streamable = hasattr(chain, "stream")
        new.add_flavor(FLAVOR_NAME, langchain_version=recorded_version, streamable=streamable)
        base = ["langchain-core"] + (["langchain"] if recorded_version != _core_version() else [])
        inferred = infer_requirements([], base=base)
        for req in _code_requirements(code_file):
            if req.split("==")[0].lower() not in {r.split("==")[0].lower() for r in inferred}:
                inferred.append(req)
        reqs = resolve_requirements(inferred, pip_requirements, extra_pip_requirements)
        pyfunc_conf: dict[str, Any] = {
            "loader_module": _LOADER,
            "predict_stream_fn": "predict_stream",
            "streamable": streamable,
            "model_code_path": code_file.name,
        }
        if config:
            pyfunc_conf["model_config"] = config
        new.finish(reqs, pyfunc_conf, signature, input_example, predict=LangChainModelWrapper(chain).predict)


def _core_version() -> str:
    from importlib.metadata import version

    return version("langchain-core")


def _config_dict(model_config: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """``model_config`` as a dict (a YAML/JSON file path is read)."""
    if model_config is None or isinstance(model_config, dict):
        return model_config
    p = Path(model_config)
    if not p.is_file():
        raise invalid(f"model_config file '{model_config}' does not exist")
    import yaml

    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise invalid(f"model_config file '{model_config}' must hold a mapping")
    return data


def log_model(
    lc_model: str | os.PathLike,
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
    loader_fn: Any = None,
    persist_dir: Any = None,
    model_config: str | dict[str, Any] | None = None,
    streamable: bool | None = None,
    name: str | None = None,
    **kwargs: Any,
):
    """Log the chain of the code file ``lc_model`` to the active run (``name`` or ``artifact_path``)."""
    from mltrail.models.logging import log_model_with

    return log_model_with(
        lambda path, mlflow_model, **kw: save_model(lc_model, path, mlflow_model=mlflow_model, **kw),
        name=name or artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        model_config=model_config,
        streamable=streamable,
    )


def _load_chain(local: Path, model_config: dict[str, Any] | None = None) -> Any:
    from mltrail.models.model import get_flavor_configuration
    from mltrail.pyfunc.model import add_code_folder, load_model_from_code

    flavor = get_flavor_configuration(local, FLAVOR_NAME)
    pyfunc_conf = get_flavor_configuration(local, "python_function")
    code = pyfunc_conf.get("code") or flavor.get("code")
    if code:
        add_code_folder(local / code)
    code_path = pyfunc_conf.get("model_code_path") or flavor.get("model_code_path")
    if not code_path:
        raise invalid(
            "This LangChain model was saved as a pickle (LangChain < 1), which mltrail does not load: "
            "save it from code (lc_model='chain.py')"
        )
    saved = pyfunc_conf.get("model_config", flavor.get("model_config"))
    if isinstance(saved, str):
        saved = _config_dict(str(local / Path(saved).name))
    config = {**(saved or {}), **(model_config or {})} or None
    return load_model_from_code(local / Path(code_path).name, config)


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """The LangChain Runnable saved at ``model_uri`` (its code file is run again)."""
    from mltrail.models.download import download_model

    return _load_chain(download_model(str(model_uri), dst_path=dst_path))


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> Any:
    """Loader entry point for ``loader_module: mlflow.langchain``."""
    return LangChainModelWrapper(_load_chain(Path(path), model_config))
