"""``/invocations`` for chat models and agents: request bodies as they are, answers unwrapped, SSE streams.

MLflow's scoring server takes a body with ``messages`` (chat), ``input``
(Responses agents, embeddings) or ``prompt`` (completions) as the model input
itself: the keys the signature declares as params become ``params``, the rest is
the request, and the prediction is returned as is, without ``{"predictions": ...}``.

When such a request says ``"stream": true`` and the model can stream
(``predict_stream``: a ``ResponsesAgent``, ``ChatAgent`` or ``ChatModel`` that
implements it), the answer is ``text/event-stream``: one ``data: <json>`` event per
stream event or chunk, as the OpenAI and Databricks serving endpoints send them; a
chat-completions stream ends with ``data: [DONE]``. An error before the first
event is an ordinary JSON error response; one after it is an ``event: error``.

Example::

    curl -N localhost:5001/invocations -H 'Content-Type: application/json' \\
      -d '{"input": [{"role": "user", "content": "Hi"}], "stream": true}'
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import StreamingResponse

from mltrail.exceptions import MltrailException
from mltrail.serving.parse import INPUT_KEYS, ServingError, to_jsonable

LLM_KEYS = ("messages", "input", "prompt")
_log = logging.getLogger("mltrail.serving")
_END = object()


def is_llm_request(body: Any) -> bool:
    """A chat/agent/completions body (MLflow's "unified LLM input"), not a dataframe/tensor one."""
    return (
        isinstance(body, dict) and any(k in body for k in LLM_KEYS) and not any(k in body for k in INPUT_KEYS)
    )


def split_llm_request(
    body: dict[str, Any], params_schema: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(request, params)``: the keys the signature declares as params go to ``params``."""
    names = {p.name for p in params_schema} if params_schema is not None else set()
    data = {k: v for k, v in body.items() if k not in names}
    params = {k: v for k, v in body.items() if k in names}
    return data, params or None


def wants_stream(body: dict[str, Any], model: Any) -> bool:
    """Whether to answer with server-sent events (the body asks, and the model can stream)."""
    if body.get("stream") is not True:
        return False
    flavor = model.metadata.flavors.get("python_function", {}) if hasattr(model, "metadata") else {}
    return bool(flavor.get("streamable")) and hasattr(model, "predict_stream")


def _event(payload: Any, encoder: msgspec.json.Encoder) -> bytes:
    return b"data: " + encoder.encode(to_jsonable(payload)) + b"\n\n"


async def stream_response(
    model: Any, data: dict[str, Any], params: dict[str, Any] | None, encoder: msgspec.json.Encoder
) -> StreamingResponse:
    """The model's ``predict_stream`` as ``text/event-stream`` (the first event is computed before answering)."""

    def start() -> tuple[Iterator[Any], Any]:
        it = model.predict_stream(data, params=params) if params else model.predict_stream(data)
        return it, next(it, _END)

    try:
        events, first = await run_in_threadpool(start)
    except (MltrailException, ServingError):
        raise
    except Exception as err:  # the model's own failure before any event: a normal error response
        _log.exception("model stream failed")
        raise ServingError(
            f"Encountered an unexpected error while evaluating the model. Error: {err}"
        ) from None
    chat = isinstance(first, dict) and first.get("object") == "chat.completion.chunk"

    async def body() -> AsyncIterator[bytes]:
        if first is _END:
            return
        yield _event(first, encoder)
        try:
            async for item in iterate_in_threadpool(events):
                yield _event(item, encoder)
        except Exception as err:  # the stream broke after it started: tell the client in-band
            _log.exception("model stream failed")
            code = err.error_code if isinstance(err, MltrailException) else "INTERNAL_ERROR"
            yield b"event: error\n" + _event({"error_code": code, "message": str(err)}, encoder)
            return
        if chat:
            yield b"data: [DONE]\n\n"

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
