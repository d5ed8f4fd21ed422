"""Wire types of MLflow's tracking REST API (service.proto), as msgspec Structs.

Request types validate incoming bodies (decoded leniently, like protobuf JSON:
``"10"`` is accepted for an int64, ``"NaN"`` for a double). Response types
describe what handlers return, for the OpenAPI document; handlers build the
matching dicts directly so JSON is encoded once.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

#: protobuf's int64: a larger number is refused at decoding (400), as MLflow's parser does,
#: instead of overflowing a database column later (a 500).
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
# ---------------------------------------------------------------- shared pieces


class KeyValue(msgspec.Struct):
    """A tag or param: ``{"key", "value"}``."""

    key: str
    value: str = ""


class MetricIn(msgspec.Struct):
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


class CreateExperiment(msgspec.Struct):
    name: str
    artifact_location: str = ""
    tags: list[KeyValue] = []


class ExperimentId(msgspec.Struct):
    """Requests that only name an experiment (get, delete, restore)."""

    experiment_id: str


class GetExperimentByName(msgspec.Struct):
    experiment_name: str


class SearchExperiments(msgspec.Struct):
    max_results: Int64 | None = None
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = []
    view_type: str | Int64 | None = None


class UpdateExperiment(msgspec.Struct):
    experiment_id: str
    new_name: str = ""


class SetExperimentTag(msgspec.Struct):
    experiment_id: str
    key: str
    value: str = ""


class DeleteExperimentTag(msgspec.Struct):
    experiment_id: str
    key: str


class CreateRun(msgspec.Struct):
    experiment_id: str = ""
    user_id: str = ""
    run_name: str | None = None
    start_time: Int64 | None = None
    tags: list[KeyValue] = []


class RunRef(msgspec.Struct):
    """Requests naming a run by ``run_id`` (or MLflow's older ``run_uuid``)."""

    run_id: str = ""
    run_uuid: str = ""


class UpdateRun(msgspec.Struct):
    run_id: str = ""
    run_uuid: str = ""
    status: str | Int64 | None = None
    end_time: Int64 | None = None
    run_name: str | None = None


class LogMetric(msgspec.Struct):
    key: str
    value: float
    timestamp: Int64
    run_id: str = ""
    run_uuid: str = ""
    step: Int64 = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LogParam(msgspec.Struct):
    key: str
    run_id: str = ""
    run_uuid: str = ""
    value: str = ""


class SetTag(msgspec.Struct):
    key: str
    run_id: str = ""
    run_uuid: str = ""
    value: str = ""


class DeleteTag(msgspec.Struct):
    run_id: str
    key: str


class LogBatch(msgspec.Struct):
    run_id: str
    metrics: list[MetricIn] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class LogInputs(msgspec.Struct):
    run_id: str
    datasets: list[DatasetInputWire] = []
    models: list[ModelInputWire] = []


class GetMetricHistory(msgspec.Struct):
    metric_key: str
    run_id: str = ""
    run_uuid: str = ""
    page_token: str | None = None
    max_results: Int64 | None = None


class GetMetricHistoryBulkInterval(msgspec.Struct):
    metric_key: str
    run_ids: list[str] = []
    start_step: Int64 | None = None
    end_step: Int64 | None = None
    max_results: Int64 | None = None


class SearchRuns(msgspec.Struct):
    experiment_ids: list[str] = []
    filter: str | None = None
    run_view_type: str | Int64 | None = None
    max_results: Int64 | None = None
    order_by: list[str] = []
    page_token: str | None = None


class ListArtifacts(msgspec.Struct):
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
