"""Label schemas and review queues (``/api/3.0/mlflow/label-schemas/…``, ``/review-queues/…``).

What the official client's ``mlflow.genai.label_schemas`` and ``mlflow.genai.review_queues``
call, and what the web UI's review page (``#/experiments/<id>/review``) reads. The data
lives in :class:`mltrail.store.sql.review.SqlReviewStore` on the tracking database; answers
are MLflow's messages as JSON. Bad input is a 400 ``INVALID_PARAMETER_VALUE`` and writes
nothing; an unknown experiment, schema, queue or item is a 404 ``RESOURCE_DOES_NOT_EXIST``;
a taken name is ``RESOURCE_ALREADY_EXISTS``.

As in MLflow, a queue's owner (``created_by``) and an item's ``completed_by`` come from the
logged-in user when logins are on (the client's values are ignored, so nobody can write
in another's name); without logins the client's ``completed_by`` is kept.

Permissions (with logins on): reading needs READ on the experiment, every change (schemas,
queues, items, statuses) needs EDIT (``can_update``) on it; a reviewer records answers
as assessments on the trace, which needs EDIT as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mltrail.protocol.review import LABEL_SCHEMAS as LS
from mltrail.protocol.review import REVIEW_QUEUES as RQ
from mltrail.server.auth.rules import READ, UPDATE, Rule, on_experiments
from mltrail.server.routing import Call, Endpoint, implement, required
from mltrail.store.sql.review import SqlReviewStore


def review_store(call: Call) -> SqlReviewStore:
    """The app's review store."""
    return call.side_store("review_store", SqlReviewStore)


def _page(field: str, rows: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {field: rows}
    if token:
        out["next_page_token"] = token
    return out


# ------------------------------------------------------------------ label schemas
def create_schema(call: Call) -> dict[str, Any]:
    b = call.body
    schema = review_store(call).create_label_schema(
        required(b.experiment_id, "experiment_id"),
        required(b.name, "name"),
        b.type,
        b.input,
        instruction=b.instruction,
        enable_comment=bool(b.enable_comment),
        created_by=call.user,
    )
    return {"label_schema": schema}


def get_schema(call: Call) -> dict[str, Any]:
    return {"label_schema": review_store(call).get_label_schema(required(call.body.schema_id, "schema_id"))}


def get_schema_by_name(call: Call) -> dict[str, Any]:
    b = call.body
    found = review_store(call).get_label_schema_by_name(
        required(b.experiment_id, "experiment_id"), required(b.name, "name")
    )
    return {"label_schema": found}


def list_schemas(call: Call) -> dict[str, Any]:
    b = call.body
    rows, token = review_store(call).list_label_schemas(
        required(b.experiment_id, "experiment_id"), b.max_results, b.page_token
    )
    return _page("label_schemas", rows, token)


def update_schema(call: Call) -> dict[str, Any]:
    b = call.body
    updated = review_store(call).update_label_schema(
        required(b.schema_id, "schema_id"),
        name=b.name,
        instruction=b.instruction,
        enable_comment=b.enable_comment,
        input=b.input,
    )
    return {"label_schema": updated}


def delete_schema(call: Call) -> dict[str, Any]:
    review_store(call).delete_label_schema(required(call.body.schema_id, "schema_id"))
    return {}


# ------------------------------------------------------------------ review queues
def create_queue(call: Call) -> dict[str, Any]:
    b = call.body
    queue = review_store(call).create_review_queue(
        required(b.experiment_id, "experiment_id"),
        required(b.name, "name"),
        b.queue_type,
        users=list(b.users),
        schema_ids=list(b.schema_ids),
        created_by=call.user,
    )
    return {"review_queue": queue}


def get_or_create_user(call: Call) -> dict[str, Any]:
    b = call.body
    queue = review_store(call).get_or_create_user_queue(
        required(b.experiment_id, "experiment_id"), required(b.user, "user")
    )
    return {"review_queue": queue}


def get_queue(call: Call) -> dict[str, Any]:
    return {"review_queue": review_store(call).get_review_queue(required(call.body.queue_id, "queue_id"))}


def get_queue_by_name(call: Call) -> dict[str, Any]:
    b = call.body
    found = review_store(call).get_review_queue_by_name(
        required(b.experiment_id, "experiment_id"), required(b.name, "name")
    )
    return {"review_queue": found}


def list_queues(call: Call) -> dict[str, Any]:
    b = call.body
    rows, token = review_store(call).list_review_queues(
        required(b.experiment_id, "experiment_id"), b.user, b.item_id, b.max_results, b.page_token
    )
    return _page("review_queues", rows, token)


def update_queue(call: Call) -> dict[str, Any]:
    b = call.body
    updated = review_store(call).update_review_queue(
        required(b.queue_id, "queue_id"),
        name=b.name,
        new_owner=b.new_owner,
        users=list(b.users) if b.update_users else None,
        schema_ids=list(b.schema_ids) if b.update_schema_ids else None,
    )
    return {"review_queue": updated}


def delete_queue(call: Call) -> dict[str, Any]:
    review_store(call).delete_review_queue(required(call.body.queue_id, "queue_id"))
    return {}


def add_items(call: Call) -> dict[str, Any]:
    b = call.body
    items = review_store(call).add_items(required(b.queue_id, "queue_id"), list(b.item_ids), b.item_type)
    return {"items": items}


def remove_items(call: Call) -> dict[str, Any]:
    b = call.body
    review_store(call).remove_items(required(b.queue_id, "queue_id"), list(b.item_ids))
    return {}


def list_items(call: Call) -> dict[str, Any]:
    b = call.body
    rows, token = review_store(call).list_items(
        required(b.queue_id, "queue_id"), b.status, b.max_results, b.page_token
    )
    return _page("items", rows, token)


def set_status(call: Call) -> dict[str, Any]:
    b = call.body
    completed_by = b.completed_by
    user = call.user
    if user is not None:  # logins on: the caller is who completed it (reopening clears it)
        pending = str(b.status).upper() in ("PENDING", "1")
        completed_by = None if pending else user
    item = review_store(call).set_item_status(
        required(b.queue_id, "queue_id"), required(b.item_id, "item_id"), b.status, completed_by
    )
    return {"item": item}


ENDPOINTS: list[Endpoint] = [
    implement(LS.create_label_schema, create_schema, write=True),
    implement(LS.get_label_schema, get_schema, db_only=True),
    implement(LS.get_label_schema_by_name, get_schema_by_name, db_only=True),
    implement(LS.list_label_schemas, list_schemas, write=True),
    implement(LS.update_label_schema, update_schema, write=True),
    implement(LS.delete_label_schema, delete_schema, write=True),
    implement(RQ.create_review_queue, create_queue, write=True),
    implement(RQ.get_or_create_user_queue, get_or_create_user, write=True),
    implement(RQ.get_review_queue, get_queue, db_only=True),
    implement(RQ.get_review_queue_by_name, get_queue_by_name, db_only=True),
    implement(RQ.list_review_queues, list_queues, db_only=True),
    implement(RQ.update_review_queue, update_queue, write=True),
    implement(RQ.delete_review_queue, delete_queue, write=True),
    implement(RQ.add_items_to_review_queue, add_items, write=True),
    implement(RQ.remove_items_from_review_queue, remove_items, write=True),
    implement(RQ.list_review_queue_items, list_items, db_only=True),
    implement(RQ.set_review_queue_item_status, set_status, write=True),
]


# ------------------------------------------------------------------- permissions
def _of_body(call: Call) -> Iterable[str]:
    return [str(required(call.body.experiment_id, "experiment_id"))]


def _of_schema(call: Call) -> Iterable[str]:
    """The experiment of ``schema_id`` (an unknown schema names none: the handler answers 404)."""
    found = review_store(call).schema_experiment(str(required(call.body.schema_id, "schema_id")))
    return [found] if found else []


def _of_queue(call: Call) -> Iterable[str]:
    found = review_store(call).queue_experiment(str(required(call.body.queue_id, "queue_id")))
    return [found] if found else []


_P = "/review-queues/"
AUTH_RULES: dict[tuple[str, str], Rule] = {
    ("/label-schemas/create", "POST"): on_experiments(UPDATE, _of_body),
    ("/label-schemas/get", "GET"): on_experiments(READ, _of_schema),
    ("/label-schemas/get-by-name", "GET"): on_experiments(READ, _of_body),
    ("/label-schemas/list", "GET"): on_experiments(READ, _of_body),
    ("/label-schemas/update", "PATCH"): on_experiments(UPDATE, _of_schema),
    ("/label-schemas/delete", "DELETE"): on_experiments(UPDATE, _of_schema),
    (_P + "create", "POST"): on_experiments(UPDATE, _of_body),
    (_P + "get-or-create-user", "POST"): on_experiments(UPDATE, _of_body),
    (_P + "get", "GET"): on_experiments(READ, _of_queue),
    (_P + "get-by-name", "GET"): on_experiments(READ, _of_body),
    (_P + "list", "GET"): on_experiments(READ, _of_body),
    (_P + "update", "POST"): on_experiments(UPDATE, _of_queue),
    (_P + "delete", "POST"): on_experiments(UPDATE, _of_queue),
    (_P + "items/add", "POST"): on_experiments(UPDATE, _of_queue),
    (_P + "items/remove", "POST"): on_experiments(UPDATE, _of_queue),
    (_P + "items/list", "GET"): on_experiments(READ, _of_queue),
    (_P + "items/set-status", "POST"): on_experiments(UPDATE, _of_queue),
}
