"""The evaluation-dataset part of the tracking store interface (MLflow 3's dataset methods).

:class:`~mltrail.store.tracking.TrackingStore` includes :class:`DatasetStore`, so
every tracking store (SQL: :mod:`mltrail.store.sql.datasets`; REST:
:mod:`mltrail.store.rest_datasets`) serves datasets. Names and arguments follow
MLflow's ``AbstractStore`` (``create_dataset``, ``upsert_dataset_records``, …);
``load_dataset_records`` is MLflow's ``_load_dataset_records``.

Records are dicts as MLflow's ``merge_records`` sends them: ``inputs`` (required,
a JSON object), and optionally ``outputs``, ``expectations`` (an object),
``tags`` (an object of strings) and ``source`` (``{"source_type", "source_data"}``).
A record whose inputs equal a stored record's (same keys and values) is merged
into it: expectations and tags are updated key by key, outputs replaced.

Example::

    ds = store.create_dataset("qa", tags={"team": "search"}, experiment_ids=["1"])
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "2+2"}, "expectations": {"a": "4"}}])
    records, token = store.load_dataset_records(ds.dataset_id, max_results=100)
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from mltrail.entities import PagedList
from mltrail.entities.dataset_record import DatasetRecord, DatasetRecordSource
from mltrail.entities.evaluation_dataset import EvaluationDataset
from mltrail.exceptions import invalid
from mltrail.search.grammar import Grammar
from mltrail.search.nodes import ATTRIBUTE, TAG

#: MLflow's defaults: a dataset search page, and a page of records.
SEARCH_DATASETS_MAX_RESULTS_DEFAULT = 1000
LOAD_DATASET_RECORDS_MAX_RESULTS = 1000
MAX_RESULTS_THRESHOLD = 50000
#: The tag whose value names the user (MLflow's ``mlflow.user``): sets created_by / last_updated_by.
USER_TAG = "mlflow.user"
MAX_NAME_LENGTH = 255
MAX_TAG_KEY_LENGTH = 255
MAX_TAG_VALUE_LENGTH = 5000
#: Width of ``created_by`` / ``last_updated_by`` and of a record's ``source_id`` (MLflow's 255).
MAX_USER_LENGTH = 255
#: Experiment ids are 32-bit integers in the database.
MAX_EXPERIMENT_ID = 2**31 - 1

#: What ``search_datasets`` filters and orders by (MLflow's ``SearchEvaluationDatasetsUtils``,
#: plus ``dataset_id`` and ``digest``, and OR / parentheses as every mltrail search).
EVALUATION_DATASETS = Grammar(
    name="evaluation datasets",
    entities=frozenset({TAG, ATTRIBUTE}),
    string_attributes=frozenset({"name", "created_by", "last_updated_by", "dataset_id", "digest"}),
    numeric_attributes=frozenset({"created_time", "last_update_time"}),
    order_attributes=frozenset({"name", "created_time", "last_update_time"}),
    order_entities=frozenset({ATTRIBUTE}),
)


def validate_dataset_name(name: Any) -> str:
    """A dataset name: a non-empty string of at most 255 characters."""
    if not isinstance(name, str) or not name.strip():
        raise invalid("Missing value for required parameter 'name': a dataset needs a non-empty name.")
    if len(name) > MAX_NAME_LENGTH:
        raise invalid(f"Dataset name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}.")
    return name


def normalize_tags(tags: Any, allow_none: bool = False) -> dict[str, str | None]:
    """Tags as ``{str: str}`` (values turned into text as MLflow does; ``None`` kept when allowed)."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise invalid(f"Invalid tags {tags!r}: expected a JSON object of key/value pairs")
    out: dict[str, str | None] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key:
            raise invalid(f"Invalid tag key {key!r}: expected a non-empty string")
        if len(key) > MAX_TAG_KEY_LENGTH:
            raise invalid(f"Tag key '{key[:40]}...' is longer than {MAX_TAG_KEY_LENGTH} characters")
        if value is None:
            if not allow_none:
                raise invalid(f"Invalid value for tag '{key}': null")
            out[key] = None
            continue
        text = (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if isinstance(value, (dict, list))
            else str(value)
        )
        if len(text) > MAX_TAG_VALUE_LENGTH:
            raise invalid(f"Value of tag '{key}' is longer than {MAX_TAG_VALUE_LENGTH} characters")
        out[key] = text
    return out


def check_max_results(max_results: Any, default: int) -> int:
    """``max_results`` as an int in 1..50000 (``None`` or 0 is ``default``)."""
    if max_results is None or max_results == 0:
        return default
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 0:
        raise invalid(
            f"Invalid value {max_results!r} for parameter 'max_results': expected a positive integer"
        )
    if max_results > MAX_RESULTS_THRESHOLD:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results': at most {MAX_RESULTS_THRESHOLD}"
        )
    return max_results


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def input_hash(inputs: dict[str, Any]) -> str:
    """The key records are deduplicated by: SHA-256 of the inputs' canonical JSON."""
    return hashlib.sha256(_canonical(inputs).encode("utf-8")).hexdigest()


def content_hash(inputs: Any, outputs: Any, expectations: Any) -> str:
    """The hash of what a record says (inputs, outputs, expectations): the digest is built from these."""
    body = _canonical({"inputs": inputs, "outputs": outputs, "expectations": expectations})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def dataset_digest(content_hashes: Sequence[str]) -> str:
    """The dataset's digest: 8 hex characters (as MLflow's) over its records' sorted content hashes."""
    h = hashlib.sha256()
    for item in sorted(content_hashes):
        h.update(item.encode("ascii"))
    return h.hexdigest()[:8]


def clean_record(record: Any, index: int) -> dict[str, Any]:
    """One record dict checked (400 on bad input) and normalized; ``source`` parsed."""
    where = f"Record {index}"
    if not isinstance(record, dict):
        raise invalid(f"{where} is not a JSON object: each record must be a dictionary")
    if "inputs" not in record:
        raise invalid(f"{where} has no 'inputs' field: each record must have one")
    unknown = set(record) - {"inputs", "outputs", "expectations", "tags", "source"}
    if unknown:
        raise invalid(f"{where} has unknown field(s) {sorted(unknown)}")
    inputs = record["inputs"]
    if not isinstance(inputs, dict):
        raise invalid(f"{where}: 'inputs' must be a JSON object, got {type(inputs).__name__}")
    expectations = record.get("expectations")
    if expectations is not None and not isinstance(expectations, dict):
        raise invalid(f"{where}: 'expectations' must be a JSON object, got {type(expectations).__name__}")
    try:
        json.dumps(record, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as err:
        raise invalid(f"{where} is not JSON-serializable: {type(err).__name__}: {err}") from None
    source = record.get("source")
    parsed = DatasetRecordSource.from_dict(source) if source is not None else None
    if parsed is not None and len(parsed.source_id or "") > MAX_USER_LENGTH:
        raise invalid(f"{where}: the source's id is longer than {MAX_USER_LENGTH} characters")
    return {
        "inputs": inputs,
        "has_outputs": "outputs" in record,
        "outputs": record.get("outputs"),
        "expectations": expectations,
        "tags": normalize_tags(record.get("tags")),
        "source": parsed,
    }


def infer_field_type(value: Any) -> str:
    """MLflow's schema type names for a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def update_schema(existing: str | None, records: Sequence[dict[str, Any]]) -> str | None:
    """The dataset's ``schema`` JSON with the fields of ``records`` added (MLflow's layout)."""
    if not records and not existing:
        return existing
    schema = (
        json.loads(existing)
        if existing
        else {"inputs": {}, "outputs": {}, "expectations": {}, "version": "1.0"}
    )
    for rec in records:
        for key, value in rec["inputs"].items():
            schema["inputs"].setdefault(key, infer_field_type(value))
        outputs = rec["outputs"]
        if outputs is not None:
            if isinstance(outputs, dict):
                if not isinstance(schema["outputs"], dict):
                    schema["outputs"] = {}
                for key, value in outputs.items():
                    schema["outputs"].setdefault(key, infer_field_type(value))
            elif not schema["outputs"]:
                schema["outputs"] = infer_field_type(outputs)
        for key, value in (rec["expectations"] or {}).items():
            schema["expectations"].setdefault(key, infer_field_type(value))
    return json.dumps(schema)


class DatasetStore(ABC):
    """Evaluation datasets: metadata, tags, experiments and records."""

    @abstractmethod
    def create_dataset(
        self, name: str, tags: dict[str, Any] | None = None, experiment_ids: Sequence[str] | None = None
    ) -> EvaluationDataset:
        """Create an empty dataset; ``tags['mlflow.user']`` becomes ``created_by``."""

    @abstractmethod
    def get_dataset(self, dataset_id: str) -> EvaluationDataset:
        """The dataset with its tags and experiment ids; ``RESOURCE_DOES_NOT_EXIST`` if unknown."""

    @abstractmethod
    def delete_dataset(self, dataset_id: str) -> None:
        """Delete a dataset with its records, tags and links (nothing happens for an unknown id, as in MLflow)."""

    @abstractmethod
    def search_datasets(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        max_results: int = SEARCH_DATASETS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """A page of datasets (in any of ``experiment_ids`` when given), newest first by default."""

    @abstractmethod
    def upsert_dataset_records(self, dataset_id: str, records: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Insert new records and merge ones whose inputs are stored; ``{"inserted": n, "updated": m}``."""

    @abstractmethod
    def load_dataset_records(
        self, dataset_id: str, max_results: int | None = None, page_token: str | None = None
    ) -> tuple[list[DatasetRecord], str | None]:
        """A page of records in insertion order and the next page's token; every record when ``max_results`` is None."""

    @abstractmethod
    def delete_dataset_records(self, dataset_id: str, dataset_record_ids: Sequence[str]) -> int:
        """Delete records by id; returns how many were deleted."""

    @abstractmethod
    def set_dataset_tags(self, dataset_id: str, tags: dict[str, Any]) -> None:
        """Add or update tags; a ``None`` value deletes that tag."""

    @abstractmethod
    def delete_dataset_tag(self, dataset_id: str, key: str) -> None:
        """Delete one tag (nothing happens when it is not set)."""

    @abstractmethod
    def get_dataset_experiment_ids(self, dataset_id: str) -> list[str]:
        """The ids of the experiments the dataset belongs to."""

    @abstractmethod
    def add_dataset_to_experiments(self, dataset_id: str, experiment_ids: Sequence[str]) -> EvaluationDataset:
        """Link the dataset to more experiments (each must exist)."""

    @abstractmethod
    def remove_dataset_from_experiments(
        self, dataset_id: str, experiment_ids: Sequence[str]
    ) -> EvaluationDataset:
        """Unlink the dataset from experiments (ids it is not linked to are ignored)."""
