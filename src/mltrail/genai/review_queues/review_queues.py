"""Review queue records (MLflow 3.14's ``mlflow.genai.review_queues.review_queues``).

A :class:`ReviewQueue` bundles traces to review, the users it is assigned to and its
questions (label schema ids); each attached trace is a :class:`ReviewQueueItem` with one
shared :class:`ReviewStatus`. Each converts from the wire form (enum names upper-case).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ReviewItemType(StrEnum):
    """What a queue item points at (traces only, as in MLflow 3.17)."""

    TRACE = "trace"


class ReviewQueueType(StrEnum):
    """``user``: one reviewer's own queue, asking all of the experiment's questions; ``custom``: chosen ones."""

    USER = "user"
    CUSTOM = "custom"


class ReviewStatus(StrEnum):
    """An item's shared status: any assigned reviewer completes or declines it; reopening clears who."""

    PENDING = "pending"
    COMPLETE = "complete"
    DECLINED = "declined"


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


@dataclass
class ReviewQueueItem:
    """One trace attached to a queue, with its status and who completed or declined it."""

    queue_id: str
    item_type: ReviewItemType
    item_id: str
    status: ReviewStatus
    creation_time_ms: int
    last_update_time_ms: int
    completed_by: str | None = None
    completed_time_ms: int | None = None

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ReviewQueueItem:
        """From MLflow's ``ReviewQueueItem`` message as JSON."""
        return cls(
            queue_id=wire["queue_id"],
            item_type=ReviewItemType(str(wire.get("item_type", "TRACE")).lower()),
            item_id=wire["item_id"],
            status=ReviewStatus(str(wire.get("status", "PENDING")).lower()),
            creation_time_ms=int(wire.get("creation_time_ms", 0)),
            last_update_time_ms=int(wire.get("last_update_time_ms", 0)),
            completed_by=wire.get("completed_by"),
            completed_time_ms=_int(wire.get("completed_time_ms")),
        )


@dataclass
class ReviewQueue:
    """A named queue in an experiment: its users and label schema ids (empty for a user queue)."""

    queue_id: str
    experiment_id: str
    name: str
    queue_type: ReviewQueueType
    created_by: str | None
    creation_time_ms: int
    last_update_time_ms: int
    users: list[str] = field(default_factory=list)
    schema_ids: list[str] = field(default_factory=list)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ReviewQueue:
        """From MLflow's ``ReviewQueue`` message as JSON."""
        return cls(
            queue_id=wire["queue_id"],
            experiment_id=str(wire["experiment_id"]),
            name=wire["name"],
            queue_type=ReviewQueueType(str(wire.get("queue_type", "CUSTOM")).lower()),
            created_by=wire.get("created_by"),
            creation_time_ms=int(wire.get("creation_time_ms", 0)),
            last_update_time_ms=int(wire.get("last_update_time_ms", 0)),
            users=list(wire.get("users", [])),
            schema_ids=list(wire.get("schema_ids", [])),
        )
