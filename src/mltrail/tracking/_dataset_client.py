"""``MlflowClient``'s evaluation-dataset methods (MLflow 3.17's names and arguments).

Datasets live in the client's tracking store (the SQL database, or the server
over ``/api/3.0/mlflow/datasets/…``). The methods return
:class:`~mltrail.tracking.evaluation_dataset.EvaluationDataset`, bound to this
client, so ``merge_records`` and ``to_df`` use the same tracking URI.

Example::

    client = MlflowClient()
    ds = client.create_dataset("qa", experiment_id=["0"], tags={"team": "search"})
    page = client.search_datasets(experiment_ids=["0"], filter_string="name LIKE 'qa%'")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mltrail.entities import PagedList
from mltrail.store.datasets import SEARCH_DATASETS_MAX_RESULTS_DEFAULT
from mltrail.tracking.evaluation_dataset import CLIENT_SEARCH_DATASETS_MAX_RESULTS, EvaluationDataset

if TYPE_CHECKING:
    from mltrail.store.tracking import TrackingStore


def _ids(experiment_id: str | Sequence[str] | None) -> list[str] | None:
    if experiment_id is None:
        return None
    if isinstance(experiment_id, (str, int)):
        return [str(experiment_id)]
    return [str(e) for e in experiment_id]


class DatasetClientMixin:
    """Evaluation-dataset methods of :class:`~mltrail.tracking.client.MlflowClient`."""

    _store: TrackingStore

    def _wrap(self, entity: Any) -> EvaluationDataset:
        return EvaluationDataset(entity, self._store)

    def create_dataset(
        self, name: str, experiment_id: str | list[str] | None = None, tags: dict[str, Any] | None = None
    ) -> EvaluationDataset:
        """Create an empty dataset in the given experiment(s) (``tags['mlflow.user']`` is its creator)."""
        return self._wrap(self._store.create_dataset(name, tags=tags, experiment_ids=_ids(experiment_id)))

    def get_dataset(self, dataset_id: str) -> EvaluationDataset:
        """The dataset with this id (``RESOURCE_DOES_NOT_EXIST`` if there is none)."""
        return self._wrap(self._store.get_dataset(dataset_id))

    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset with its records and tags."""
        self._store.delete_dataset(dataset_id)

    def search_datasets(
        self,
        experiment_ids: list[str] | None = None,
        filter_string: str | None = None,
        max_results: int = CLIENT_SEARCH_DATASETS_MAX_RESULTS,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of datasets; filter on ``name``, ``created_by``, ``last_updated_by``, times and ``tags.<k>``."""
        page = self._store.search_datasets(
            experiment_ids=_ids(experiment_ids),
            filter_string=filter_string,
            max_results=max_results or SEARCH_DATASETS_MAX_RESULTS_DEFAULT,
            order_by=order_by,
            page_token=page_token,
        )
        return PagedList([self._wrap(d) for d in page], page.token)

    def set_dataset_tags(self, dataset_id: str, tags: dict[str, Any]) -> None:
        """Add or update tags; a ``None`` value removes that tag."""
        self._store.set_dataset_tags(dataset_id, tags)

    def delete_dataset_tag(self, dataset_id: str, key: str) -> None:
        """Remove one tag."""
        self._store.delete_dataset_tag(dataset_id, key)

    def add_dataset_to_experiments(self, dataset_id: str, experiment_ids: list[str]) -> EvaluationDataset:
        """Link the dataset to more experiments."""
        return self._wrap(self._store.add_dataset_to_experiments(dataset_id, _ids(experiment_ids) or []))

    def remove_dataset_from_experiments(
        self, dataset_id: str, experiment_ids: list[str]
    ) -> EvaluationDataset:
        """Unlink the dataset from experiments."""
        return self._wrap(self._store.remove_dataset_from_experiments(dataset_id, _ids(experiment_ids) or []))
