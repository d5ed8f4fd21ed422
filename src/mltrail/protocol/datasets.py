"""MLflow 3's evaluation-dataset REST API (``/api/3.0/mlflow/datasets/…``): wire types and routes.

Paths, methods and field names are those of MLflow's ``MlflowService`` dataset
RPCs (what the official client's ``RestStore`` calls). As in MLflow, free-form
values travel as JSON-encoded strings: the dataset's ``tags`` in
``CreateDataset``/``SetDatasetTags``, the ``records`` list in
``UpsertDatasetRecords`` and in the answer of ``GetDatasetRecords``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol.routes import Message, Route, RouteSet


class CreateDataset(Message):
    name: str = ""
    experiment_ids: list[str] = []
    tags: str | None = None


class DatasetPage(Message):
    """``GetDataset``: MLflow's message has a ``page_token`` (unused: the records have their own call)."""

    page_token: str | None = None


class SearchEvaluationDatasets(Message):
    experiment_ids: list[str] = []
    filter_string: str | None = None
    max_results: int | None = None
    order_by: list[str] = []
    page_token: str | None = None


class SetDatasetTags(Message):
    tags: str = ""


class UpsertDatasetRecords(Message):
    records: str = ""
    updated_by: str | None = None


class GetDatasetRecords(Message):
    max_results: int | None = None
    page_token: str | None = None


class DeleteDatasetRecords(Message):
    dataset_record_ids: list[str] = []


class DatasetExperiments(Message):
    """``AddDatasetToExperiments`` / ``RemoveDatasetFromExperiments`` (the id is in the path)."""

    dataset_id: str | None = None
    experiment_ids: list[str] = []


class DatasetResponse(msgspec.Struct):
    dataset: dict[str, Any] = {}


class SearchDatasetsResponse(msgspec.Struct):
    datasets: list[dict[str, Any]] = []
    next_page_token: str | None = None


class UpsertResponse(msgspec.Struct):
    inserted_count: int = 0
    updated_count: int = 0


class RecordsResponse(msgspec.Struct):
    records: str = "[]"
    next_page_token: str | None = None


class DeletedResponse(msgspec.Struct):
    deleted_count: int = 0


class ExperimentIdsResponse(msgspec.Struct):
    experiment_ids: list[str] = []


class Empty(msgspec.Struct):
    pass


# ------------------------------------------------------------------- endpoints

_DS = "/datasets"
_ONE = _DS + "/{dataset_id}"


def _r(name: str, method: str, path: str, req: type | None, resp: type = Empty) -> Route:
    return Route(name, method, path, req, resp, versions=("3.0",), tags=("datasets",))


DATASETS = RouteSet(
    _r("create_dataset", "POST", f"{_DS}/create", CreateDataset, DatasetResponse),
    _r("search_datasets", "POST", f"{_DS}/search", SearchEvaluationDatasets, SearchDatasetsResponse),
    # MLflow's proto declares the search over GET too (query parameters, lists repeated).
    _r("search_datasets_get", "GET", f"{_DS}/search", SearchEvaluationDatasets, SearchDatasetsResponse),
    _r("get_dataset", "GET", _ONE, DatasetPage, DatasetResponse),
    _r("delete_dataset", "DELETE", _ONE, None),
    _r("set_dataset_tags", "PATCH", f"{_ONE}/tags", SetDatasetTags, DatasetResponse),
    _r("delete_dataset_tag", "DELETE", f"{_ONE}/tags/{{key}}", None),
    _r("upsert_dataset_records", "POST", f"{_ONE}/records", UpsertDatasetRecords, UpsertResponse),
    _r("get_dataset_records", "GET", f"{_ONE}/records", GetDatasetRecords, RecordsResponse),
    _r("delete_dataset_records", "DELETE", f"{_ONE}/records", DeleteDatasetRecords, DeletedResponse),
    _r("get_dataset_experiment_ids", "GET", f"{_ONE}/experiment-ids", None, ExperimentIdsResponse),
    _r("add_dataset_to_experiments", "POST", f"{_ONE}/add-experiments", DatasetExperiments, DatasetResponse),
    _r(
        "remove_dataset_from_experiments",
        "POST",
        f"{_ONE}/remove-experiments",
        DatasetExperiments,
        DatasetResponse,
    ),
)
