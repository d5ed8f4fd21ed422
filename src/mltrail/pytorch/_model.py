"""The ``pytorch`` model flavor: save, log and load ``torch.nn.Module`` models (MLflow's layout).

A model directory holds ``data/model.pth`` (``torch.save`` of the whole module,
pickled with cloudpickle) and ``data/pickle_module_info.txt`` naming the pickle
module, plus an ``MLmodel`` with a ``pytorch`` flavor and a ``python_function``
flavor whose ``loader_module`` is ``mlflow.pytorch``, so MLflow and mltrail load
each other's models. torch is imported only inside these functions.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid

FLAVOR_NAME = "pytorch"
_MODEL_DATA_SUBPATH = "data"
_MODEL_FILE = "model.pth"
_EXPORTED_MODEL_FILE = "model.pt2"
_PICKLE_MODULE_INFO_FILE = "pickle_module_info.txt"
# The name written into saved models (MLflow's), and the module each name loads with here.
_DEFAULT_PICKLE_MODULE_NAME = "mlflow.pytorch.pickle_module"
_PICKLE_MODULE_ALIASES = {
    "mlflow.pytorch.pickle_module": "mltrail.pytorch.pickle_module",
    "mltrail.pytorch.pickle_module": "mltrail.pytorch.pickle_module",
}


def get_default_pip_requirements() -> list[str]:
    """What a saved PyTorch model needs at least: torch and cloudpickle, pinned."""
    from mltrail.models.requirements import pinned

    return [pinned("torch"), pinned("cloudpickle")]


def _pickle_module(name: str) -> Any:
    return importlib.import_module(_PICKLE_MODULE_ALIASES.get(name, name))


def save_model(
    pytorch_model: Any,
    path: str | os.PathLike,
    conda_env: Any = None,
    mlflow_model: Any = None,
    code_paths: list[str] | None = None,
    pickle_module: Any = None,
    signature: Any = None,
    input_example: Any = None,
    extra_files: list[str] | None = None,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    export_model: bool = False,
    serialization_format: str | None = None,
    **kwargs: Any,
) -> None:
    """Save a ``torch.nn.Module`` as a model directory at ``path``.

    ``kwargs`` go to ``torch.save``. Only the ``"pickle"`` serialization format is
    supported (MLflow's default for eager models).

    Example::

        mltrail.pytorch.save_model(net, "my_model", input_example=np.zeros((2, 4), "float32"))
    """
    import torch

    from mltrail.models.requirements import infer_requirements, resolve_requirements
    from mltrail.pyfunc.flavor_dir import new_model_dir

    if serialization_format not in (None, "pickle"):
        raise invalid(
            f"serialization_format={serialization_format!r} is not supported by mltrail.pytorch; "
            "use 'pickle' (the default)"
        )
    if export_model:
        raise invalid("export_model=True (torch.export) is not supported by mltrail.pytorch")
    if not isinstance(pytorch_model, torch.nn.Module):
        raise invalid(f"pytorch_model must be a torch.nn.Module, got {type(pytorch_model).__name__}")
    if pickle_module is None:
        pickle_module = _pickle_module(_DEFAULT_PICKLE_MODULE_NAME)
        pickle_name = _DEFAULT_PICKLE_MODULE_NAME
    else:
        pickle_name = pickle_module.__name__
        if pickle_name == "mltrail.pytorch.pickle_module":
            pickle_name = _DEFAULT_PICKLE_MODULE_NAME  # the same module under MLflow's name
    with new_model_dir(path, code_paths=code_paths, mlflow_model=mlflow_model, metadata=metadata) as new:
        data_dir = new.path / _MODEL_DATA_SUBPATH
        data_dir.mkdir()
        (data_dir / _PICKLE_MODULE_INFO_FILE).write_text(pickle_name, encoding="utf-8")
        if isinstance(pytorch_model, torch.jit.ScriptModule):
            torch.jit.save(pytorch_model, str(data_dir / _MODEL_FILE))
        else:
            torch.save(pytorch_model, str(data_dir / _MODEL_FILE), pickle_module=pickle_module, **kwargs)
        extra_conf = _copy_extra_files(extra_files, new.path)
        new.add_flavor(
            FLAVOR_NAME,
            model_data=_MODEL_DATA_SUBPATH,
            pytorch_version=str(torch.__version__),
            **extra_conf,
        )
        reqs = resolve_requirements(
            [
                _without_local_version(r)
                for r in infer_requirements([pytorch_model], base=["torch", "cloudpickle"])
            ],
            pip_requirements,
            extra_pip_requirements,
        )
        pyfunc_conf: dict[str, Any] = {
            "loader_module": "mlflow.pytorch",
            "data": _MODEL_DATA_SUBPATH,
            "pickle_module_name": pickle_name,
            "model_config": {"device": None},
        }
        if signature is None and input_example is not None:
            signature = _infer_with_output(pytorch_model, input_example)
        new.finish(reqs, pyfunc_conf, signature, input_example)


def _without_local_version(requirement: str) -> str:
    """``torch==2.13.0+cpu`` -> ``torch==2.13.0``: a local version label is not installable from PyPI
    (MLflow drops it too)."""
    name, sep, version = requirement.partition("==")
    return f"{name}=={version.split('+', 1)[0]}" if sep else requirement


def _copy_extra_files(extra_files: list[str] | None, path: Path) -> dict[str, Any]:
    """Copy ``extra_files`` under ``extra_files/`` and describe them as MLflow's flavor does."""
    if not extra_files:
        return {}
    import shutil

    target = path / "extra_files"
    target.mkdir()
    listed = []
    for name in extra_files:
        src = Path(name)
        if not src.is_file():
            raise invalid(f"extra_files entry '{name}' is not a file")
        shutil.copy2(src, target / src.name)
        listed.append({"path": f"extra_files/{src.name}"})
    return {"extra_files": listed}


def _as_tensor(example: Any) -> Any:
    import numpy as np
    import torch

    if isinstance(example, torch.Tensor):
        return example
    if hasattr(example, "to_numpy"):  # pandas DataFrame/Series
        example = example.to_numpy(dtype=np.float32)
    return torch.from_numpy(np.asarray(example))


def _infer_with_output(pytorch_model: Any, example: Any) -> Any:
    """MLflow scores the input example to infer the output schema; so do we (on CPU, no grad)."""
    import torch

    from mltrail.models.signature import infer_signature

    try:
        with torch.no_grad():
            output = pytorch_model(_as_tensor(example))
        if isinstance(output, torch.Tensor):
            return infer_signature(example, output.detach().cpu().numpy())
        return infer_signature(example)
    except Exception:  # a model that cannot score the example still saves, without a signature
        return None


def log_model(
    pytorch_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    pickle_module: Any = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    extra_files: list[str] | None = None,
    pip_requirements: str | list[str] | None = None,
    extra_pip_requirements: str | list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
    export_model: bool = False,
    serialization_format: str | None = None,
    **kwargs: Any,
):
    """Log a ``torch.nn.Module`` to the active run (or a new one) as ``name`` (default ``model``).

    Example::

        with mltrail.start_run():
            info = mltrail.pytorch.log_model(net, name="model")
        net2 = mltrail.pytorch.load_model(info.model_uri)
    """
    from mltrail.models.logging import log_model_with

    kwargs.pop("model_id", None)  # MLflow 3 passes a pre-created logged-model id; ours makes one
    return log_model_with(
        lambda path, mlflow_model, **kw: save_model(pytorch_model, path, mlflow_model=mlflow_model, **kw),
        name=name or artifact_path,
        registered_model_name=registered_model_name,
        await_registration_for=await_registration_for,
        code_paths=code_paths,
        pickle_module=pickle_module,
        signature=signature,
        input_example=input_example,
        extra_files=extra_files,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        export_model=export_model,
        serialization_format=serialization_format,
        **kwargs,
    )


def _load_from_data_dir(data_dir: Path, device: str | None = None, **kwargs: Any) -> Any:
    """``torch.load`` the module in a flavor's ``data`` directory (or a bare ``.pth`` file)."""
    import torch

    if data_dir.is_dir():
        model_file = data_dir / _MODEL_FILE
        if not model_file.exists() and (data_dir / _EXPORTED_MODEL_FILE).exists():
            module = torch.export.load(str(data_dir / _EXPORTED_MODEL_FILE)).module()
            return module
        info = data_dir / _PICKLE_MODULE_INFO_FILE
        if "pickle_module" not in kwargs and info.is_file():
            name = info.read_text(encoding="utf-8").strip()
            try:
                kwargs["pickle_module"] = _pickle_module(name)
            except ImportError as err:
                raise invalid(f"Cannot import the pickle module the model was saved with: '{name}'") from err
    else:
        model_file = data_dir
    kwargs.setdefault("weights_only", False)  # a whole pickled module, not a state dict
    if device is not None:
        kwargs.setdefault("map_location", device)
    try:
        model = torch.load(str(model_file), **kwargs)
    except RuntimeError:
        # TorchScript archives are zip files torch.load refuses; they load with torch.jit.
        model = torch.jit.load(str(model_file), map_location=device)
    model.eval()
    return model


def load_model(model_uri: str, dst_path: str | None = None, **kwargs: Any) -> Any:
    """The ``torch.nn.Module`` saved at ``model_uri`` (in eval mode); ``kwargs`` go to ``torch.load``.

    Example::

        net = mltrail.pytorch.load_model(f"runs:/{run_id}/model")
    """
    from mltrail.models.download import download_model
    from mltrail.pyfunc.flavor_dir import flavor_conf

    local = download_model(str(model_uri), dst_path=dst_path)
    conf = flavor_conf(local, FLAVOR_NAME)
    return _load_from_data_dir(local / conf.get("model_data", _MODEL_DATA_SUBPATH), **kwargs)


class _PyTorchWrapper:
    """pyfunc view of a module: DataFrame/ndarray -> tensor -> model -> DataFrame/ndarray."""

    def __init__(self, pytorch_model: Any, device: str) -> None:
        self.pytorch_model = pytorch_model
        self.device = device

    def get_raw_model(self) -> Any:
        return self.pytorch_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd
        import torch

        if isinstance(data, pd.DataFrame):
            array = data.to_numpy(dtype=np.float32)
        elif isinstance(data, np.ndarray):
            array = data
        elif isinstance(data, list | dict):
            raise TypeError(
                "The PyTorch flavor does not support List or Dict input types. "
                "Please use a pandas.DataFrame or a numpy.ndarray"
            )
        else:
            raise TypeError("Input data should be pandas.DataFrame or numpy.ndarray")
        if not array.flags.writeable:  # read-only (pandas copy-on-write views): torch wants writable memory
            array = array.copy()
        with torch.no_grad():
            preds = self.pytorch_model(torch.from_numpy(array).to(self.device), **(params or {}))
        if not isinstance(preds, torch.Tensor):
            raise TypeError(
                f"Expected PyTorch model to output a single output tensor, but got output of type '{type(preds)}'"
            )
        out = preds.to("cpu").numpy()
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(out, index=data.index)
        return out


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _PyTorchWrapper:
    """Loader entry point for ``loader_module: mlflow.pytorch`` (``path`` is the ``data`` dir)."""
    import torch

    device = (model_config or {}).get("device") or os.environ.get("MLFLOW_DEFAULT_PREDICTION_DEVICE")
    if not device:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return _PyTorchWrapper(_load_from_data_dir(Path(path), device=device), device)
