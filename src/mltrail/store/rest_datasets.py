"""Evaluation datasets over HTTP: MLflow 3's ``/api/3.0/mlflow/datasets/…`` endpoints.

Mixed into :class:`~mltrail.store.rest.RestTrackingStore` (the host gives
``http``, an :class:`~mltrail.store._http.HttpSession`), so the SDK works the same
against ``mltrail server`` and ``mlflow server``. Requests go through the
declarations in :mod:`mltrail.protocol.datasets`; tags and records travel as
JSON strings, as MLflow sends them.

Example::

    store = RestTrackingStore("http://127.0.0.1:5000")
    ds = store.create_dataset("qa", experiment_ids=["0"])
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "hi"}}])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mltrail.entities import PagedList
from mltrail.entities.dataset_record import DatasetRecord
from mltrail.entities.evaluation_dataset import EvaluationDataset
from mltrail.exceptions import invalid
from mltrail.protocol import datasets as w
from mltrail.protocol.datasets import DATASETS as D
from mltrail.store.datasets import (
    LOAD_DATASET_RECORDS_MAX_RESULTS,
    SEARCH_DATASETS_MAX_RESULTS_DEFAULT,
    check_max_results,
    normalize_tags,
)

if TYPE_CHECKING:
    from mltrail.store._http import HttpSession


class RestDatasetsMixin:
    """The dataset methods of the REST tracking store (see :class:`mltrail.store.datasets.DatasetStore`)."""

    http: HttpSession

    def create_dataset(
        self, name: str, tags: dict[str, Any] | None = None, experiment_ids: Sequence[str] | None = None
    ) -> EvaluationDataset:
        body = w.CreateDataset(
            name=name,
            experiment_ids=[str(e) for e in experiment_ids or []],
            tags=json.dumps(normalize_tags(tags)) if tags else None,
        )
        return EvaluationDataset.from_dict(self.http.send(D.create_dataset, body)["dataset"])

    def get_dataset(self, dataset_id: str) -> EvaluationDataset:
        return EvaluationDataset.from_dict(
            self.http.send(D.get_dataset, None, dataset_id=dataset_id)["dataset"]
        )

    def delete_dataset(self, dataset_id: str) -> None:
        self.http.send(D.delete_dataset, None, dataset_id=dataset_id)

    def search_datasets(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        max_results: int = SEARCH_DATASETS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        body = w.SearchEvaluationDatasets(
            experiment_ids=[str(e) for e in experiment_ids or []],
            filter_string=filter_string,
            max_results=check_max_results(max_results, SEARCH_DATASETS_MAX_RESULTS_DEFAULT),
            order_by=list(order_by or []),
            page_token=page_token,
        )
        data = self.http.send(D.search_datasets, body)
        return PagedList(
            [EvaluationDataset.from_dict(d) for d in data.get("datasets", [])], data.get("next_page_token")
        )

    def upsert_dataset_records(self, dataset_id: str, records: Sequence[dict[str, Any]]) -> dict[str, int]:
        try:
            body = w.UpsertDatasetRecords(records=json.dumps(list(records)))
        except (TypeError, ValueError, RecursionError) as err:  # as the SQL store says it
            raise invalid(f"Records are not JSON-serializable: {type(err).__name__}: {err}") from None
        data = self.http.send(D.upsert_dataset_records, body, dataset_id=dataset_id)
        return {"inserted": int(data.get("inserted_count", 0)), "updated": int(data.get("updated_count", 0))}

    def load_dataset_records(
        self, dataset_id: str, max_results: int | None = None, page_token: str | None = None
    ) -> tuple[list[DatasetRecord], str | None]:
        if max_results is not None:
            return self._records_page(dataset_id, max_results, page_token)
        records: list[DatasetRecord] = []
        token = page_token
        while True:
            page, token = self._records_page(dataset_id, LOAD_DATASET_RECORDS_MAX_RESULTS, token)
            records.extend(page)
            if not token:
                return records, None

    def _records_page(
        self, dataset_id: str, max_results: int, page_token: str | None
    ) -> tuple[list[DatasetRecord], str | None]:
        body = w.GetDatasetRecords(max_results=max_results, page_token=page_token or None)
        data = self.http.send(D.get_dataset_records, body, dataset_id=dataset_id)
        records = [DatasetRecord.from_dict(r) for r in json.loads(data.get("records") or "[]")]
        return records, data.get("next_page_token") or None

    def delete_dataset_records(self, dataset_id: str, dataset_record_ids: Sequence[str]) -> int:
        body = w.DeleteDatasetRecords(dataset_record_ids=[str(i) for i in dataset_record_ids])
        return int(
            self.http.send(D.delete_dataset_records, body, dataset_id=dataset_id).get("deleted_count", 0)
        )

    def set_dataset_tags(self, dataset_id: str, tags: dict[str, Any]) -> None:
        body = w.SetDatasetTags(tags=json.dumps(normalize_tags(tags, allow_none=True)))
        self.http.send(D.set_dataset_tags, body, dataset_id=dataset_id)

    def delete_dataset_tag(self, dataset_id: str, key: str) -> None:
        self.http.send(D.delete_dataset_tag, None, dataset_id=dataset_id, key=key)

    def get_dataset_experiment_ids(self, dataset_id: str) -> list[str]:
        data = self.http.send(D.get_dataset_experiment_ids, None, dataset_id=dataset_id)
        return [str(e) for e in data.get("experiment_ids", [])]

    def add_dataset_to_experiments(self, dataset_id: str, experiment_ids: Sequence[str]) -> EvaluationDataset:
        body = w.DatasetExperiments(dataset_id=dataset_id, experiment_ids=[str(e) for e in experiment_ids])
        data = self.http.send(D.add_dataset_to_experiments, body, dataset_id=dataset_id)
        return EvaluationDataset.from_dict(data["dataset"])

    def remove_dataset_from_experiments(
        self, dataset_id: str, experiment_ids: Sequence[str]
    ) -> EvaluationDataset:
        body = w.DatasetExperiments(dataset_id=dataset_id, experiment_ids=[str(e) for e in experiment_ids])
        data = self.http.send(D.remove_dataset_from_experiments, body, dataset_id=dataset_id)
        return EvaluationDataset.from_dict(data["dataset"])
