"""What every agent/chat loader shares: load the python model, turn model input into a request dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid
from mltrail.models.model import get_flavor_configuration
from mltrail.pyfunc.model import load_python_model


def load_model_and_context(model_path: str, model_config: dict[str, Any] | None) -> tuple[Any, Any]:
    """The user's model object (``load_context`` already called) and its context."""
    conf = get_flavor_configuration(model_path, "python_function")
    impl = load_python_model(Path(model_path), conf, model_config)
    return impl.python_model, impl.context


def _listify(value: Any) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()
    if isinstance(value, list):
        return [_listify(v) for v in value]
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    return value


def request_dict(model_input: Any) -> dict[str, Any]:
    """A request as a dict: a dict as given, a one-row DataFrame as its row (numpy values as lists)."""
    if type(model_input).__name__ == "DataFrame":
        rows = model_input.to_dict(orient="records")
        if len(rows) != 1:
            raise invalid(f"An agent takes one request at a time; the DataFrame has {len(rows)} rows")
        model_input = rows[0]
    if hasattr(model_input, "model_dump"):
        model_input = model_input.model_dump(exclude_none=True)
    if not isinstance(model_input, dict):
        raise invalid(
            f"Unsupported model input type. Expected a dict or pandas.DataFrame, but got "
            f"{type(model_input).__name__} instead."
        )
    return {k: _listify(v) for k, v in model_input.items() if v is not None}


def as_dict(result: Any) -> Any:
    """A response object (pydantic model, MLflow dataclass) as a plain dict."""
    if hasattr(result, "model_dump"):
        return result.model_dump(exclude_none=True)
    if hasattr(result, "to_dict") and not isinstance(result, dict):
        return result.to_dict()
    return result


class AgentWrapper:
    """Base of the loaded-agent wrappers: the raw model and its context."""

    def __init__(self, model: Any, context: Any) -> None:
        self.model = model
        self.context = context

    def get_raw_model(self) -> Any:
        return self.model

    def unwrap_python_model(self) -> Any:
        return self.model
