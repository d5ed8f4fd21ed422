"""MLflow 3's evaluation-dataset endpoints (``/api/3.0/mlflow/datasets/…``) on the tracking store.

What the official client's ``mlflow.genai.datasets`` calls: create, search, get,
delete, tags, records (merge, page, delete) and experiment links. Bad input
(tags or records that are not the JSON MLflow sends, unknown fields in a record,
a bad page token) is a 400 ``INVALID_PARAMETER_VALUE`` and writes nothing; an
unknown dataset is a 404 ``RESOURCE_DOES_NOT_EXIST``.
"""

from __future__ import annotations

import json
from typing import Any

from mltrail.exceptions import invalid
from mltrail.protocol.datasets import DATASETS, SearchEvaluationDatasets
from mltrail.server.auth.dataset_rules import AUTH_RULES  # noqa: F401 (the permission rules, see auth.rules)
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.wire import page_json
from mltrail.store.datasets import LOAD_DATASET_RECORDS_MAX_RESULTS


def _dataset_id(call: Call) -> str:
    # Control characters in path parameters were refused by the dispatcher (server/dispatch.py).
    return call.path_params["dataset_id"]


def _json_field(text: str | None, field: str, kind: type) -> Any:
    """A JSON-encoded field (MLflow sends tags and records as JSON strings)."""
    if text is None or text == "":
        return None
    try:
        value = json.loads(text)
    except ValueError as err:
        raise invalid(f"Invalid value for '{field}': not valid JSON ({err})") from None
    except RecursionError:
        raise invalid(f"Invalid value for '{field}': nested too deeply") from None
    if not isinstance(value, kind):
        raise invalid(f"Invalid value for '{field}': expected a JSON {'object' if kind is dict else 'array'}")
    return value


def create(call: Call) -> dict[str, Any]:
    b = call.body
    if not b.name:
        raise invalid("Missing value for required parameter 'name'.")
    tags = _json_field(b.tags, "tags", dict)
    dataset = call.tracking_store.create_dataset(b.name, tags=tags, experiment_ids=b.experiment_ids or None)
    return {"dataset": dataset.to_dict()}


def search(call: Call) -> dict[str, Any]:
    b: SearchEvaluationDatasets = call.body
    page = call.tracking_store.search_datasets(
        experiment_ids=b.experiment_ids or None,
        filter_string=b.filter_string or None,
        max_results=b.max_results or 1000,
        order_by=b.order_by or None,
        page_token=b.page_token or None,
    )
    return page_json("datasets", page, lambda d: d.to_dict())


def get(call: Call) -> dict[str, Any]:
    return {"dataset": call.tracking_store.get_dataset(_dataset_id(call)).to_dict()}


def delete(call: Call) -> dict[str, Any]:
    call.tracking_store.delete_dataset(_dataset_id(call))
    return {}


def set_tags(call: Call) -> dict[str, Any]:
    tags = _json_field(call.body.tags, "tags", dict)
    if tags is None:
        raise invalid("Missing value for required parameter 'tags'.")
    store = call.tracking_store
    store.set_dataset_tags(_dataset_id(call), tags)
    return {"dataset": store.get_dataset(_dataset_id(call)).to_dict()}


def delete_tag(call: Call) -> dict[str, Any]:
    call.tracking_store.delete_dataset_tag(_dataset_id(call), call.path_params["key"])
    return {}


def upsert_records(call: Call) -> dict[str, Any]:
    records = _json_field(call.body.records, "records", list)
    if records is None:
        raise invalid("Missing value for required parameter 'records'.")
    counts = call.tracking_store.upsert_dataset_records(_dataset_id(call), records)
    return {"inserted_count": counts["inserted"], "updated_count": counts["updated"]}


def get_records(call: Call) -> dict[str, Any]:
    b = call.body
    records, token = call.tracking_store.load_dataset_records(
        _dataset_id(call),
        max_results=b.max_results or LOAD_DATASET_RECORDS_MAX_RESULTS,
        page_token=b.page_token,
    )
    out: dict[str, Any] = {"records": json.dumps([r.to_dict() for r in records])}
    if token:
        out["next_page_token"] = token
    return out


def delete_records(call: Call) -> dict[str, Any]:
    ids = call.body.dataset_record_ids
    if not ids:
        raise invalid("Missing value for required parameter 'dataset_record_ids'.")
    return {"deleted_count": call.tracking_store.delete_dataset_records(_dataset_id(call), ids)}


def experiment_ids(call: Call) -> dict[str, Any]:
    return {"experiment_ids": call.tracking_store.get_dataset_experiment_ids(_dataset_id(call))}


def add_experiments(call: Call) -> dict[str, Any]:
    if not call.body.experiment_ids:
        raise invalid("Missing value for required parameter 'experiment_ids'.")
    dataset = call.tracking_store.add_dataset_to_experiments(_dataset_id(call), call.body.experiment_ids)
    return {"dataset": dataset.to_dict()}


def remove_experiments(call: Call) -> dict[str, Any]:
    if not call.body.experiment_ids:
        raise invalid("Missing value for required parameter 'experiment_ids'.")
    dataset = call.tracking_store.remove_dataset_from_experiments(_dataset_id(call), call.body.experiment_ids)
    return {"dataset": dataset.to_dict()}


D = DATASETS
_W = {"write": True}
_R = {"db_only": True}
ENDPOINTS: list[Endpoint] = [
    implement(D.create_dataset, create, **_W),
    implement(D.search_datasets, search, **_R),
    implement(D.search_datasets_get, search, **_R),
    implement(D.get_dataset, get, **_R),
    implement(D.delete_dataset, delete, **_W),
    implement(D.set_dataset_tags, set_tags, **_W),
    implement(D.delete_dataset_tag, delete_tag, **_W),
    implement(D.upsert_dataset_records, upsert_records, **_W),
    implement(D.get_dataset_records, get_records, **_R),
    implement(D.delete_dataset_records, delete_records, **_W),
    implement(D.get_dataset_experiment_ids, experiment_ids, **_R),
    implement(D.add_dataset_to_experiments, add_experiments, **_W),
    implement(D.remove_dataset_from_experiments, remove_experiments, **_W),
]
