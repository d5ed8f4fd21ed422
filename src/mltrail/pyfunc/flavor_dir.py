"""What every framework flavor's ``save_model`` and loader share.

A flavor (``mltrail.sklearn``, ``xgboost``, ``lightgbm``, ``pytorch``, ``openai``,
``langchain``) writes its own data files and flavor section; the folder around them
is the same for all of them, and lives here::

    with new_model_dir(path, code_paths=code_paths, mlflow_model=mlflow_model, metadata=metadata) as new:
        booster.save_model(str(new.path / "model.ubj"))
        new.add_flavor("xgboost", data="model.ubj", xgb_version=xgb.__version__)
        new.finish(requirements, {"loader_module": "mlflow.xgboost", "data": "model.ubj"},
                   signature, input_example, predict=booster.predict)

The folder must be new or empty (MLflow refuses to overwrite a model), and a save
that fails half way removes it again, so no half-written model is left behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mltrail.models.model import Model, get_flavor_configuration
from mltrail.models.signature import infer_signature_by_scoring
from mltrail.pyfunc._api import finish_model, prepare_model_dir
from mltrail.pyfunc.model import add_code_folder, copy_code_paths


@dataclass
class NewModelDir:
    """A model folder being written: its path, its copied ``code`` folder and its MLmodel."""

    path: Path
    code_dir: str | None
    model: Model

    def add_flavor(self, name: str, **conf: Any) -> None:
        """Record the flavor's section in MLmodel (with the ``code`` folder, as MLflow does)."""
        self.model.add_flavor(name, **conf, code=self.code_dir)

    def finish(
        self,
        requirements: list[str],
        pyfunc_conf: dict[str, Any] | None,
        signature: Any,
        input_example: Any,
        predict: Callable[[Any], Any] | None = None,
    ) -> Model:
        """Write the input example, environment files and MLmodel.

        ``pyfunc_conf`` is the ``python_function`` section (None: the model has none);
        its ``code`` entry is added here. Without a ``signature``, one is inferred by
        scoring the input example with ``predict`` when given, else from the example alone.
        """
        if pyfunc_conf is not None and self.code_dir:
            pyfunc_conf = {**pyfunc_conf, "code": self.code_dir}
        if signature is None and input_example is not None and predict is not None:
            signature = infer_signature_by_scoring(input_example, predict)
        return finish_model(self.path, self.model, signature, input_example, requirements, pyfunc_conf)


@contextmanager
def new_model_dir(
    path: str | os.PathLike,
    *,
    code_paths: list[str] | None,
    mlflow_model: Model | None,
    metadata: dict[str, Any] | None,
) -> Iterator[NewModelDir]:
    """A new model folder at ``path``, with ``code_paths`` copied in; removed if the block fails."""
    folder = prepare_model_dir(path)
    try:
        model = mlflow_model or Model()
        if metadata:
            model.metadata = metadata
        yield NewModelDir(folder, copy_code_paths(code_paths, folder), model)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def flavor_conf(local: Path, flavor: str) -> dict[str, Any]:
    """The flavor's MLmodel section of the model at ``local``, with its code folder importable."""
    conf = get_flavor_configuration(local, flavor)
    if conf.get("code"):
        add_code_folder(local / conf["code"])
    return conf


def model_folder(path: str | os.PathLike) -> Path:
    """The model folder a pyfunc loader is given: the folder itself or its data file."""
    local = Path(path)
    return local.parent if local.is_file() else local


class RawModelWrapper:
    """The pyfunc of a framework model: ``predict`` calls ``predict_fn(data, **params)``."""

    def __init__(self, raw_model: Any, predict_fn: Callable[..., Any] | None = None) -> None:
        self.raw_model = raw_model
        self._predict = predict_fn or raw_model.predict

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """The model's prediction for ``data``; ``params`` go to the framework's predict."""
        return self._predict(data, **(params or {}))

    def get_raw_model(self) -> Any:
        """The framework model itself (MLflow's ``unwrap_python_model`` reaches it this way)."""
        return self.raw_model
