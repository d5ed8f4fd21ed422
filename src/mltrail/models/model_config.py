"""``ModelConfig``: the configuration a models-from-code file reads (MLflow's ``mlflow.models.ModelConfig``).

While a model file is run (at log time and at load time) the ``model_config``
given to ``log_model``/``load_model`` is in effect; outside that, the
``development_config`` (a dict or a YAML file) is used. A model logged without
``model_config`` that reads one fails at load, as in MLflow.

Example (in ``agent.py``)::

    config = ModelConfig(development_config="config.yml")
    temperature = config.get("temperature")
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from mltrail.exceptions import invalid

# None: not loading a model (use development_config); "": loading, no config given; else the config.
_current: list[Any] = [None]


@contextlib.contextmanager
def model_config_in_effect(config: str | dict[str, Any] | None) -> Iterator[None]:
    """Make ``config`` what ``ModelConfig()`` reads while a model file runs."""
    previous = _current[0]
    _current[0] = "" if config is None else config
    try:
        yield
    finally:
        _current[0] = previous


def _in_effect() -> Any:
    if _current[0] is not None:
        return _current[0]
    # An mltrail model file being loaded by mlflow: mlflow sets its own global.
    mlflow_config = sys.modules.get("mlflow.models.model_config")
    return getattr(mlflow_config, "__mlflow_model_config__", None) if mlflow_config is not None else None


class ModelConfig:
    """The model's configuration: a dict, or a YAML file's content.

    Example::

        ModelConfig(development_config={"k": "v"}).get("k")  # "v" (unless a logged config overrides it)
    """

    def __init__(self, *, development_config: str | dict[str, Any] | None = None) -> None:
        config = _in_effect()
        self.config = config if config is not None else development_config
        if not self.config:
            raise FileNotFoundError(
                "Config file is not provided which is needed to load the model. Please provide a valid path."
            )
        if not isinstance(self.config, dict) and not os.path.isfile(self.config):
            raise FileNotFoundError(f"Config file '{self.config}' not found.")

    def _read_config(self) -> dict[str, Any] | None:
        if isinstance(self.config, dict):
            return self.config
        import yaml

        with open(self.config, encoding="utf-8") as fh:
            try:
                return yaml.safe_load(fh)
            except yaml.YAMLError as err:
                raise invalid(f"Error parsing YAML file: {err}") from None

    def to_dict(self) -> dict[str, Any] | None:
        """The whole configuration."""
        return self._read_config()

    def get(self, key: str) -> Any:
        """One top-level value (``KeyError`` if absent)."""
        data = self._read_config()
        if data and key in data:
            return data[key]
        raise KeyError(f"Key '{key}' not found in configuration: {data}.")
