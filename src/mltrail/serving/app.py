"""The scoring server: a lean Starlette app around one loaded pyfunc model.

Endpoints (MLflow's): ``GET /ping`` and ``GET /health`` (200 once the model is
loaded), ``GET /version``, ``POST /invocations``. JSON is decoded and encoded
with msgspec; there is no middleware on the hot path, which keeps a trivial
model well under 2 ms per request.

Example::

    app = create_scoring_app(mltrail.pyfunc.load_model("models:/MyLLMApp/1"))
    uvicorn.run(app, port=5001)
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import mltrail.pyfunc
from mltrail.exceptions import MltrailException
from mltrail.serving import llm
from mltrail.serving.dispatch import PredictDispatcher
from mltrail.serving.parse import ServingError, parse_csv_body, parse_json_body, to_jsonable
from mltrail.version import __version__

MODEL_PATH_ENV = "MLTRAIL_SERVING_MODEL_PATH"
MAX_BODY_ENV = "MLTRAIL_SERVING_MAX_BODY_BYTES"
DEFAULT_MAX_BODY = 100 * 1024 * 1024
# Seconds a prediction may take before the request is answered 504 (MLflow's --timeout, default 60).
TIMEOUT_ENV = "MLTRAIL_SCORING_SERVER_REQUEST_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
_log = logging.getLogger("mltrail.serving")
_JSON = "application/json"


def _enc_hook(obj: Any) -> Any:
    for base in (str, int, float):  # subclasses msgspec does not take (LangChain's text type, …)
        if isinstance(obj, base):
            return base(obj)
    if hasattr(obj, "model_dump"):  # pydantic objects: a chain's messages, an agent's responses
        return obj.model_dump(exclude_none=True)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"Cannot serialize {type(obj).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_decoder = msgspec.json.Decoder()


def _call(predict: Any, data: Any, params: dict[str, Any] | None) -> Any:
    return predict(data, params=params) if params else predict(data)


def _error(message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> Response:
    return Response(_encoder.encode({"error_code": error_code, "message": message}), status, media_type=_JSON)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ServingError(
            f"Request body of {declared} bytes is larger than the limit of {limit} bytes "
            f"(set {MAX_BODY_ENV} to change it)",
            status=413,
        )
    if declared is not None:
        return await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServingError(
                f"Request body is larger than the limit of {limit} bytes (set {MAX_BODY_ENV} to change it)",
                status=413,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def create_scoring_app(
    model: Any, max_body_bytes: int | None = None, timeout: float | None = None
) -> Starlette:
    """A Starlette app serving ``model`` (a :class:`~mltrail.pyfunc.PyFuncModel`).

    A prediction still running after ``timeout`` seconds (default: ``$MLTRAIL_SCORING_SERVER_REQUEST_TIMEOUT``
    or 60) is answered 504 ``DEADLINE_EXCEEDED``; its worker thread finishes on its own.
    """
    limit = max_body_bytes or int(os.environ.get(MAX_BODY_ENV) or DEFAULT_MAX_BODY)
    timeout = timeout or float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)

    try:
        # Import what request parsing needs now, not on the first request (a fresh env
        # without byte code can take seconds to import pandas).
        import numpy  # noqa: F401
        import pandas  # noqa: F401
    except ImportError:
        pass
    schema = model.metadata.get_input_schema() if hasattr(model, "metadata") else None
    column_schema = schema is not None and not schema.is_tensor_spec()
    params_schema = model.metadata.get_params_schema() if hasattr(model, "metadata") else None
    predict = model.predict
    dispatch = PredictDispatcher()

    async def ping(request: Request) -> Response:
        return Response("\n", 200, media_type=_JSON)

    async def version(request: Request) -> Response:
        return Response(__version__, 200, media_type="text/plain")

    async def invocations(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        unwrapped = False  # chat/agent requests are answered without {"predictions": ...} (serving/llm.py)
        try:
            raw = await _read_body(request, limit)
            if ctype == "text/csv":
                data, params = parse_csv_body(raw), None
            elif ctype in (_JSON, ""):
                try:
                    body = _decoder.decode(raw)
                except msgspec.DecodeError as err:
                    raise ServingError(f"Invalid JSON in the request body: {err}") from None
                if llm.is_llm_request(body):
                    data, params = llm.split_llm_request(body, params_schema)
                    if llm.wants_stream(body, model):
                        return await llm.stream_response(model, data, params, _encoder)
                    unwrapped = True
                else:
                    data, params = parse_json_body(body, column_schema)
            else:
                raise ServingError(
                    f"This predictor only supports the following content types: "
                    f"['text/csv', 'application/json']. Got '{ctype}'.",
                    status=415,
                )
            deadline = asyncio.timeout(timeout)
            try:
                # In a worker thread unless the model has proved fast (see serving/dispatch.py):
                # a model that waits on I/O (an LLM API) must not stop the event loop.
                async with deadline:
                    result = await dispatch(_call, predict, data, params)
            except (MltrailException, ServingError):
                raise
            except Exception as err:  # the model's own failure: report it like MLflow (400 + message)
                if deadline.expired():  # not a TimeoutError the model raised itself
                    raise ServingError(
                        f"Request processing time exceeded limit ({timeout:g} s)",
                        status=504,
                        error_code="DEADLINE_EXCEEDED",
                    ) from None
                _log.exception("model prediction failed")
                raise ServingError(
                    f"Encountered an unexpected error while evaluating the model. "
                    f"Verify that the input is compatible with the model. Error: {err}"
                ) from None
        except ServingError as err:
            return _error(err.message, err.status, err.error_code)
        except MltrailException as err:
            return _error(err.message, 400, err.error_code)
        try:
            payload = _encoder.encode(
                to_jsonable(result) if unwrapped else {"predictions": to_jsonable(result)}
            )
        except TypeError as err:
            return _error(
                f"The model's predictions could not be encoded as JSON: {err}", 500, "INTERNAL_ERROR"
            )
        return Response(payload, 200, media_type=_JSON)

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def app_from_env() -> Starlette:
    """App factory for ``uvicorn --factory`` workers: loads the model named by ``MLTRAIL_SERVING_MODEL_PATH``."""
    path = os.environ.get(MODEL_PATH_ENV)
    if not path:
        raise RuntimeError(
            f"{MODEL_PATH_ENV} is not set: start the server with `mltrail models serve -m URI`"
        )
    return create_scoring_app(mltrail.pyfunc.load_model(path))
