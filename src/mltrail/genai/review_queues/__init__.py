"""``mltrail.genai.review_queues``: MLflow 3.14's review queues (traces for people to label).

A queue belongs to an experiment; it holds traces (items), the users it is assigned to
and its questions (label schemas). Reviewers answer by logging assessments on the trace
(``mltrail.log_feedback`` / ``log_expectation``, or the web UI's review page
``#/experiments/<id>/review``), then mark the item complete. Works on a server URI
(REST) and on a database URI.

Example::

    from mltrail.genai import review_queues

    queue = review_queues.create_review_queue("triage", queue_type="custom", users=["ann"], schema_ids=[schema_id])
    review_queues.add_items_to_review_queue(queue.queue_id, item_ids=[trace_id])
    review_queues.set_review_queue_item_status(queue.queue_id, item_id=trace_id, status="complete", completed_by="ann")

See docs/review.md.
"""

from __future__ import annotations

from typing import Any, Literal

from mltrail.entities.tracking import PagedList
from mltrail.exceptions import invalid
from mltrail.genai._review_backend import ReviewBackend, resolve_experiment
from mltrail.genai.review_queues.review_queues import (
    ReviewItemType,
    ReviewQueue,
    ReviewQueueItem,
    ReviewQueueType,
    ReviewStatus,
)
from mltrail.protocol.review import REVIEW_QUEUES as RQ
from mltrail.protocol.review import (
    CreateReviewQueue,
    GetOrCreateUserQueue,
    ListReviewQueueItems,
    ListReviewQueues,
    QueueItems,
    ReviewQueueByName,
    ReviewQueueRef,
    SetReviewQueueItemStatus,
    UpdateReviewQueue,
)

__all__ = [
    "ReviewItemType",
    "ReviewQueue",
    "ReviewQueueItem",
    "ReviewQueueType",
    "ReviewStatus",
    "add_items_to_review_queue",
    "create_review_queue",
    "delete_review_queue",
    "get_or_create_user_queue",
    "get_review_queue",
    "list_review_queue_items",
    "list_review_queues",
    "remove_items_from_review_queue",
    "set_review_queue_item_status",
    "update_review_queue",
]


def _queue(wire: dict[str, Any]) -> ReviewQueue:
    return ReviewQueue.from_wire(wire["review_queue"])


def create_review_queue(
    name: str,
    *,
    queue_type: Literal["user", "custom"],
    users: list[str] | None = None,
    schema_ids: list[str] | None = None,
    experiment_id: str | None = None,
) -> ReviewQueue:
    """Create a queue in ``experiment_id`` (default: the current experiment); names are unique without case."""
    exp = resolve_experiment(experiment_id)
    kind = str(queue_type).upper()
    users_l, ids_l = list(users or []), list(schema_ids or [])
    body = CreateReviewQueue(experiment_id=exp, name=name, queue_type=kind, users=users_l, schema_ids=ids_l)
    return _queue(
        ReviewBackend().call(
            RQ.create_review_queue,
            body,
            lambda s: {"review_queue": s.create_review_queue(exp, name, kind, users_l, ids_l)},
        )
    )


def get_or_create_user_queue(user: str, *, experiment_id: str | None = None) -> ReviewQueue:
    """The user's own queue in the experiment, created when absent."""
    exp = resolve_experiment(experiment_id)
    body = GetOrCreateUserQueue(experiment_id=exp, user=user)
    return _queue(
        ReviewBackend().call(
            RQ.get_or_create_user_queue,
            body,
            lambda s: {"review_queue": s.get_or_create_user_queue(exp, user)},
        )
    )


def get_review_queue(
    queue_id: str | None = None, *, name: str | None = None, experiment_id: str | None = None
) -> ReviewQueue:
    """A queue by ``queue_id``, or by ``name`` in ``experiment_id`` (default: the current experiment)."""
    if (queue_id is None) == (name is None):
        raise invalid("Provide exactly one of `queue_id` or `name`.")
    backend = ReviewBackend()
    if queue_id is not None:
        return _queue(
            backend.call(
                RQ.get_review_queue,
                ReviewQueueRef(queue_id=queue_id),
                lambda s: {"review_queue": s.get_review_queue(queue_id)},
            )
        )
    exp = resolve_experiment(experiment_id)
    body = ReviewQueueByName(experiment_id=exp, name=str(name))
    return _queue(
        backend.call(
            RQ.get_review_queue_by_name,
            body,
            lambda s: {"review_queue": s.get_review_queue_by_name(exp, str(name))},
        )
    )


def list_review_queues(
    *,
    user: str | None = None,
    experiment_id: str | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> PagedList:
    """One page of the experiment's queues, newest first; only ``user``'s when given."""
    exp = resolve_experiment(experiment_id)

    def local(s: Any) -> dict[str, Any]:
        rows, token = s.list_review_queues(exp, user, None, max_results, page_token)
        return {"review_queues": rows, "next_page_token": token or ""}

    body = ListReviewQueues(experiment_id=exp, user=user, max_results=max_results, page_token=page_token)
    wire = ReviewBackend().call(RQ.list_review_queues, body, local)
    return PagedList(
        [ReviewQueue.from_wire(w) for w in wire.get("review_queues", [])], wire.get("next_page_token") or None
    )


def update_review_queue(
    queue_id: str,
    *,
    name: str | None = None,
    new_owner: str | None = None,
    users: list[str] | None = None,
    schema_ids: list[str] | None = None,
) -> ReviewQueue:
    """Change a custom queue's name, owner, users or questions (``None``: unchanged; ``[]`` clears)."""
    body = UpdateReviewQueue(
        queue_id=queue_id,
        name=name,
        new_owner=new_owner,
        update_users=users is not None,
        users=list(users or []),
        update_schema_ids=schema_ids is not None,
        schema_ids=list(schema_ids or []),
    )
    return _queue(
        ReviewBackend().call(
            RQ.update_review_queue,
            body,
            lambda s: {"review_queue": s.update_review_queue(queue_id, name, new_owner, users, schema_ids)},
        )
    )


def delete_review_queue(queue_id: str) -> None:
    """Delete a queue (nothing happens when it does not exist); assessments on its traces stay."""
    ReviewBackend().call(
        RQ.delete_review_queue, ReviewQueueRef(queue_id=queue_id), lambda s: s.delete_review_queue(queue_id)
    )


def add_items_to_review_queue(queue_id: str, *, item_ids: list[str]) -> list[ReviewQueueItem]:
    """Attach traces of the queue's experiment; re-attaching keeps an item's status."""
    ids = list(item_ids)
    wire = ReviewBackend().call(
        RQ.add_items_to_review_queue,
        QueueItems(queue_id=queue_id, item_type="TRACE", item_ids=ids),
        lambda s: {"items": s.add_items(queue_id, ids)},
    )
    return [ReviewQueueItem.from_wire(w) for w in wire.get("items", [])]


def remove_items_from_review_queue(queue_id: str, *, item_ids: list[str]) -> None:
    """Detach traces (those not attached are ignored)."""
    ids = list(item_ids)
    ReviewBackend().call(
        RQ.remove_items_from_review_queue,
        QueueItems(queue_id=queue_id, item_ids=ids),
        lambda s: s.remove_items(queue_id, ids),
    )


def list_review_queue_items(
    queue_id: str,
    *,
    status: Literal["pending", "complete", "declined"] | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> PagedList:
    """One page of the queue's items, newest attached first; one status only when given."""
    wanted = str(status).upper() if status is not None else None

    def local(s: Any) -> dict[str, Any]:
        rows, token = s.list_items(queue_id, wanted, max_results, page_token)
        return {"items": rows, "next_page_token": token or ""}

    body = ListReviewQueueItems(
        queue_id=queue_id, status=wanted, max_results=max_results, page_token=page_token
    )
    wire = ReviewBackend().call(RQ.list_review_queue_items, body, local)
    return PagedList(
        [ReviewQueueItem.from_wire(w) for w in wire.get("items", [])], wire.get("next_page_token") or None
    )


def set_review_queue_item_status(
    queue_id: str,
    *,
    item_id: str,
    status: Literal["pending", "complete", "declined"],
    completed_by: str | None = None,
) -> ReviewQueueItem:
    """Complete or decline an item (``completed_by`` required), or reopen it to ``pending``."""
    kind = str(status).upper()
    body = SetReviewQueueItemStatus(
        queue_id=queue_id, item_id=item_id, status=kind, completed_by=completed_by
    )
    wire = ReviewBackend().call(
        RQ.set_review_queue_item_status,
        body,
        lambda s: {"item": s.set_item_status(queue_id, item_id, kind, completed_by)},
    )
    return ReviewQueueItem.from_wire(wire["item"])
