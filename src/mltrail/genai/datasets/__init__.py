"""``mltrail.genai.datasets``: evaluation datasets (MLflow 3's ``mlflow.genai.datasets``).

A dataset is a named set of evaluation records (``inputs``, ``expectations``,
``outputs``, ``tags``, ``source``) kept in the tracking database, linked to
experiments, versioned by a content ``digest``, and accepted by
``mltrail.genai.evaluate(data=...)``. The same calls work on an embedded database
and against ``mltrail server`` (or ``mlflow server``).

Example::

    from mltrail.genai.datasets import create_dataset, get_dataset, search_datasets

    ds = create_dataset(name="qa_v1", experiment_id=exp_id, tags={"team": "search"})
    ds.merge_records([{"inputs": {"question": "2+2?"}, "expectations": {"answer": "4"}}])
    same = get_dataset(name="qa_v1")
    mltrail.genai.evaluate(data=same, predict_fn=answer, scorers=[Correctness()])

See ``docs/genai-evaluation.md`` ("Evaluation datasets").
"""

from __future__ import annotations

import time
from typing import Any

from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.genai.datasets.entities import EvaluationDatasetVersion
from mltrail.tracking import context
from mltrail.tracking.evaluation_dataset import CLIENT_SEARCH_DATASETS_MAX_RESULTS, EvaluationDataset

__all__ = [
    "EvaluationDataset",
    "EvaluationDatasetVersion",
    "add_dataset_to_experiments",
    "create_dataset",
    "delete_dataset",
    "delete_dataset_tag",
    "get_dataset",
    "remove_dataset_from_experiments",
    "search_datasets",
    "set_dataset_tags",
]

#: With no filter, ``search_datasets`` looks at datasets created in the last 7 days (MLflow's default).
DEFAULT_SEARCH_WINDOW_MS = 7 * 24 * 60 * 60 * 1000


def create_dataset(
    name: str | None = None,
    experiment_id: str | list[str] | None = None,
    tags: dict[str, Any] | None = None,
) -> EvaluationDataset:
    """Create an empty dataset in ``experiment_id`` (one id or a list; default: the active experiment).

    Example::

        ds = create_dataset(name="qa_v1", experiment_id=["1", "2"], tags={"stage": "dev"})
    """
    if name is None:
        raise invalid("Parameter 'name' is required.")
    client = context.client()
    ids = [experiment_id] if isinstance(experiment_id, str) else experiment_id
    if ids is None:
        ids = [context.experiment_id(client)]
    user_tags = dict(tags or {})
    user_tags.setdefault("mlflow.user", _user())
    return client.create_dataset(name, experiment_id=ids, tags=user_tags)


def get_dataset(
    name: str | None = None,
    dataset_id: str | None = None,
    version: int | EvaluationDatasetVersion | None = None,
) -> EvaluationDataset:
    """The dataset with this id, or the only one with this name.

    Example::

        ds = get_dataset(dataset_id="d-4b5c...")
        ds = get_dataset(name="qa_v1")  # RESOURCE_DOES_NOT_EXIST / INVALID_PARAMETER_VALUE if 0 / 2+ match

    ``version`` (Databricks datasets in MLflow) raises ``NotImplementedError``, as in MLflow.
    """
    if version is not None:
        raise NotImplementedError("`version` is only supported for Databricks datasets.")
    if name is not None and dataset_id is not None:
        raise invalid("Cannot specify both 'name' and 'dataset_id'. Use only one parameter.")
    if name is None and dataset_id is None:
        raise invalid("Either 'name' or 'dataset_id' must be provided.")
    client = context.client()
    if dataset_id is not None:
        return client.get_dataset(dataset_id)
    quoted = "'" + str(name).replace("\\", "\\\\").replace("'", "\\'") + "'"
    found = client.search_datasets(
        filter_string=f"name = {quoted}", max_results=2, order_by=["created_time DESC"]
    )
    if not found:
        raise MltrailException(f"Dataset with name '{name}' not found.", error_code=RESOURCE_DOES_NOT_EXIST)
    if len(found) > 1:
        raise invalid(
            f"Multiple datasets found with name '{name}'. Use 'dataset_id' for unambiguous retrieval."
        )
    return found[0]


def delete_dataset(name: str | None = None, dataset_id: str | None = None) -> None:
    """Delete a dataset, its records and tags (by ``dataset_id``; ``name`` is Databricks-only in MLflow)."""
    if name is not None:
        raise invalid(
            "Parameter 'name' is only supported in Databricks environments. Use 'dataset_id' instead."
        )
    if dataset_id is None:
        raise invalid("Parameter 'dataset_id' is required. Use search_datasets() to find it by name.")
    context.client().delete_dataset(dataset_id)


def search_datasets(
    experiment_ids: str | list[str] | None = None,
    filter_string: str | None = None,
    max_results: int | None = None,
    order_by: list[str] | None = None,
) -> list[EvaluationDataset]:
    """Datasets matching the filter, every page read (up to ``max_results``).

    As in MLflow, no ``filter_string`` means datasets created in the last 7 days,
    and no ``order_by`` means newest first. Filter on ``name``, ``created_by``,
    ``last_updated_by``, ``created_time``, ``last_update_time``, ``digest`` and
    ``tags.<key>``, with ``AND``, ``OR`` and parentheses.

    Example::

        search_datasets(experiment_ids="1", filter_string="tags.stage = 'prod' AND name LIKE 'qa%'")
    """
    ids = [experiment_ids] if isinstance(experiment_ids, str) else experiment_ids
    if not filter_string:
        filter_string = f"created_time >= {int(time.time() * 1000) - DEFAULT_SEARCH_WINDOW_MS}"
    if order_by is None:
        order_by = ["created_time DESC"]
    client = context.client()
    out: list[EvaluationDataset] = []
    token = None
    while max_results is None or len(out) < max_results:
        want = CLIENT_SEARCH_DATASETS_MAX_RESULTS if max_results is None else max_results - len(out)
        page = client.search_datasets(ids, filter_string, min(want, 1000), order_by, token)
        out.extend(page)
        token = page.token
        if not token:
            break
    return out


def set_dataset_tags(dataset_id: str, tags: dict[str, Any]) -> None:
    """Add or update tags of a dataset; a ``None`` value removes that tag."""
    context.client().set_dataset_tags(dataset_id, tags)


def delete_dataset_tag(dataset_id: str, key: str) -> None:
    """Remove one tag of a dataset."""
    context.client().delete_dataset_tag(dataset_id, key)


def add_dataset_to_experiments(dataset_id: str, experiment_ids: list[str]) -> EvaluationDataset:
    """Link a dataset to more experiments."""
    return context.client().add_dataset_to_experiments(dataset_id, experiment_ids)


def remove_dataset_from_experiments(dataset_id: str, experiment_ids: list[str]) -> EvaluationDataset:
    """Unlink a dataset from experiments."""
    return context.client().remove_dataset_from_experiments(dataset_id, experiment_ids)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers) and no USER/LOGNAME variables
        return "unknown"
