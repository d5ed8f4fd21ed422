"""The ``/ajax-api/`` helpers MLflow's own web UI calls (MLflow 3.17's semantics).

=========================================================  ==============================================
``POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=``  the body (≤ 10 MB) becomes the run artifact
                                                               ``path``
``GET /ajax-api/{2.0,3.0}/mlflow/get-trace-artifact``          a trace's spans as ``traces.json`` (or, with
                                                               ``path=``, one of its attachments)
``POST /ajax-api/2.0/mlflow/experiments/search-datasets``      the datasets logged as run inputs in ≤ 20
                                                               experiments, with their context
``POST /ajax-api/2.0/mlflow/runs/create-promptlab-run``        a finished run recording one prompt-lab
                                                               evaluation (params, tags, results table, model)
=========================================================  ==============================================

Artifact reads and writes go through the server's artifact roots
(:func:`~mltrail.server.handlers.artifacts.uri_destination`), paths through
:func:`~mltrail.artifacts.paths.validate_artifact_path`.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mltrail.artifacts.paths import validate_artifact_path
from mltrail.entities import Param, RunTag
from mltrail.exceptions import MltrailException, invalid
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.server.auth.locate import run_experiment, trace_experiment
from mltrail.server.auth.rules import READ, UPDATE, Rule, on_experiments
from mltrail.server.bodies import PayloadTooLarge, read_body
from mltrail.server.handlers.artifacts import uri_destination
from mltrail.server.handlers.traces import trace_artifact_location, with_artifact_spans
from mltrail.server.routing import Call, Endpoint
from mltrail.server.wire import run_json
from mltrail.store.validation import validate_run_id

#: MLflow's limit for a UI upload.
UPLOAD_MAX_BYTES = 10 * 1024 * 1024
#: MLflow's limit on experiments per dataset search.
SEARCH_DATASETS_MAX_EXPERIMENTS = 20
TRACE_DATA_FILE = "traces.json"


class UploadQuery(msgspec.Struct):
    run_uuid: str = ""
    path: str = ""


class TraceArtifactQuery(msgspec.Struct):
    request_id: str = ""
    path: str = ""


class SearchDatasets(msgspec.Struct):
    experiment_ids: list[str] = []


class SearchDatasetsResponse(msgspec.Struct):
    dataset_summaries: list[dict[str, Any]] = []


class KV(msgspec.Struct):
    key: str = ""
    value: Any = None


class CreatePromptlabRun(msgspec.Struct):
    experiment_id: str = ""
    run_name: str | None = None
    tags: list[KV] = []
    prompt_template: str = ""
    prompt_parameters: list[KV] = []
    model_route: str = ""
    model_parameters: list[KV] = []
    model_input: str = ""
    model_output: str | None = None
    model_output_parameters: list[KV] = []
    mlflow_version: str = ""
    user_id: str = "unknown"
    start_time: int | None = None


class RunResponse(msgspec.Struct):
    run: dict[str, Any] = {}


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


# ------------------------------------------------------------------ upload-artifact
async def upload_artifact(call: Call) -> Response:
    """MLflow UI's upload: ``?run_uuid=&path=`` and the file as the body."""
    query = call.query
    run_id, path = query.get("run_uuid") or "", query.get("path") or ""
    if not run_id:
        raise invalid("Request must specify run_uuid.")
    if not path:
        raise invalid("Request must specify path.")
    validate_run_id(run_id)
    rel = validate_artifact_path(path)
    if not rel:
        raise invalid(f"Invalid path {path!r}: it names no file")
    try:
        data = await read_body(call.request, min(UPLOAD_MAX_BYTES, call.config.max_body_bytes))
    except PayloadTooLarge:
        raise invalid("Artifact size is too large. Max size is 10MB.") from None
    if not data:
        raise invalid("Request must specify data.")
    run = await run_in_threadpool(call.tracking_store.get_run, run_id)
    target = uri_destination(call, run.info.artifact_uri, "run artifact location")
    await target.upload(rel, _one_chunk(data))
    return Response(b"", media_type="application/json")


# ------------------------------------------------------------------ get-trace-artifact
async def get_trace_artifact(call: Call) -> Response:
    """A trace's span data as the ``traces.json`` attachment MLflow's UI downloads."""
    b: TraceArtifactQuery = call.body
    if not b.request_id:
        raise MltrailException(
            'Request must include the "request_id" query parameter.', error_code="BAD_REQUEST"
        )
    store = call.trace_store
    if b.path:
        rel = validate_artifact_path(b.path)
        trace = await run_in_threadpool(store.get_trace, b.request_id)
        location = await run_in_threadpool(trace_artifact_location, call, trace)
        return await uri_destination(call, location, "trace artifact location").download(f"attachments/{rel}")
    trace = await run_in_threadpool(store.get_trace, b.request_id)
    trace = await with_artifact_spans(call, trace)
    body = json.dumps(trace.data.to_dict()).encode("utf-8")
    headers = {"Content-Disposition": f'attachment; filename="{TRACE_DATA_FILE}"',
               "X-Content-Type-Options": "nosniff"}  # fmt: skip
    return Response(body, media_type="application/octet-stream", headers=headers)


# ------------------------------------------------------------------ search-datasets
def search_datasets(call: Call) -> dict[str, Any]:
    ids = list(call.body.experiment_ids)
    if not ids:
        raise invalid("SearchDatasets request must specify at least one experiment_id.")
    if len(ids) > SEARCH_DATASETS_MAX_EXPERIMENTS:
        raise invalid(f"SearchDatasets request cannot specify more than {SEARCH_DATASETS_MAX_EXPERIMENTS} "
                      f"experiment_ids. Received {len(ids)} experiment_ids.")  # fmt: skip
    for i in ids:
        if not str(i).isdigit():
            raise invalid(f"Invalid experiment id {i!r}: it must be an integer string")
    return {"dataset_summaries": call.tracking_store.dataset_summaries(ids)}


# ------------------------------------------------------------------ create-promptlab-run
def _params(kvs: list[KV]) -> list[Param]:
    return [Param(str(kv.key), str(kv.value)) for kv in kvs]


def _results_table(b: CreatePromptlabRun, prompt: list[Param], outputs: list[Param]) -> str:
    columns = [p.key for p in prompt] + ["prompt", "output"] + [p.key for p in outputs]
    row = [p.value for p in prompt] + [b.model_input, b.model_output] + [p.value for p in outputs]
    return json.dumps({"columns": columns, "data": [row]})


def _model_files(
    b: CreatePromptlabRun, run_id: str, prompt: list[Param], model: list[Param]
) -> dict[str, Any]:
    """The prompt-lab model's ``MLmodel`` (as a dict) and ``parameters.yaml`` text, as MLflow saves them."""
    signature = {
        "inputs": json.dumps([{"type": "string", "name": p.key, "required": True} for p in prompt]),
        "outputs": json.dumps([{"type": "string", "name": "output", "required": True}]),
        "params": None,
    }
    mlmodel = {
        "artifact_path": "model",
        "flavors": {"python_function": {
            "loader_module": "mlflow.prompt.promptlab_model", "parameters_path": "parameters.yaml",
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "python_version": ".".join(map(str, sys.version_info[:3])),
        }},
        "mlflow_version": b.mlflow_version,
        "model_uuid": uuid.uuid4().hex,
        "run_id": run_id,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "signature": signature,
    }  # fmt: skip
    parameters = {
        "prompt_template": b.prompt_template,
        "prompt_parameters": {p.key: p.value for p in prompt},
        "model_parameters": {p.key: p.value for p in model},
        "model_route": b.model_route,
    }
    return {"MLmodel": mlmodel, "parameters": _yaml_text(parameters)}


def _yaml_text(data: dict[str, Any]) -> str:
    """``data`` as YAML, the way MLflow writes its model files.

    PyYAML loads here, on the first prompt-lab run: importing it (its resolver compiles
    dozens of regular expressions) cost about a fourteenth of a server's start-up.
    """
    with LAZY_IMPORTS:  # in a worker thread
        import yaml

    return yaml.safe_dump(data, default_flow_style=False)


async def create_promptlab_run(call: Call) -> dict[str, Any]:
    """One prompt-lab evaluation as a FINISHED run (FAILED when its files cannot be written), as MLflow."""
    b: CreatePromptlabRun = call.body
    for name in ("experiment_id", "prompt_template", "prompt_parameters", "model_route", "model_input",
                 "mlflow_version"):  # fmt: skip
        if not getattr(b, name):
            raise invalid(f"CreatePromptlabRun request must specify {name}.")
    store = call.tracking_store
    start = b.start_time if b.start_time is not None else int(time.time() * 1000)
    tags = [RunTag(str(kv.key), str(kv.value)) for kv in b.tags]
    run = await run_in_threadpool(
        store.create_run, b.experiment_id, b.user_id or "unknown", start, tags, b.run_name
    )
    run_id = run.info.run_id
    prompt, model, outputs = _params(b.prompt_parameters), _params(b.model_parameters), _params(
        b.model_output_parameters)  # fmt: skip
    files = _model_files(b, run_id, prompt, model)
    history = {k: v for k, v in files["MLmodel"].items() if k != "signature"}
    status = "FINISHED"
    try:
        await run_in_threadpool(store.log_batch, run_id, [], [
            *model, Param("model_route", b.model_route), Param("prompt_template", b.prompt_template)], [
            RunTag("mlflow.loggedArtifacts", json.dumps([{"path": "eval_results_table.json", "type": "table"}])),
            RunTag("mlflow.runSourceType", "PROMPT_ENGINEERING"),
            RunTag("mlflow.log-model.history", json.dumps([history])),
        ])  # fmt: skip
        target = uri_destination(call, run.info.artifact_uri, "run artifact location")
        written = {
            "eval_results_table.json": _results_table(b, prompt, outputs),
            "model/MLmodel": _yaml_text(files["MLmodel"]),
            "model/parameters.yaml": files["parameters"],
        }
        for rel, text in written.items():
            await target.upload(rel, _one_chunk(text.encode("utf-8")))
    except MltrailException:
        status = "FAILED"
    await run_in_threadpool(store.update_run_info, run_id, status, int(time.time() * 1000), b.run_name)
    return {"run": run_json(await run_in_threadpool(store.get_run, run_id))}


# ------------------------------------------------------------------ routes and permissions
_AJAX = {"ajax_only": True, "tags": ("ui",)}
ENDPOINTS: list[Endpoint] = [
    Endpoint("/upload-artifact", ("POST",), upload_artifact, raw=True, write=False,
             summary="MLflow UI's artifact upload (body ≤ 10 MB)", **_AJAX),
    Endpoint("/get-trace-artifact", ("GET",), get_trace_artifact, request=TraceArtifactQuery,
             versions=("2.0", "3.0"), media_type="application/octet-stream",
             summary="A trace's spans as traces.json (MLflow UI's download)", **_AJAX),
    Endpoint("/experiments/search-datasets", ("POST",), search_datasets, request=SearchDatasets,
             response=SearchDatasetsResponse, db_only=True, summary="Datasets used by runs of experiments",
             **_AJAX),
    Endpoint("/runs/create-promptlab-run", ("POST",), create_promptlab_run, request=CreatePromptlabRun,
             response=RunResponse, summary="Record one prompt-lab evaluation as a run", **_AJAX),
]  # fmt: skip


def _run_of_query(call: Call) -> Iterable[str]:
    run_id = call.query.get("run_uuid") or ""
    return (run_experiment(call, run_id),) if run_id else ()


def _trace_of_query(call: Call) -> Iterable[str]:
    return (trace_experiment(call, call.body.request_id),) if call.body.request_id else ()


def _experiments_of_body(call: Call) -> Iterable[str]:
    return set(call.body.experiment_ids)


def _experiment_of_body(call: Call) -> Iterable[str]:
    return (call.body.experiment_id,) if call.body.experiment_id else ()


#: As MLflow's auth app: uploading and creating a run need UPDATE, reads READ.
AUTH_RULES: dict[tuple[str, str], Rule] = {
    ("/upload-artifact", "POST"): on_experiments(UPDATE, _run_of_query),
    ("/get-trace-artifact", "GET"): on_experiments(READ, _trace_of_query),
    ("/experiments/search-datasets", "POST"): on_experiments(READ, _experiments_of_body),
    ("/runs/create-promptlab-run", "POST"): on_experiments(UPDATE, _experiment_of_body),
}
