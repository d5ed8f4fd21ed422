"""A loaded LangChain Runnable as a pyfunc model: ``invoke`` for one input, ``batch`` for many, ``stream``.

As MLflow's LangChain pyfunc wrapper: a dict or string is one input (the answer
is the chain's output), a list is a batch (a list of outputs), a DataFrame is a
batch of its rows; ``predict_stream`` streams one input's chunks. ``params`` are
passed to the Runnable as its ``config``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mltrail.exceptions import invalid


def _inputs(data: Any) -> tuple[Any, bool]:
    """``(input or inputs, is_batch)``."""
    if type(data).__name__ == "DataFrame":
        rows = data.to_dict(orient="records")
        if list(data.columns) == [0]:  # a single unnamed column: the values themselves
            rows = [r[0] for r in rows]
        return rows, True
    if isinstance(data, list):
        return data, True
    if hasattr(data, "tolist") and not isinstance(data, str | bytes):
        return data.tolist(), True
    return data, False


class LangChainModelWrapper:
    """``predict`` / ``predict_stream`` over a LangChain Runnable."""

    def __init__(self, chain: Any) -> None:
        self.chain = chain

    def get_raw_model(self) -> Any:
        return self.chain

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        inputs, batch = _inputs(data)
        config = params or None
        if batch:
            return self.chain.batch(inputs, config=config) if config else self.chain.batch(inputs)
        return self.chain.invoke(inputs, config=config) if config else self.chain.invoke(inputs)

    def predict_stream(self, data: Any, params: dict[str, Any] | None = None) -> Iterator[Any]:
        inputs, batch = _inputs(data)
        if batch:
            if len(inputs) != 1:
                raise invalid("predict_stream takes one input (a dict or a string), not a batch")
            inputs = inputs[0]
        return iter(self.chain.stream(inputs, config=params) if params else self.chain.stream(inputs))
