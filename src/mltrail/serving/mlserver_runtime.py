"""An MLServer inference runtime for models in MLflow's format, loaded with ``mltrail.pyfunc``.

Only MLServer's processes import this module (``mltrail models serve
--enable-mlserver`` names it in ``MLSERVER_MODEL_IMPLEMENTATION``); nothing
else in mltrail does, so ``mlserver`` stays an optional dependency.

Requests arrive in the Open Inference (KServe V2) protocol and are decoded with
MLServer's own codecs: the request's ``content_type`` parameter picks the codec
(``pd`` a DataFrame, ``np`` an array, ``str`` a list of strings); without one,
the model's signature does (columns -> DataFrame, one unnamed tensor -> array,
named tensors -> a dict of arrays), and a model without a signature gets a
DataFrame with one column per input. Predictions go back as V2 outputs: a
DataFrame column by column, a dict key by key, anything else as one output
named ``output-1`` (MLServer's default name).

A request MLServer's codecs cannot decode, or that the model rejects, is
answered with MLServer's 400 error body (``{"error": "..."}``); a prediction
that runs past the ``--timeout`` is answered 504.

MLflow's ``GET /ping`` and ``POST /invocations`` are served too, when the model
runs in MLServer's own process (one worker, the default): MLServer cannot hand
these raw HTTP requests to parallel inference workers.

Agents and chat models (``ResponsesAgent``, ``ChatAgent``, ``ChatModel``) are served
as the scoring server serves them: ``/invocations`` takes their own request bodies
(``input``, ``messages``), answers without ``{"predictions": ...}`` and streams
server-sent events for ``"stream": true`` (``serving/llm.py``). Over V2, a request is
one agent request: one input per request field (JSON documents, content type
``pd_json``, as the signature's metadata says), and the answer one output per field
of the response, each one JSON document (a string field as text).

Example (what the CLI sets up)::

    MLSERVER_MODEL_IMPLEMENTATION=mltrail.serving.mlserver_runtime.MltrailRuntime \\
    MLSERVER_MODEL_URI=/path/to/model mlserver start /path/to/model
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
from fastapi import Request, Response
from mlserver import MLModel
from mlserver.codecs import NumpyCodec, PandasCodec, StringCodec
from mlserver.codecs.base import find_request_codec
from mlserver.errors import InferenceError, MLServerError
from mlserver.handlers import custom_handler
from mlserver.settings import ModelParameters
from mlserver.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataTensor,
    Parameters,
    ResponseOutput,
)
from mlserver.utils import get_model_uri

import mltrail.pyfunc
from mltrail.exceptions import MltrailException
from mltrail.serving import llm
from mltrail.serving.mlserver import TIMEOUT_KEY
from mltrail.serving.parse import ServingError, parse_csv_body, parse_json_body, to_jsonable

#: Name of the single output when a prediction is not a DataFrame or a dict (MLServer's own default).
OUTPUT_NAME = "output-1"

# MLflow column types -> (V2 datatype, MLServer content type of the input).
_COLUMN_TYPES = {
    "boolean": ("BOOL", NumpyCodec.ContentType),
    "integer": ("INT32", NumpyCodec.ContentType),
    "long": ("INT64", NumpyCodec.ContentType),
    "float": ("FP32", NumpyCodec.ContentType),
    "double": ("FP64", NumpyCodec.ContentType),
    "string": ("BYTES", StringCodec.ContentType),
    "binary": ("BYTES", "base64"),
    "datetime": ("BYTES", "datetime"),
}
_JSON = "application/json"
# The loaders of MLflow's agent and chat-model flavors: one request in, one response (a dict) out.
_AGENT_LOADERS = ("responses_agent", "chat_agent", "chat_model")
_TENSOR_DICT = "dict"  # named tensors: each input decoded on its own, the model gets {name: array}


class PredictionTimeout(MLServerError):
    """A prediction ran past the serve command's ``--timeout`` (HTTP 504).

    Takes only the message, so it survives the trip from MLServer's inference
    worker process back to the server (exceptions cross it pickled).
    """

    def __init__(self, msg: str) -> None:
        super().__init__(msg, status_code=504)


def _tensor_datatype(dtype_name: str) -> str:
    """The V2 datatype of a numpy dtype name (``float32`` -> ``FP32``; strings and objects -> ``BYTES``)."""
    import numpy as np

    try:
        dtype = np.dtype(dtype_name)
    except TypeError:
        return "BYTES"
    bits = dtype.itemsize * 8
    if dtype.kind == "b":
        return "BOOL"
    if dtype.kind in "iuf":
        return {"i": "INT", "u": "UINT", "f": "FP"}[dtype.kind] + str(bits)
    return "BYTES"


def _signature_metadata(schema: Any) -> tuple[str, list[MetadataTensor]]:
    """The default request content type and the input metadata a model signature implies."""
    if schema is None or not len(schema):
        return PandasCodec.ContentType, []
    tensors = []
    if schema.is_tensor_spec():
        content_type = _TENSOR_DICT if schema.has_input_names() else NumpyCodec.ContentType
        for n, spec in enumerate(schema.inputs):
            tensors.append(
                MetadataTensor(
                    name=spec.name if spec.name is not None else f"input-{n}",
                    datatype=_tensor_datatype(spec.type),
                    shape=list(spec.shape),
                    parameters=Parameters(content_type=NumpyCodec.ContentType),
                )
            )
        return content_type, tensors
    for n, spec in enumerate(schema.inputs):
        datatype, content_type = _COLUMN_TYPES.get(spec.type, ("BYTES", PandasCodec.JsonContentType))
        tensors.append(
            MetadataTensor(
                name=spec.name if spec.name is not None else f"input-{n}",
                datatype=datatype,
                shape=[-1, 1],
                parameters=Parameters(content_type=content_type),
            )
        )
    return PandasCodec.ContentType, tensors


def _one_output(name: str, value: Any) -> ResponseOutput:
    """One prediction value (array, Series, list or scalar) as a V2 output."""
    import numpy as np

    if hasattr(value, "to_numpy"):  # a pandas Series
        value = value.to_numpy()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return NumpyCodec.encode_output(name, value)
    if isinstance(value, np.ndarray):
        items = value.tolist()
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    if items and all(isinstance(i, str) for i in items):
        return StringCodec.encode_output(name, items)
    try:
        array = np.asarray(items)
    except (ValueError, TypeError):
        array = None
    if array is not None and array.dtype.kind in "biuf":
        return NumpyCodec.encode_output(name, array)
    # Mixed or structured values (dicts, nested lists): one JSON document per row, tagged with
    # MLServer's JSON content type so its PandasCodec decodes them back into objects.
    data = [json.dumps(i, default=str) for i in items]
    return ResponseOutput(
        name=name,
        datatype="BYTES",
        shape=[len(data), 1],
        data=data,
        parameters=Parameters(content_type=PandasCodec.JsonContentType),
    )


def encode_prediction(result: Any) -> tuple[list[ResponseOutput], str | None]:
    """A model's prediction as V2 outputs, and the response content type to declare (if any)."""
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        frame = result.rename(columns=str)
        return PandasCodec.encode_outputs(frame), PandasCodec.ContentType
    if isinstance(result, dict):
        return [_one_output(str(key), value) for key, value in result.items()], None
    output = _one_output(OUTPUT_NAME, result)
    return [output], output.parameters.content_type if output.parameters else None


def encode_agent_response(result: Any) -> list[ResponseOutput]:
    """An agent's response (one dict) as V2 outputs: one per field, each one row (text, or a JSON document)."""
    outputs = []
    for key, value in dict(result).items():
        if isinstance(value, str):
            outputs.append(StringCodec.encode_output(str(key), [value]))
            continue
        outputs.append(
            ResponseOutput(
                name=str(key),
                datatype="BYTES",
                shape=[1, 1],
                data=[json.dumps(to_jsonable(value), default=str)],
                parameters=Parameters(content_type=PandasCodec.JsonContentType),
            )
        )
    return outputs


def _is_agent(model: Any) -> bool:
    conf = model.metadata.flavors.get("python_function", {})
    return str(conf.get("loader_module", "")).rsplit(".", 1)[-1] in _AGENT_LOADERS


class MltrailRuntime(MLModel):
    """MLServer runtime serving one MLflow-format model through :func:`mltrail.pyfunc.load_model`.

    Besides the V2 endpoints, it answers MLflow's ``GET /ping`` and ``POST
    /invocations`` (the scoring protocol of ``mltrail models serve``), as
    MLflow's own MLServer runtime does.
    """

    async def load(self) -> bool:
        uri = await get_model_uri(self._settings)
        self._model = await asyncio.to_thread(mltrail.pyfunc.load_model, uri)
        if self._settings.parameters is None:
            self._settings.parameters = ModelParameters()
        params = self._settings.parameters
        timeout = (params.extra or {}).get(TIMEOUT_KEY)
        self._timeout = float(timeout) if timeout else None

        schema = self._model.metadata.get_input_schema()
        self._params_schema = self._model.metadata.get_params_schema()
        self._agent = _is_agent(self._model)
        self._column_schema = schema is not None and not schema.is_tensor_spec()
        content_type, inputs = _signature_metadata(schema)
        self._request_content_type = content_type
        if inputs and not self.inputs:
            self.inputs = inputs  # what GET /v2/models/<name> reports, and per-input decoding hints
        if not params.content_type and content_type != _TENSOR_DICT:
            params.content_type = content_type
        self.ready = True
        return self.ready

    async def _predict(
        self, data: Any, params: dict[str, Any] | None = None, keep_codes: bool = False
    ) -> Any:
        """The model's prediction; :class:`InferenceError` if it fails, :class:`PredictionTimeout` if late.

        ``keep_codes``: an :class:`MltrailException` (a request the model's schema refuses) is raised as
        it is, so ``/invocations`` answers with its MLflow error code.
        """

        def call() -> Any:
            return self._model.predict(data, params=params) if params else self._model.predict(data)

        # In a thread: the event loop keeps serving (and --timeout can answer) while a slow
        # model (an LLM call) works; a prediction that times out finishes on its own.
        deadline = asyncio.timeout(self._timeout)
        try:
            async with deadline:
                return await asyncio.to_thread(call)
        except MltrailException as err:
            if keep_codes:
                raise
            raise InferenceError(err.message) from None
        except Exception as err:
            if deadline.expired():  # not a TimeoutError the model raised itself
                raise PredictionTimeout(
                    f"Request processing time exceeded limit ({self._timeout:g} s)"
                ) from None
            raise InferenceError(
                "Encountered an unexpected error while evaluating the model. "
                f"Verify that the input is compatible with the model. Error: {err}"
            ) from None

    def _decode(self, payload: InferenceRequest) -> Any:
        requested = payload.parameters.content_type if payload.parameters else None
        if requested is not None and find_request_codec(requested) is None:
            # MLServer itself would quietly fall back to the default codec.
            raise InferenceError(
                f"Unknown request content type {requested!r}: use pd, np or str (or none, for the model's)"
            )
        self._json_inputs_from_metadata(payload)
        try:
            if requested is None and self._request_content_type == _TENSOR_DICT:
                data = {i.name: self.decode(i, default_codec=NumpyCodec) for i in payload.inputs}
            else:
                data = self.decode_request(payload, default_codec=PandasCodec)
        except MLServerError:
            raise
        except Exception as err:  # a codec's ValueError/TypeError on a malformed tensor
            raise InferenceError(f"Could not decode the inference request: {err}") from None
        return data

    def _json_inputs_from_metadata(self, payload: InferenceRequest) -> None:
        """Inputs the signature types as JSON documents (arrays, objects, maps: an agent's request fields)
        are decoded as JSON when the request does not say otherwise; MLServer's pandas codec would keep the text."""
        wanted = {
            i.name: i.parameters.content_type
            for i in self.inputs or []
            if i.parameters is not None and i.parameters.content_type == PandasCodec.JsonContentType
        }
        for given in payload.inputs:
            if given.name not in wanted:
                continue
            if given.parameters is None:
                given.parameters = Parameters(content_type=wanted[given.name])
            elif not given.parameters.content_type:
                given.parameters.content_type = wanted[given.name]

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        result = await self._predict(self._decode(payload))
        try:
            if self._agent and hasattr(result, "items"):
                outputs, content_type = encode_agent_response(result), None
            else:
                outputs, content_type = encode_prediction(result)
        except Exception as err:
            raise MLServerError(f"The model's predictions could not be encoded: {err}", 500) from None
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            parameters=Parameters(content_type=content_type) if content_type else None,
            outputs=outputs,
        )

    @custom_handler(rest_path="/ping", rest_method="GET")
    async def ping(self, request: Request) -> Response:
        """MLflow's health check: 200 once the model is loaded."""
        return Response("\n", media_type=_JSON)

    @custom_handler(rest_path="/invocations")
    async def invocations(self, request: Request) -> Response:
        """MLflow's scoring protocol (JSON or CSV in, ``{"predictions": ...}`` out, MLflow-style errors)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        unwrapped = False  # agent and chat requests are answered as they are (serving/llm.py)
        try:
            raw = await request.body()
            if ctype == "text/csv":
                data, params = parse_csv_body(raw), None
            elif ctype in (_JSON, ""):
                try:
                    body = msgspec.json.decode(raw)
                except msgspec.DecodeError as err:
                    raise ServingError(f"Invalid JSON in the request body: {err}") from None
                if llm.is_llm_request(body):
                    data, params = llm.split_llm_request(body, self._params_schema)
                    if llm.wants_stream(body, self._model):
                        return await llm.stream_response(self._model, data, params, _encoder)
                    unwrapped = True
                else:
                    data, params = parse_json_body(body, self._column_schema)
            else:
                raise ServingError(
                    "This predictor only supports the following content types: "
                    f"['text/csv', 'application/json']. Got '{ctype}'.",
                    status=415,
                )
            result = await self._predict(data, params, keep_codes=True)
        except ServingError as err:
            return _mlflow_error(err.message, err.status, err.error_code)
        except PredictionTimeout as err:
            return _mlflow_error(str(err), 504, "DEADLINE_EXCEEDED")
        except InferenceError as err:
            return _mlflow_error(str(err), 400, "BAD_REQUEST")
        except MltrailException as err:  # an agent request that does not fit its schema
            return _mlflow_error(err.message, 400, err.error_code)
        answer = to_jsonable(result)
        return Response(_encoder.encode(answer if unwrapped else {"predictions": answer}), media_type=_JSON)


def _enc_hook(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):  # pydantic objects: an agent's response and stream events
        return obj.model_dump(exclude_none=True)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)


def _mlflow_error(message: str, status: int, error_code: str) -> Response:
    body = json.dumps({"error_code": error_code, "message": message})
    return Response(body, status_code=status, media_type=_JSON)
