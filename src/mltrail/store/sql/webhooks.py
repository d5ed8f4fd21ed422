"""Registry webhooks and their delivery log on SQL (SQLite, PostgreSQL, MySQL/MariaDB).

The tables are migration 0010's (``webhooks``, ``webhook_events`` as MLflow has
them, and mltrail's ``webhook_deliveries``, declared in :mod:`mltrail.store.sql.schema`). Secrets are stored as the caller hands them over
(the server encrypts them first when it has a key, ``store/secrets.py``)
and come back only through :meth:`SqlWebhookStore.get_webhook` for delivery.

A PENDING delivery keeps what its next attempt needs (migration 0016): the exact
body, the signed timestamp and when it is due. A server takes a due delivery with
:meth:`SqlWebhookStore.claim_delivery` (one conditional ``UPDATE`` that sets a
lease), so with several servers on one database each attempt is made once.

Example::

    store = SqlWebhookStore("sqlite:///mltrail.db")
    hook = store.create_webhook("ci", "https://ci.example.com/hook",
                                [WebhookEvent("model_version", "created")])
    store.list_webhooks_by_event(WebhookEvent("model_version", "created"))
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mltrail.entities import PagedList
from mltrail.entities.webhook import (
    ACTIVE,
    DELIVERY_PENDING,
    STATUSES,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)
from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException, invalid
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.sql._codec import now_ms
from mltrail.store.sql.database import database_for
from mltrail.store.sql.schema import webhook_deliveries, webhook_events, webhooks
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, active_workspace

_W = webhooks.c
_E = webhook_events.c
_D = webhook_deliveries.c
_LIVE = _W.deleted_timestamp.is_(None)

# MLflow's rule (``_validate_webhook_name``): 1-63 letters, digits, '.', '_', '-', alphanumeric ends.
_NAME = re.compile(r"^(?=.{1,63}$)[a-z0-9]([a-z0-9._-]*[a-z0-9])?$", re.IGNORECASE)
MAX_URL = 500
MAX_DESCRIPTION = 1000
MAX_SECRET_STORED = 1000
MAX_EVENTS = 64
MAX_RESULTS = 1000
DEFAULT_MAX_RESULTS = 100
ERROR_CHARS = 1000


def validate_name(name: Any) -> str:
    """A webhook name as MLflow accepts it, else 400."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise invalid(
            f"Webhook name {name!r} is invalid. It must start and end with a letter or digit, "
            "be less than 63 characters long, and contain only letters, digits, dots (.), "
            "underscores (_), and hyphens (-)."
        )
    return name


def _validate_events(events: Sequence[WebhookEvent]) -> list[WebhookEvent]:
    if not events:
        raise invalid("Webhook events must be a non-empty list of WebhookEvent objects.")
    if len(events) > MAX_EVENTS:
        raise invalid(f"A webhook subscribes to at most {MAX_EVENTS} events")
    return list(dict.fromkeys(events))  # a repeated event is one subscription


def _validate_fields(
    description: str | None, url: str | None, secret: str | None, status: str | None
) -> None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise invalid(f"Webhook description is longer than {MAX_DESCRIPTION} characters")
    if url is not None and len(url) > MAX_URL:
        raise invalid(f"Webhook URL is longer than {MAX_URL} characters")
    if secret is not None and len(secret) > MAX_SECRET_STORED:
        raise invalid("Webhook secret is too long")
    if status is not None and status not in STATUSES:
        raise invalid(f"Invalid webhook status {status!r}: expected one of {list(STATUSES)}")


@dataclass(slots=True)
class StoredDelivery:
    """A PENDING delivery as stored: what any server needs to make its next attempt."""

    delivery_id: str
    webhook_id: str
    event: str
    attempts: int
    payload: str | None  # None: queued by a version that did not keep it (cannot be resumed)
    request_timestamp: int | None
    lease: int  # the claim's ``claimed_until`` (ms): what record_attempt checks


#: The delivery-log columns an API answer shows (the resume columns stay inside).
_LOG_COLUMNS = [
    _D.delivery_id, _D.webhook_id, _D.event, _D.status, _D.attempts, _D.response_status,
    _D.error_message, _D.created_timestamp, _D.last_attempt_timestamp, _D.completed_timestamp,
    _D.next_attempt_timestamp,
]  # fmt: skip


def _scope() -> list[sa.ColumnElement[bool]]:
    """``[webhooks.workspace = <bound>]``: a webhook belongs to a workspace (``[]``: none bound)."""
    ws = active_workspace()
    return [] if ws is None else [_W.workspace == ws]


def _missing(webhook_id: str) -> MltrailException:
    return MltrailException(f"Webhook with ID {webhook_id} not found.", error_code=RESOURCE_DOES_NOT_EXIST)


def _check_max_results(max_results: int | None) -> int:
    max_results = max_results or DEFAULT_MAX_RESULTS
    if max_results < 1 or max_results > MAX_RESULTS:
        raise invalid(f"max_results must be between 1 and {MAX_RESULTS}.")
    return max_results


class SqlWebhookStore:
    """Webhooks, their events and their delivery log, on the registry's database."""

    def __init__(self, db_uri: str) -> None:
        self.db = database_for(db_uri)
        self.db.ensure_schema()

    # ------------------------------------------------------------- webhooks
    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        """A new webhook (ACTIVE unless ``status`` says otherwise)."""
        validate_name(name)
        events = _validate_events(events)
        _validate_fields(description, url, secret, status)
        now = now_ms()
        webhook_id = str(uuid.uuid4())
        row = {
            "webhook_id": webhook_id, "name": name, "description": description, "url": url,
            "status": status or ACTIVE, "secret": secret, "creation_timestamp": now,
            "last_updated_timestamp": now, "deleted_timestamp": None,
            "workspace": active_workspace() or DEFAULT_WORKSPACE,
        }  # fmt: skip

        def write(conn: sa.Connection) -> None:
            conn.execute(webhooks.insert().values(row))
            conn.execute(webhook_events.insert(), [_event_row(webhook_id, e) for e in events])

        self.db.write(write)
        return self.get_webhook(webhook_id)

    def get_webhook(self, webhook_id: str) -> Webhook:
        """The live webhook with this id (its secret included: server-side use only), else 404."""
        with self.db.read() as conn:
            found = self._load(conn, sa.select(webhooks).where(_W.webhook_id == webhook_id, _LIVE, *_scope()))
        if not found:
            raise _missing(webhook_id)
        return found[0]

    def list_webhooks(self, max_results: int | None = None, page_token: str | None = None) -> PagedList:
        """Live webhooks, newest first, in pages (MLflow's offset tokens)."""
        return self._page(sa.select(webhooks).where(_LIVE, *_scope()), max_results, page_token)

    def list_webhooks_by_event(
        self, event: WebhookEvent, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList:
        """Live webhooks subscribed to ``event`` (active or not), newest first."""
        subscribed = sa.select(_E.webhook_id).where(_E.entity == event.entity, _E.action == event.action)
        return self._page(
            sa.select(webhooks).where(_LIVE, _W.webhook_id.in_(subscribed), *_scope()), max_results, page_token
        )

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: Sequence[WebhookEvent] | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        """Change the fields given (``None`` leaves a field as it is); 404 for an unknown webhook."""
        if name is not None:
            validate_name(name)
        new_events = _validate_events(events) if events is not None else None
        _validate_fields(description, url, secret, status)
        values: dict[str, Any] = {"last_updated_timestamp": now_ms()}
        for key, value in (("name", name), ("description", description), ("url", url),
                           ("secret", secret), ("status", status)):  # fmt: skip
            if value is not None:
                values[key] = value

        def write(conn: sa.Connection) -> None:
            done = conn.execute(
                webhooks.update().where(_W.webhook_id == webhook_id, _LIVE, *_scope()).values(values)
            )
            if done.rowcount == 0:
                raise _missing(webhook_id)
            if new_events is not None:
                conn.execute(webhook_events.delete().where(_E.webhook_id == webhook_id))
                conn.execute(webhook_events.insert(), [_event_row(webhook_id, e) for e in new_events])

        self.db.write(write)
        return self.get_webhook(webhook_id)

    def delete_webhook(self, webhook_id: str) -> None:
        """Soft-delete (as MLflow): the webhook stops receiving events; its delivery log stays."""
        now = now_ms()

        def write(conn: sa.Connection) -> None:
            done = conn.execute(
                webhooks.update()
                .where(_W.webhook_id == webhook_id, _LIVE, *_scope())
                .values(deleted_timestamp=now, last_updated_timestamp=now, secret=None)
            )
            if done.rowcount == 0:
                raise _missing(webhook_id)

        self.db.write(write)

    # --------------------------------------------------------- delivery log
    def create_delivery(
        self,
        delivery_id: str,
        webhook_id: str,
        event: str,
        payload: str | None = None,
        request_timestamp: int | None = None,
        claimed_until: int | None = None,
    ) -> None:
        """A PENDING row for an event about to be sent to a webhook.

        ``payload`` and ``request_timestamp`` (the signed body and ``X-MLflow-Timestamp``) let
        any server make a later attempt; ``claimed_until`` (ms) is the lease of the server about
        to make the first one.
        """
        now = now_ms()
        row = {
            "delivery_id": delivery_id, "webhook_id": webhook_id, "event": event,
            "status": DELIVERY_PENDING, "attempts": 0, "created_timestamp": now, "payload": payload,
            "request_timestamp": request_timestamp, "next_attempt_timestamp": now,
            "claimed_until": claimed_until,
        }  # fmt: skip
        self.db.write(lambda conn: conn.execute(webhook_deliveries.insert().values(row)))

    def record_attempt(
        self,
        delivery_id: str,
        status: str,
        attempts: int,
        response_status: int | None,
        error_message: str | None,
        done: bool,
        next_attempt_ms: int | None = None,
        lease: int | None = None,
    ) -> bool:
        """The outcome of one attempt, which ends the sender's lease; whether it was recorded.

        ``done``: no more attempts will follow (the stored body is dropped); otherwise the
        next one is due at ``next_attempt_ms``, for whichever server claims it then. With
        ``lease`` (the ``claimed_until`` of the sender's claim) it is recorded only while that
        claim holds: a sender whose lease ran out and was taken over changes nothing.
        """
        now = now_ms()
        values = {
            "status": status, "attempts": attempts, "response_status": response_status,
            "error_message": (error_message or None) and error_message[:ERROR_CHARS],
            "last_attempt_timestamp": now, "completed_timestamp": now if done else None,
            "next_attempt_timestamp": None if done else (next_attempt_ms or now), "claimed_until": None,
        }  # fmt: skip
        if done:
            values["payload"] = None
        where = [_D.delivery_id == delivery_id]
        if lease is not None:
            where.append(_D.claimed_until == lease)

        def write(conn: sa.Connection) -> bool:
            return conn.execute(webhook_deliveries.update().where(*where).values(values)).rowcount == 1

        return self.db.write(write)

    def pending_deliveries(self, limit: int = 1000) -> list[tuple[str, int]]:
        """PENDING deliveries as ``(delivery_id, ms)``: when each may next be claimed, soonest first.

        That is its next attempt's time, or the end of the lease of a server sending it now.
        """
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(_D.delivery_id, _D.next_attempt_timestamp, _D.claimed_until)
                .where(_D.status == DELIVERY_PENDING)
                .order_by(_D.next_attempt_timestamp)
                .limit(limit)
            ).all()
        found = [(r.delivery_id, max(r.next_attempt_timestamp or 0, r.claimed_until or 0)) for r in rows]
        return sorted(found, key=lambda item: item[1])

    def claim_delivery(self, delivery_id: str, lease_ms: int) -> StoredDelivery | None:
        """Take a due PENDING delivery for ``lease_ms``, atomically; None when it is not this caller's.

        None: finished, not due yet, or leased by another server whose lease has not run out.
        The lease ends with the next :meth:`record_attempt`.
        """
        now = now_ms()
        due = sa.or_(_D.next_attempt_timestamp.is_(None), _D.next_attempt_timestamp <= now)
        free = sa.or_(_D.claimed_until.is_(None), _D.claimed_until < now)

        lease = now + lease_ms

        def write(conn: sa.Connection) -> StoredDelivery | None:
            done = conn.execute(
                webhook_deliveries.update()
                .where(_D.delivery_id == delivery_id, _D.status == DELIVERY_PENDING, due, free)
                .values(claimed_until=lease)
            )
            if done.rowcount != 1:
                return None
            row = conn.execute(
                sa.select(_D.webhook_id, _D.event, _D.attempts, _D.payload, _D.request_timestamp).where(
                    _D.delivery_id == delivery_id
                )
            ).one()
            return StoredDelivery(delivery_id, row.webhook_id, row.event, row.attempts, row.payload,
                                  row.request_timestamp, lease)  # fmt: skip

        return self.db.write(write)

    def list_deliveries(
        self, webhook_id: str, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList:
        """The delivery log of one webhook (deleted ones too), newest first; 404 if it never existed."""
        max_results = _check_max_results(max_results)
        offset = decode_page_token(page_token)
        with self.db.read() as conn:
            if conn.execute(sa.select(_W.webhook_id).where(_W.webhook_id == webhook_id, *_scope())).first() is None:
                raise _missing(webhook_id)
            rows = conn.execute(
                sa.select(*_LOG_COLUMNS)
                .where(_D.webhook_id == webhook_id)
                .order_by(_D.created_timestamp.desc(), _D.delivery_id)
                .limit(max_results + 1)
                .offset(offset)
            ).all()
        items = [WebhookDelivery(**row._asdict()) for row in rows[:max_results]]
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return PagedList(items, token)

    def prune_deliveries(self, before_ms: int) -> int:
        """Delete finished delivery-log rows created before ``before_ms``; returns how many went."""

        def write(conn: sa.Connection) -> int:
            done = conn.execute(
                webhook_deliveries.delete().where(
                    _D.created_timestamp < before_ms, _D.status != DELIVERY_PENDING
                )
            )
            return int(done.rowcount or 0)

        return self.db.write(write)

    # -------------------------------------------------------------- helpers
    def _page(self, query: sa.Select, max_results: int | None, page_token: str | None) -> PagedList:
        max_results = _check_max_results(max_results)
        offset = decode_page_token(page_token)
        query = (
            query.order_by(_W.creation_timestamp.desc(), _W.webhook_id).limit(max_results + 1).offset(offset)
        )
        with self.db.read() as conn:
            found = self._load(conn, query)
        token = encode_page_token(offset + max_results) if len(found) > max_results else None
        return PagedList(found[:max_results], token)

    @staticmethod
    def _load(conn: sa.Connection, query: sa.Select) -> list[Webhook]:
        rows = conn.execute(query).all()
        if not rows:
            return []
        ids = [r.webhook_id for r in rows]
        events: dict[str, list[WebhookEvent]] = {i: [] for i in ids}
        for ev in conn.execute(
            sa.select(_E.webhook_id, _E.entity, _E.action)
            .where(_E.webhook_id.in_(ids))
            .order_by(_E.webhook_id, _E.entity, _E.action)
        ):
            events[ev.webhook_id].append(WebhookEvent(ev.entity, ev.action))
        return [
            Webhook(
                webhook_id=r.webhook_id,
                name=r.name,
                url=r.url,
                events=events[r.webhook_id],
                status=r.status,
                description=r.description,
                creation_timestamp=r.creation_timestamp,
                last_updated_timestamp=r.last_updated_timestamp,
                secret=r.secret,
                workspace=r.workspace,
            )
            for r in rows
        ]


def _event_row(webhook_id: str, event: WebhookEvent) -> dict[str, str]:
    return {"webhook_id": webhook_id, "entity": event.entity, "action": event.action}
