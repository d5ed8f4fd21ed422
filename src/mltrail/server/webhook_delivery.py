"""Sending one webhook request: MLflow's envelope, headers and signature, behind the SSRF guard.

Every request is a POST of MLflow's envelope::

    {"entity": "model_version", "action": "created", "timestamp": "<ISO 8601, UTC>", "data": {...}}

with ``Content-Type: application/json``, ``X-MLflow-Delivery-Id`` (a UUID),
``X-MLflow-Timestamp`` (Unix seconds) and, when the webhook has a secret,
``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>">``
(``mlflow.webhooks.delivery``). Retries resend the same bytes and headers
(:func:`rebuild` signs a stored delivery again), so a receiver can drop
duplicates by delivery id.

Outbound requests are guarded against server-side request forgery
(:mod:`mltrail.server.webhook_urls`): the host is resolved once, every address
must be public unless the server runs with ``--webhooks-allow-private``, the
scheme must be one ``--webhooks-allowed-schemes`` allows (``https`` by default), and the
connection goes to the address that was checked (the ``Host`` header and TLS name
stay the URL's), so a DNS answer that changes between check and connect cannot
redirect it. Redirects are not followed, proxies from the environment are not
used, and at most 64 KiB of an answer is read. A URL the guard refuses is not
sent to, and, as in MLflow (whose ``_validate_webhook_url`` raises before its
retrying session is used), not tried again: the delivery fails at once.

The dispatcher that sends events in the background, with retries that survive a
restart, is :mod:`mltrail.server.webhook_dispatcher`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from mltrail.entities.webhook import DEFAULT_URL_SCHEMES, Webhook, WebhookEvent, WebhookTestResult
from mltrail.server.webhook_urls import pinned_request
from mltrail.store.workspace_scope import active_workspace

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_S = 60.0
MAX_RESPONSE_BYTES = 64 * 1024


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
    lease: int | None = None  # this server's claim on the stored delivery (its claimed_until, ms)

    @property
    def timestamp(self) -> int:
        """The signed ``X-MLflow-Timestamp`` (Unix seconds)."""
        return int(self.headers[TIMESTAMP_HEADER])


def _headers(secret: str | None, delivery_id: str, timestamp: str, body: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: timestamp,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, delivery_id, timestamp, body)
    return headers


def prepare(
    webhook: Webhook,
    secret: str | None,
    event: WebhookEvent,
    data: dict[str, Any],
    with_workspace: bool = False,
) -> Outgoing:
    """The envelope, headers and signature for sending ``data`` about ``event`` to ``webhook``;
    with workspaces on (``with_workspace``) the envelope names the webhook's workspace, as MLflow's."""
    envelope: dict[str, Any] = {
        "entity": event.entity,
        "action": event.action,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": data,
    }
    if with_workspace:
        envelope["workspace"] = webhook.workspace
    body = json.dumps(envelope)
    delivery_id = str(uuid.uuid4())
    headers = _headers(secret, delivery_id, str(int(time.time())), body)
    return Outgoing(webhook.webhook_id, webhook.url, str(event), body.encode("utf-8"), headers, delivery_id)


def rebuild(webhook: Webhook, secret: str | None, stored: Any) -> Outgoing:
    """The next attempt of a stored delivery: its body, id and timestamp, signed again with ``secret``.

    ``stored`` is a :class:`~mltrail.store.sql.webhooks.StoredDelivery` with its payload.
    """
    body = stored.payload
    headers = _headers(secret, stored.delivery_id, str(stored.request_timestamp), body)
    return Outgoing(webhook.webhook_id, webhook.url, stored.event, body.encode("utf-8"), headers,
                    stored.delivery_id, stored.attempts, stored.lease)  # fmt: skip


@dataclass(slots=True)
class Answer:
    """What one attempt got: a status and (part of) the body, or an error.

    ``refused``: the URL check (scheme, host, private address) refused the target, so nothing
    was sent; a later attempt would meet the same check, and MLflow does not retry it either.
    """

    status: int | None = None
    body: str = ""
    error: str | None = None
    retry_after: float | None = None
    refused: bool = False

    @property
    def retryable(self) -> bool:
        if self.refused:
            return False
        return self.error is not None or self.status in RETRY_STATUSES

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 400


def send_once(
    client: httpx.Client, out: Outgoing, allow_private: bool, timeout: float,
    schemes: Collection[str] = DEFAULT_URL_SCHEMES,
) -> Answer:  # fmt: skip
    """One POST of ``out`` to its webhook's URL (checked against ``allow_private`` and ``schemes``,
    and pinned), never raising: a refused URL is an answer with its error, marked ``refused``."""
    try:
        url, headers, extensions = pinned_request(out.url, allow_private, schemes=schemes)
    except Exception as err:  # MLflow's message (a 400 had the URL been saved now)
        return Answer(error=str(getattr(err, "message", None) or err), refused=True)
    try:
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
    except Exception as err:  # anything else the client raises: reported, never raised
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
    allow_private: bool, timeout: float, schemes: Collection[str] = DEFAULT_URL_SCHEMES,
) -> WebhookTestResult:  # fmt: skip
    """Send ``data`` once, now, and say what came back (MLflow's ``test_webhook``); in a request
    bound to a workspace (workspaces on) the envelope names the webhook's."""
    out = prepare(webhook, secret, event, data, with_workspace=active_workspace() is not None)
    answer = send_once(client, out, allow_private, timeout, schemes)
    if answer.error is not None:
        return WebhookTestResult(False, error_message=f"Failed to test webhook: {answer.error}")
    return WebhookTestResult(bool(answer.ok), answer.status, answer.body or None)
