"""What the agent base classes do to a subclass's ``predict``/``predict_stream``: trace and take dicts.

``ResponsesAgent``, ``ChatAgent`` and ``ChatModel`` wrap the methods a subclass
defines (in ``__init_subclass__``, as MLflow does):

* the call is traced as one span (``AGENT`` or ``CHAT_MODEL``); a stream's span
  lasts until the stream ends and records the events reduced to one response;
* a dict request is validated into the request class (a clear
  ``INVALID_PARAMETER_VALUE`` when it does not fit);
* when the official ``mlflow`` loaded the model and passes its own request
  objects, results go back as plain dicts, which mlflow's wrappers accept.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from mltrail.exceptions import invalid


def from_mlflow(obj: Any) -> bool:
    """Whether ``obj`` is one of the official mlflow's objects (mlflow loaded the model)."""
    return type(obj).__module__.startswith("mlflow.")


def plain(obj: Any) -> Any:
    """A pydantic object (or dataclass with ``to_dict``) as a plain dict without ``None`` fields."""
    if hasattr(obj, "model_dump"):
        return obj.model_dump(exclude_none=True)
    if hasattr(obj, "to_dict") and not isinstance(obj, dict):
        return obj.to_dict()
    return obj


def validate_request(request_cls: Any, value: Any, what: str) -> Any:
    """``value`` (a dict) as ``request_cls``; anything else is returned unchanged."""
    if not isinstance(value, dict):
        return value
    import pydantic

    try:
        return request_cls.model_validate(value)
    except pydantic.ValidationError as err:
        raise invalid(
            f"Invalid dictionary input for a {what}. Expected the {request_cls.__name__} schema: {err}"
        ) from None


def wrap_method(
    func: Callable[..., Any],
    *,
    span_type: str,
    reducer: Callable[[list[Any]], Any] | None,
    convert_input: Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any], bool]],
    stream: bool = False,
) -> Callable[..., Any]:
    """``func`` traced, with its arguments passed through ``convert_input`` first.

    ``convert_input(args, kwargs)`` returns the new arguments and whether the caller
    is the official mlflow (then results are returned as plain dicts).
    """
    from mltrail.tracing import trace

    if getattr(func, "__mltrail_agent_wrapped__", False):
        return func
    if stream and not inspect.isgeneratorfunction(func):
        # predict_stream may return an iterator instead of yielding: trace it as a stream all the same.
        original = func

        @functools.wraps(original)
        def func(*args: Any, **kwargs: Any) -> Any:
            yield from original(*args, **kwargs)

    if stream:
        traced = trace(func, span_type=span_type, output_reducer=reducer)

        @functools.wraps(func)
        def stream_wrapper(*args: Any, **kwargs: Any) -> Any:
            args, kwargs, foreign = convert_input(args, kwargs)
            for item in traced(*args, **kwargs):
                yield plain(item) if foreign else item

        wrapper: Callable[..., Any] = stream_wrapper
    else:
        traced = trace(func, span_type=span_type)

        @functools.wraps(func)
        def call_wrapper(*args: Any, **kwargs: Any) -> Any:
            args, kwargs, foreign = convert_input(args, kwargs)
            result = traced(*args, **kwargs)
            return plain(result) if foreign else result

        wrapper = call_wrapper
    wrapper.__mltrail_agent_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper
