"""The OpenAI model flavor (MLflow's ``mlflow.openai.save_model`` / ``log_model`` / ``load_model``).

A model is an OpenAI model name, a task (``"chat.completions"``, ``"completions"``,
``"embeddings"`` or the client's resource, e.g. ``openai.chat.completions``) and
the request's other arguments (``messages`` with ``{placeholders}``,
``temperature`` …), written to ``model.yaml``. No credentials are saved: the
loaded model calls the API with ``OPENAI_API_KEY`` (and ``OPENAI_BASE_URL``, or
MLflow's ``OPENAI_API_BASE``) from the environment. The layout, flavor fields and
signature are MLflow's, so the official mlflow loads these models and mltrail
loads mlflow's.

Example::

    info = mltrail.openai.log_model(
        model="gpt-4o-mini", task=openai.chat.completions, name="qa",
        messages=[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "{question}"}],
    )
    mltrail.pyfunc.load_model(info.model_uri).predict(pd.DataFrame({"question": ["What is MLflow?"]}))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid
from mltrail.openai._pyfunc import OpenAIModelWrapper
from mltrail.openai._templates import PYFUNC_TASKS, template_variables

FLAVOR_NAME = "openai"
MODEL_FILENAME = "model.yaml"
_RESOURCE_TASKS = {  # openai.resources class -> task name
    ("openai.resources.chat.completions", "Completions"): "chat.completions",
    ("openai.resources.completions", "Completions"): "completions",
    ("openai.resources.embeddings", "Embeddings"): "embeddings",
    ("openai.resources.audio", "Audio"): "audio",
    ("openai.resources.images", "Images"): "images",
    ("openai.resources.moderations", "Moderations"): "moderations",
    ("openai.resources.files", "Files"): "files",
}
_TASKS = (*PYFUNC_TASKS, "audio", "images", "moderations", "files", "fine_tuning", "images.edit")


def task_name(task: Any) -> str:
    """``task`` as MLflow's task string (a string, or one of the openai client's resources)."""
    if isinstance(task, str):
        if task not in _TASKS:
            raise invalid(f"Unsupported task: {task}")
        return task
    cls = task if isinstance(task, type) else type(task)
    if cls.__module__.startswith("openai._module_client"):  # openai.chat.completions: a lazy proxy
        cls = type(task.__load__()) if hasattr(task, "__load__") else cls
    for (mod, name), value in _RESOURCE_TASKS.items():
        if cls.__name__ == name and (cls.__module__ == mod or cls.__module__.startswith(mod + ".")):
            return value
    raise invalid(f"Unsupported task object: {task}")


def _signature(task: str, kwargs: dict[str, Any]) -> Any:
    from mltrail.models.signature import ColSpec, ModelSignature, Schema, TensorSpec

    if task == "embeddings":
        return ModelSignature(Schema([ColSpec("string")]), Schema([TensorSpec("float64", (-1,))]))
    template = kwargs.get("messages") if task == "chat.completions" else kwargs.get("prompt")
    names = template_variables(task, template) if template else []
    inputs = Schema([ColSpec("string", n) for n in names]) if len(names) > 1 else Schema([ColSpec("string")])
    return ModelSignature(inputs, Schema([ColSpec("string")]))


def _check_messages(messages: Any) -> None:
    if messages and not (
        isinstance(messages, list)
        and all(isinstance(m, dict) and "role" in m and "content" in m for m in messages)
    ):
        raise invalid(
            "If `messages` is provided, it must be a list of dictionaries with keys 'role' and 'content'."
        )


def save_model(
    model: str,
    task: Any,
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
    """Save an OpenAI model (name, task and request arguments) as a model directory."""
    import yaml

    from mltrail.models.requirements import infer_requirements, resolve_requirements
    from mltrail.pyfunc.flavor_dir import new_model_dir

    if not isinstance(model, str) or not model:
        raise invalid(
            f"Unsupported model type: {type(model).__name__} (pass the model name, e.g. 'gpt-4o-mini')"
        )
    task = task_name(task)
    if task == "chat.completions":
        _check_messages(kwargs.get("messages"))
    with new_model_dir(path, code_paths=code_paths, mlflow_model=mlflow_model, metadata=metadata) as new:
        if signature is None:
            signature = _signature(task, kwargs)
        with open(new.path / MODEL_FILENAME, "w", encoding="utf-8") as fh:
            yaml.safe_dump({"model": model, "task": task, **kwargs}, fh)
        new.add_flavor(FLAVOR_NAME, openai_version=_openai_version(), data=MODEL_FILENAME)
        reqs = resolve_requirements(
            infer_requirements([], base=["openai"]), pip_requirements, extra_pip_requirements
        )
        pyfunc_conf = (
            {"loader_module": "mlflow.openai", "data": MODEL_FILENAME} if task in PYFUNC_TASKS else None
        )
        new.finish(reqs, pyfunc_conf, signature, input_example)


def _openai_version() -> str:
    from importlib.metadata import version

    return version("openai")


def log_model(
    model: str,
    task: Any,
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
    """Log an OpenAI model to the active run (``name`` or ``artifact_path``); ``kwargs`` go to the request."""
    from mltrail.models.logging import log_model_with

    task = task_name(task)
    return log_model_with(
        lambda path, mlflow_model, **kw: save_model(model, task, path, mlflow_model=mlflow_model, **kw),
        name=name or artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        code_paths=code_paths,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        **kwargs,
    )


def _read(data_file: Path) -> dict[str, Any]:
    import yaml

    with open(data_file, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict) or "model" not in data or "task" not in data:
        raise invalid(f"'{data_file.name}' is not an OpenAI model file (it needs 'model' and 'task')")
    return data


def load_model(model_uri: str, dst_path: str | None = None) -> dict[str, Any]:
    """The saved model as a dict: ``{"model": ..., "task": ..., **request arguments}``."""
    from mltrail.models.download import download_model
    from mltrail.models.model import get_flavor_configuration

    local = download_model(str(model_uri), dst_path=dst_path)
    conf = get_flavor_configuration(local, FLAVOR_NAME)
    return _read(local / conf.get("data", MODEL_FILENAME))


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> Any:
    """Loader entry point for ``loader_module: mlflow.openai`` (``path`` is ``model.yaml``)."""
    p = Path(path)
    return OpenAIModelWrapper(_read(p if p.is_file() else p / MODEL_FILENAME))
