"""Delivering webhook events in the background: the queue, the retries and their resumption.

Events are delivered off the request path: :class:`WebhookDispatcher` (one per
server process) takes them from a queue, finds the active webhooks subscribed to
each, writes a delivery-log row and sends it from a small thread pool. A 429,
5xx, timeout or connection error is retried with exponential backoff (``backoff``
seconds, doubled each time, capped at 60 s, ``Retry-After`` honoured up to that
cap) until ``max_retries`` retries are spent; every attempt updates the row. A
target the URL check refuses (scheme, private address) is not retried: as in MLflow,
the delivery fails at once, with the check's message.

Deliveries survive a restart. The row of a PENDING delivery keeps the exact body,
its ``X-MLflow-Timestamp`` and when the next attempt is due (the delivery id is its
key); the signature is recomputed from the webhook's secret, so a resumed attempt
sends the same bytes and headers. A server takes each due attempt with an atomic
claim (:meth:`~mltrail.store.sql.webhooks.SqlWebhookStore.claim_delivery`: a lease
of the request timeout plus 30 s), so with several servers on one database one of
them sends it; the outcome is recorded only while that claim holds (a sender whose
lease ran out and was taken over changes nothing). At start-up a server looks for PENDING deliveries
(:func:`mltrail.server.webhook_events.resume_pending`) and schedules each for when it
is due (or for when the lease of a server that stopped mid-attempt runs out); while
its dispatcher runs it looks again every ``MLTRAIL_WEBHOOK_RESUME_INTERVAL`` seconds
(default 60), for deliveries another server left behind.

One request (envelope, headers, signature, the SSRF guard) is
:mod:`mltrail.server.webhook_delivery`'s.
"""

from __future__ import annotations

import heapq
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from mltrail.entities.webhook import (
    DEFAULT_URL_SCHEMES,
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    DELIVERY_SUCCEEDED,
    Webhook,
    WebhookEvent,
)
from mltrail.server.webhook_delivery import MAX_BACKOFF_S, Outgoing, new_client, prepare, rebuild, send_once
from mltrail.store.workspace_scope import active_workspace, in_workspace

_log = logging.getLogger("mltrail.server.webhooks")
_CACHE_TTL_S = 5.0
_PRUNE_EVERY_S = 3600.0


Resolver = Callable[[], "tuple[WebhookEvent, dict[str, Any]] | None"]


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    delivery_id: str = field(compare=False)


class WebhookDispatcher:
    """Delivers events in the background for one server process.

    ``store`` returns the :class:`~mltrail.store.sql.webhooks.SqlWebhookStore` (opened on the
    dispatcher's thread, on first need); ``open_secret``
    turns a stored secret into the signing key; ``allow_private`` and ``schemes`` are the
    server's SSRF settings, applied before every attempt. :meth:`emit` only queues: the
    lookups, the log rows and the HTTP requests happen on the dispatcher's threads.
    """

    def __init__(
        self,
        store: Callable[[], Any],
        open_secret: Callable[[str | None], str | None],
        allow_private: bool,
        max_retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
        workers: int | None = None,
        schemes: Collection[str] = DEFAULT_URL_SCHEMES,
    ) -> None:
        env = os.environ
        self._store = store
        self.open_secret = open_secret
        self.allow_private = allow_private
        # Checked again before each attempt: a webhook saved while http was allowed is not sent over it now.
        self.schemes = tuple(schemes)
        self.max_retries = (
            max_retries if max_retries is not None else int(env.get("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES", 3))
        )
        self.backoff = (
            backoff if backoff is not None else float(env.get("MLTRAIL_WEBHOOK_RETRY_BACKOFF", 1.0))
        )
        self.timeout = (
            timeout if timeout is not None else float(env.get("MLFLOW_WEBHOOK_REQUEST_TIMEOUT", 30))
        )
        workers = workers or int(env.get("MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS", 10))
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mltrail-webhook")
        self._client = new_client()
        self._cond = threading.Condition()
        self._events: list[tuple[Resolver, str | None]] = []  # with the emitting request's workspace
        self._due: list[_Due] = []
        self._scheduled: dict[str, float] = {}  # delivery id -> its current entry's time in _due
        self._seq = 0
        # A claim's lease: the request timeout and a margin for recording the answer.
        self.lease_ms = int((self.timeout + 30.0) * 1000)
        self.resume_interval = float(env.get("MLTRAIL_WEBHOOK_RESUME_INTERVAL", 60))
        self._next_scan = time.monotonic() + self.resume_interval
        self._cache: dict[tuple[WebhookEvent, str | None], tuple[float, list[Webhook]]] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        # Finished delivery-log rows older than this many days are deleted (hourly); 0 keeps them all.
        self.retention_days = float(env.get("MLTRAIL_WEBHOOK_LOG_RETENTION_DAYS", 30))
        self._next_prune = 0.0

    @property
    def store(self) -> Any:
        """The webhook store (opened on first use)."""
        return self._store()

    @property
    def client(self) -> httpx.Client:
        return self._client

    def emit(self, resolve: Resolver) -> None:
        """Queue an event; ``resolve()`` (run on the dispatcher thread) says which and its payload."""
        with self._cond:
            if self._closed:
                return
            self._events.append((resolve, active_workspace()))
            self._start()
            self._cond.notify()

    def resume(self) -> None:
        """Look for PENDING deliveries in the database now (and then every ``resume_interval`` s)."""
        with self._cond:
            if self._closed:
                return
            self._next_scan = 0.0
            self._start()
            self._cond.notify()

    def forget(self) -> None:
        """Drop the cached subscriptions (after a webhook is created, changed or deleted here)."""
        self._cache.clear()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._pool.shutdown(wait=False)

    # ---------------------------------------------------------------- internals
    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="mltrail-webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while (
                    not self._closed and not self._events and not self._ready_due() and not self._scan_due()
                ):
                    wait = self._next_scan - time.monotonic()
                    if self._due:
                        wait = min(wait, self._due[0].at - time.monotonic())
                    self._cond.wait(max(wait, 0.0))
                if self._closed:
                    return
                events, self._events = self._events, []
                scan = self._scan_due()
                if scan:
                    self._next_scan = time.monotonic() + self.resume_interval
                due: list[str] = []
                while self._ready_due():
                    entry = heapq.heappop(self._due)
                    if self._scheduled.get(entry.delivery_id) == entry.at:  # else superseded
                        del self._scheduled[entry.delivery_id]
                        due.append(entry.delivery_id)
            for resolve, workspace in events:
                with in_workspace(workspace):  # the event's model and webhooks are the request's workspace's
                    self._fan_out(resolve, workspace)
            if events:
                self._prune()
            if scan:
                self._scan()
            for delivery_id in due:
                self._pool.submit(self._resend, delivery_id)

    def _scan_due(self) -> bool:
        return self._next_scan <= time.monotonic()

    def _scan(self) -> None:
        """Schedule the PENDING deliveries of the database (left by a stopped server, or another's)."""
        try:
            found = self.store.pending_deliveries()
        except Exception:
            _log.exception("Cannot look for webhook deliveries to resume")
            return
        now_ms = time.time() * 1000
        with self._cond:
            for delivery_id, at_ms in found:
                if delivery_id not in self._scheduled:
                    self._push(delivery_id, max(0.0, (at_ms - now_ms) / 1000))

    def _ready_due(self) -> bool:
        return bool(self._due) and self._due[0].at <= time.monotonic()

    def _subscribed(self, event: WebhookEvent, workspace: str | None) -> list[Webhook]:
        now = time.monotonic()
        cached = self._cache.get((event, workspace))
        if cached is not None and cached[0] > now:
            return cached[1]
        hooks: list[Webhook] = []
        token = None
        while True:
            page = self.store.list_webhooks_by_event(event, max_results=1000, page_token=token)
            hooks.extend(page)
            token = page.token
            if not token:
                break
        self._cache[(event, workspace)] = (now + _CACHE_TTL_S, hooks)
        return hooks

    def _fan_out(self, resolve: Resolver, workspace: str | None) -> None:
        try:
            found = resolve()
            if found is None:
                return
            event, data = found
            for hook in self._subscribed(event, workspace):
                if hook.is_active:
                    self._start_delivery(hook, event, data, workspace is not None)
        except Exception:  # a store outage: logged, the request that caused the event is unaffected
            _log.exception("Cannot dispatch a webhook event")

    def _prune(self) -> None:
        now = time.monotonic()
        if self.retention_days <= 0 or now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_EVERY_S
        try:
            cutoff = int((time.time() - self.retention_days * 86400) * 1000)
            self.store.prune_deliveries(cutoff)
        except Exception:
            _log.exception("Cannot prune the webhook delivery log")

    def _open(self, hook: Webhook) -> tuple[str | None, str | None]:
        """The webhook's signing secret, or the reason it cannot be opened."""
        try:
            return self.open_secret(hook.secret), None
        except Exception as err:
            return None, str(getattr(err, "message", None) or err)

    def _start_delivery(
        self, hook: Webhook, event: WebhookEvent, data: dict[str, Any], with_workspace: bool = False
    ) -> None:
        secret, error = self._open(hook)
        out = prepare(hook, secret, event, data, with_workspace)
        out.lease = int(time.time() * 1000) + self.lease_ms
        self.store.create_delivery(
            out.delivery_id, hook.webhook_id, out.event, out.body.decode("utf-8"), out.timestamp, out.lease
        )
        if error is not None:  # never send unsigned what was meant to be signed
            self.store.record_attempt(out.delivery_id, DELIVERY_FAILED, 0, None, error, True, lease=out.lease)
            return
        self._pool.submit(self._attempt, out)

    def _resend(self, delivery_id: str) -> None:
        """The next attempt of a stored delivery, if this server wins its claim."""
        try:
            stored = self.store.claim_delivery(delivery_id, self.lease_ms)
            if stored is None:  # finished, not due, or another server's now
                return
            error = None
            if stored.payload is None or stored.request_timestamp is None:
                error = "The delivery was queued by an older server, which did not keep its body"
            else:
                try:
                    hook = self.store.get_webhook(stored.webhook_id)
                except Exception as err:  # deleted meanwhile: nothing more is sent to it
                    hook, error = None, str(getattr(err, "message", None) or err)
                if hook is not None:
                    secret, error = self._open(hook)
            if error is not None:
                self.store.record_attempt(
                    delivery_id, DELIVERY_FAILED, stored.attempts, None, error, True, lease=stored.lease
                )
                return
            self._attempt(rebuild(hook, secret, stored))
        except Exception:
            _log.exception("Webhook delivery %s could not be resumed", delivery_id)

    def _attempt(self, out: Outgoing) -> None:
        try:
            answer = send_once(self._client, out, self.allow_private, self.timeout, schemes=self.schemes)
            out.attempts += 1
            error = answer.error or (None if answer.ok else f"HTTP {answer.status}")
            if answer.ok:
                self._record(out, DELIVERY_SUCCEEDED, answer.status, None, True)
                return
            retries_left = out.attempts <= self.max_retries
            if answer.retryable and retries_left:
                delay = self.backoff * (2 ** (out.attempts - 1))
                if answer.retry_after is not None:
                    delay = max(delay, answer.retry_after)
                delay = min(delay, MAX_BACKOFF_S)
                if self._record(out, DELIVERY_PENDING, answer.status, error, False, time.time() + delay):
                    with self._cond:
                        self._push(out.delivery_id, delay)
                return
            self._record(out, DELIVERY_FAILED, answer.status, error, True)
            _log.warning(
                "Webhook delivery %s to webhook %s failed%s: %s", out.delivery_id, out.webhook_id,
                " (its URL is refused: not sent, not retried)" if answer.refused else "", error,
            )  # fmt: skip
        except Exception:
            _log.exception("Webhook delivery %s could not be recorded", out.delivery_id)

    def _record(
        self, out: Outgoing, status: str, response_status: int | None, error: str | None, done: bool,
        next_at: float | None = None,
    ) -> bool:  # fmt: skip
        """Log an attempt under this server's claim; False when the claim was lost (nothing logged)."""
        next_ms = int(next_at * 1000) if next_at is not None else None
        recorded = self.store.record_attempt(
            out.delivery_id, status, out.attempts, response_status, error, done, next_ms, lease=out.lease
        )
        if not recorded:
            _log.warning(
                "Webhook delivery %s: its lease ran out during the attempt and another server took it over",
                out.delivery_id,
            )
        return recorded

    def _push(self, delivery_id: str, delay: float) -> None:
        """Try ``delivery_id`` again in ``delay`` seconds (caller holds the lock); replaces an earlier entry."""
        self._seq += 1
        at = time.monotonic() + delay
        self._scheduled[delivery_id] = at
        heapq.heappush(self._due, _Due(at, self._seq, delivery_id))
        self._start()
        self._cond.notify()
