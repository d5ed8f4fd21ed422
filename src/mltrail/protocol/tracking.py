"""MLflow's tracking REST API (service.proto): wire types and endpoint declarations.

Request types validate incoming bodies (decoded leniently, like protobuf JSON:
``"10"`` is accepted for an int64, ``"NaN"`` for a double). Response types
describe what handlers return, for the OpenAPI document; handlers build the
matching dicts directly so JSON is encoded once.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from mltrail.protocol.routes import Message, Route, RouteSet

#: protobuf's int64: a larger number is refused at decoding (400), as MLflow's parser does,
#: instead of overflowing a database column later (a 500).
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
# ---------------------------------------------------------------- shared pieces


class KeyValue(msgspec.Struct):
    """A tag or param: ``{"key", "value"}``."""

    key: str
    value: str = ""


class MetricIn(Message):
    """A metric in a ``log-batch`` request."""

    key: str
    value: float
    timestamp: Int64
    step: Int64 = 0
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None


class DatasetWire(msgspec.Struct):
    """A dataset's identity."""

    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str | None = None
    profile: str | None = None


class DatasetInputWire(msgspec.Struct):
    """A dataset used by a run with its tags."""

    dataset: DatasetWire
    tags: list[KeyValue] = []


class ModelInputWire(msgspec.Struct):
    """A logged model used by a run (MLflow 3)."""

    model_id: str


# ------------------------------------------------------------------- requests


class CreateExperiment(Message):
    name: str
    artifact_location: str = ""
    tags: list[KeyValue] = []


class ExperimentId(Message):
    """Requests that only name an experiment (get, delete, restore)."""

    experiment_id: str


class GetExperimentByName(Message):
    experiment_name: str


class SearchExperiments(Message):
    max_results: Int64 | None = None
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = []
    view_type: str | Int64 | None = None


class UpdateExperiment(Message):
    experiment_id: str
    new_name: str = ""


class SetExperimentTag(Message):
    experiment_id: str
    key: str
    value: str = ""


class DeleteExperimentTag(Message):
    experiment_id: str
    key: str


class CreateRun(Message):
    experiment_id: str = ""
    user_id: str = ""
    run_name: str | None = None
    start_time: Int64 | None = None
    tags: list[KeyValue] = []


class RunRef(Message):
    """Requests naming a run by ``run_id`` (or MLflow's older ``run_uuid``)."""

    run_id: str = ""
    run_uuid: str = ""


class UpdateRun(Message):
    run_id: str = ""
    run_uuid: str = ""
    status: str | Int64 | None = None
    end_time: Int64 | None = None
    run_name: str | None = None


class LogMetric(Message):
    key: str
    value: float
    timestamp: Int64
    run_id: str = ""
    run_uuid: str = ""
    step: Int64 = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LogParam(Message):
    key: str
    run_id: str = ""
    run_uuid: str = ""
    value: str = ""


class SetTag(Message):
    key: str
    run_id: str = ""
    run_uuid: str = ""
    value: str = ""


class DeleteTag(Message):
    run_id: str
    key: str


class LogBatch(Message):
    run_id: str
    metrics: list[MetricIn] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class LogInputs(Message):
    run_id: str
    datasets: list[DatasetInputWire] = []
    models: list[ModelInputWire] = []


class LogModel(Message):
    """``runs/log-model``: a logged model's summary (``Model.get_tags_dict()`` as JSON)."""

    run_id: str
    model_json: str


class GetMetricHistory(Message):
    metric_key: str
    run_id: str = ""
    run_uuid: str = ""
    page_token: str | None = None
    max_results: Int64 | None = None


class GetMetricHistoryBulkInterval(Message):
    metric_key: str
    run_ids: list[str] = []
    start_step: Int64 | None = None
    end_step: Int64 | None = None
    max_results: Int64 | None = None


class GetMetricHistoryBulk(Message):
    """MLflow UI's ``ajax-api/2.0/mlflow/metrics/get-history-bulk`` (``run_id`` repeated)."""

    run_id: list[str] = []
    metric_key: str | None = None
    max_results: Int64 | None = None


class SearchRuns(Message):
    experiment_ids: list[str] = []
    filter: str | None = None
    run_view_type: str | Int64 | None = None
    max_results: Int64 | None = None
    order_by: list[str] = []
    page_token: str | None = None


class ListArtifacts(Message):
    run_id: str = ""
    run_uuid: str = ""
    path: str | None = None
    page_token: str | None = None


# ------------------------------------------------------------------ responses

Number = float | str  # MLflow spells NaN/Infinity as strings


class MetricOut(msgspec.Struct):
    key: str
    value: Number
    timestamp: Int64
    step: Int64 = 0
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None


class ExperimentOut(msgspec.Struct):
    experiment_id: str
    name: str
    artifact_location: str = ""
    lifecycle_stage: str = "active"
    last_update_time: Int64 | None = None
    creation_time: Int64 | None = None
    tags: list[KeyValue] = []


class RunInfoOut(msgspec.Struct):
    run_id: str
    experiment_id: str
    run_uuid: str | None = None
    run_name: str | None = None
    user_id: str | None = None
    status: str | None = None
    start_time: Int64 | None = None
    end_time: Int64 | None = None
    artifact_uri: str | None = None
    lifecycle_stage: str | None = None


class RunDataOut(msgspec.Struct):
    metrics: list[MetricOut] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class RunInputsOut(msgspec.Struct):
    dataset_inputs: list[DatasetInputWire] = []
    model_inputs: list[ModelInputWire] = []


class RunOut(msgspec.Struct):
    info: RunInfoOut
    data: RunDataOut | None = None
    inputs: RunInputsOut | None = None


class Empty(msgspec.Struct):
    """An empty JSON object."""


class CreateExperimentResponse(msgspec.Struct):
    experiment_id: str


class ExperimentResponse(msgspec.Struct):
    experiment: ExperimentOut


class SearchExperimentsResponse(msgspec.Struct):
    experiments: list[ExperimentOut] = []
    next_page_token: str | None = None


class RunResponse(msgspec.Struct):
    run: RunOut


class UpdateRunResponse(msgspec.Struct):
    run_info: RunInfoOut


class MetricsResponse(msgspec.Struct):
    metrics: list[MetricOut] = []
    next_page_token: str | None = None


class SearchRunsResponse(msgspec.Struct):
    runs: list[RunOut] = []
    next_page_token: str | None = None


class FileInfoOut(msgspec.Struct):
    path: str
    is_dir: bool
    file_size: Int64 | None = None


class ListArtifactsResponse(msgspec.Struct):
    root_uri: str | None = None
    files: list[FileInfoOut] = []
    next_page_token: str | None = None


# ------------------------------------------------------------------- endpoints

_T = ("tracking",)


def _r(name: str, method: str, path: str, req: type, resp: type = Empty) -> Route:
    return Route(name, method, path, req, resp, tags=_T)


TRACKING = RouteSet(
    _r("create_experiment", "POST", "/experiments/create", CreateExperiment, CreateExperimentResponse),
    _r("get_experiment", "GET", "/experiments/get", ExperimentId, ExperimentResponse),
    _r("get_experiment_by_name", "GET", "/experiments/get-by-name", GetExperimentByName, ExperimentResponse),
    _r("search_experiments", "POST", "/experiments/search", SearchExperiments, SearchExperimentsResponse),
    _r("search_experiments_get", "GET", "/experiments/search", SearchExperiments, SearchExperimentsResponse),
    _r("delete_experiment", "POST", "/experiments/delete", ExperimentId),
    _r("restore_experiment", "POST", "/experiments/restore", ExperimentId),
    _r("update_experiment", "POST", "/experiments/update", UpdateExperiment),
    _r("set_experiment_tag", "POST", "/experiments/set-experiment-tag", SetExperimentTag),
    _r("delete_experiment_tag", "POST", "/experiments/delete-experiment-tag", DeleteExperimentTag),
    _r("create_run", "POST", "/runs/create", CreateRun, RunResponse),
    _r("get_run", "GET", "/runs/get", RunRef, RunResponse),
    _r("update_run", "POST", "/runs/update", UpdateRun, UpdateRunResponse),
    _r("delete_run", "POST", "/runs/delete", RunRef),
    _r("restore_run", "POST", "/runs/restore", RunRef),
    _r("log_metric", "POST", "/runs/log-metric", LogMetric),
    _r("log_param", "POST", "/runs/log-parameter", LogParam),
    _r("set_tag", "POST", "/runs/set-tag", SetTag),
    _r("delete_tag", "POST", "/runs/delete-tag", DeleteTag),
    _r("log_batch", "POST", "/runs/log-batch", LogBatch),
    _r("log_inputs", "POST", "/runs/log-inputs", LogInputs),
    _r("log_model", "POST", "/runs/log-model", LogModel),
    _r("search_runs", "POST", "/runs/search", SearchRuns, SearchRunsResponse),
    _r("get_metric_history", "GET", "/metrics/get-history", GetMetricHistory, MetricsResponse),
    _r("get_metric_history_bulk_interval", "GET", "/metrics/get-history-bulk-interval",
       GetMetricHistoryBulkInterval, MetricsResponse),
    _r("list_artifacts", "GET", "/artifacts/list", ListArtifacts, ListArtifactsResponse),
    Route(
        "get_metric_history_bulk", "GET", "/metrics/get-history-bulk", GetMetricHistoryBulk, MetricsResponse,
        ajax_only=True, tags=_T,
    ),
)
