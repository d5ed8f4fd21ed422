"""Sending webhook events: MLflow's envelope, headers and signature; retries; the delivery log.

Every request is a POST of MLflow's envelope::

    {"entity": "model_version", "action": "created", "timestamp": "<ISO 8601, UTC>", "data": {...}}

with ``Content-Type: application/json``, ``X-MLflow-Delivery-Id`` (a UUID),
``X-MLflow-Timestamp`` (Unix seconds) and, when the webhook has a secret,
``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>">``
(``mlflow.webhooks.delivery``). Retries resend the same bytes and headers, so a
receiver can drop duplicates by delivery id.

Events are delivered off the request path: :class:`WebhookDispatcher` (one per
server process) takes them from a queue, finds the active webhooks subscribed to
each, writes a delivery-log row and sends it from a small thread pool. A 429,
5xx, timeout or connection error is retried with exponential backoff (``backoff``
seconds, doubled each time, capped at 60 s, ``Retry-After`` honoured up to that
cap) until ``max_retries`` retries are spent; every attempt updates the row.

Outbound requests are guarded against server-side request forgery
(:mod:`mltrail.server.webhook_urls`): the host is resolved once, every address
must be public unless the server runs with ``--webhooks-allow-private``, and the
connection goes to the address that was checked (the ``Host`` header and TLS name
stay the URL's), so a DNS answer that changes between check and connect cannot
redirect it. Redirects are not followed, proxies from the environment are not
used, and at most 64 KiB of an answer is read.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from mltrail.entities.webhook import (
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    DELIVERY_SUCCEEDED,
    Webhook,
    WebhookEvent,
    WebhookTestResult,
)
from mltrail.server.webhook_urls import pinned_request

_log = logging.getLogger("mltrail.server.webhooks")

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_S = 60.0
MAX_RESPONSE_BYTES = 64 * 1024
_CACHE_TTL_S = 5.0
_PRUNE_EVERY_S = 3600.0


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """MLflow's ``X-MLflow-Signature`` value for one delivery."""
    content = f"{delivery_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


@dataclass(slots=True)
class Outgoing:
    """One event ready to send to one webhook: the exact bytes and headers every attempt uses."""

    webhook_id: str
    url: str
    event: str
    body: bytes
    headers: dict[str, str]
    delivery_id: str
    attempts: int = 0


def prepare(webhook: Webhook, secret: str | None, event: WebhookEvent, data: dict[str, Any]) -> Outgoing:
    """The envelope, headers and signature for sending ``data`` about ``event`` to ``webhook``."""
    envelope = {
        "entity": event.entity,
        "action": event.action,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": data,
    }
    body = json.dumps(envelope)
    delivery_id = str(uuid.uuid4())
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: timestamp,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, delivery_id, timestamp, body)
    return Outgoing(webhook.webhook_id, webhook.url, str(event), body.encode("utf-8"), headers, delivery_id)


@dataclass(slots=True)
class Answer:
    """What one attempt got: a status and (part of) the body, or an error."""

    status: int | None = None
    body: str = ""
    error: str | None = None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.error is not None or self.status in RETRY_STATUSES

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 400


def send_once(client: httpx.Client, out: Outgoing, allow_private: bool, timeout: float) -> Answer:
    """One POST of ``out`` to its webhook's URL (checked and pinned), never raising."""
    try:
        url, headers, extensions = pinned_request(out.url, allow_private)
        request = client.build_request(
            "POST", url, content=out.body, headers={**out.headers, **headers}, extensions=extensions,
            timeout=timeout,
        )  # fmt: skip
        with _stream(client, request) as resp:
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_RESPONSE_BYTES:
                    break
            text = b"".join(chunks)[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
            return Answer(resp.status_code, text, retry_after=_retry_after(resp.headers.get("Retry-After")))
    except httpx.HTTPError as err:
        return Answer(error=f"{type(err).__name__}: {err}")
    except Exception as err:  # a refused target (SSRF guard), a bad URL: reported, never raised
        return Answer(error=str(getattr(err, "message", None) or err))


class _stream:
    """``client.send(request, stream=True)`` as a context manager that closes the response."""

    def __init__(self, client: httpx.Client, request: httpx.Request) -> None:
        self._client, self._request = client, request
        self._resp: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        self._resp = self._client.send(self._request, stream=True, follow_redirects=False)
        return self._resp

    def __exit__(self, *exc: object) -> None:
        if self._resp is not None:
            self._resp.close()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, min(float(value), MAX_BACKOFF_S))
    except ValueError:
        return None


def new_client() -> httpx.Client:
    """The HTTP client webhooks are sent with: no environment proxies, no redirects."""
    return httpx.Client(trust_env=False, follow_redirects=False)


def test_webhook(
    client: httpx.Client, webhook: Webhook, secret: str | None, event: WebhookEvent, data: dict[str, Any],
    allow_private: bool, timeout: float,
) -> WebhookTestResult:  # fmt: skip
    """Send ``data`` once, now, and say what came back (MLflow's ``test_webhook``)."""
    answer = send_once(client, prepare(webhook, secret, event, data), allow_private, timeout)
    if answer.error is not None:
        return WebhookTestResult(False, error_message=f"Failed to test webhook: {answer.error}")
    return WebhookTestResult(bool(answer.ok), answer.status, answer.body or None)


# ----------------------------------------------------------------- the dispatcher

Resolver = Callable[[], "tuple[WebhookEvent, dict[str, Any]] | None"]


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    out: Outgoing = field(compare=False)


class WebhookDispatcher:
    """Delivers events in the background for one server process.

    ``store`` returns the :class:`~mltrail.store.sql.webhooks.SqlWebhookStore` (opened on the
    dispatcher's thread, on first need); ``open_secret``
    turns a stored secret into the signing key. :meth:`emit` only queues: the
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
    ) -> None:
        env = os.environ
        self._store = store
        self.open_secret = open_secret
        self.allow_private = allow_private
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
        self._events: list[Resolver] = []
        self._due: list[_Due] = []
        self._seq = 0
        self._cache: dict[WebhookEvent, tuple[float, list[Webhook]]] = {}
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
            self._events.append(resolve)
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
                while not self._closed and not self._events and not self._ready_due():
                    wait = self._due[0].at - time.monotonic() if self._due else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                events, self._events = self._events, []
                due: list[Outgoing] = []
                while self._ready_due():
                    due.append(heapq.heappop(self._due).out)
            for resolve in events:
                self._fan_out(resolve)
            if events:
                self._prune()
            for out in due:
                self._pool.submit(self._attempt, out)

    def _ready_due(self) -> bool:
        return bool(self._due) and self._due[0].at <= time.monotonic()

    def _subscribed(self, event: WebhookEvent) -> list[Webhook]:
        now = time.monotonic()
        cached = self._cache.get(event)
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
        self._cache[event] = (now + _CACHE_TTL_S, hooks)
        return hooks

    def _fan_out(self, resolve: Resolver) -> None:
        try:
            found = resolve()
            if found is None:
                return
            event, data = found
            for hook in self._subscribed(event):
                if hook.is_active:
                    self._start_delivery(hook, event, data)
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

    def _start_delivery(self, hook: Webhook, event: WebhookEvent, data: dict[str, Any]) -> None:
        try:
            secret = self.open_secret(hook.secret)
            error = None
        except Exception as err:
            secret, error = None, str(getattr(err, "message", None) or err)
        out = prepare(hook, secret, event, data)
        self.store.create_delivery(out.delivery_id, hook.webhook_id, out.event)
        if error is not None:  # never send unsigned what was meant to be signed
            self.store.record_attempt(out.delivery_id, DELIVERY_FAILED, 0, None, error, done=True)
            return
        self._pool.submit(self._attempt, out)

    def _attempt(self, out: Outgoing) -> None:
        try:
            answer = send_once(self._client, out, self.allow_private, self.timeout)
            out.attempts += 1
            error = answer.error or (None if answer.ok else f"HTTP {answer.status}")
            if answer.ok:
                self.store.record_attempt(
                    out.delivery_id, DELIVERY_SUCCEEDED, out.attempts, answer.status, None, True
                )
                return
            retries_left = out.attempts <= self.max_retries
            if answer.retryable and retries_left:
                self.store.record_attempt(
                    out.delivery_id, DELIVERY_PENDING, out.attempts, answer.status, error, False
                )
                delay = self.backoff * (2 ** (out.attempts - 1))
                if answer.retry_after is not None:
                    delay = max(delay, answer.retry_after)
                self._schedule(out, min(delay, MAX_BACKOFF_S))
                return
            self.store.record_attempt(
                out.delivery_id, DELIVERY_FAILED, out.attempts, answer.status, error, True
            )
            _log.warning(
                "Webhook delivery %s to webhook %s failed: %s", out.delivery_id, out.webhook_id, error
            )
        except Exception:
            _log.exception("Webhook delivery %s could not be recorded", out.delivery_id)

    def _schedule(self, out: Outgoing, delay: float) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._due, _Due(time.monotonic() + delay, self._seq, out))
            self._start()
            self._cond.notify()
