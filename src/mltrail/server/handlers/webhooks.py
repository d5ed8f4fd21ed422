"""MLflow 3's webhook endpoints (``/api/2.0/mlflow/webhooks``) and mltrail's delivery log.

``create``/``get``/``list``/``update``/``delete``/``test`` answer as MLflow's
server does; the secret is taken, sealed (:mod:`mltrail.store.secrets`)
and never answered or logged. URLs pass the SSRF guard
(:mod:`mltrail.server.webhook_urls`: private targets, the allowed schemes) when
saved, and again before each request. ``test`` sends MLflow's example
payload for the event (default: the webhook's first) once, synchronously, and
answers what came back. ``GET /api/2.0/mltrail/webhooks/{webhook_id}/deliveries``
is the delivery log.

With logins on, every endpoint is for admins only, as in MLflow (``AUTH_RULES``).
"""

from __future__ import annotations

from typing import Any

from mltrail.entities.webhook import DEFAULT_URL_SCHEMES, STATUSES, WebhookEvent, WebhookTestResult
from mltrail.exceptions import MltrailException, invalid
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.protocol.webhooks import (
    WEBHOOKS,
    CreateWebhook,
    ListDeliveries,
    ListWebhooks,
    TestWebhook,
    UpdateWebhook,
    WebhookEventWire,
)
from mltrail.server.auth.rules import ADMIN_ONLY
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.validation import path_param
from mltrail.server.webhook_events import EXAMPLES, dispatcher, webhook_store
from mltrail.server.webhook_urls import check_url
from mltrail.server.wire import page_json
from mltrail.store.secrets import SecretBox

_STATUS_NUMBERS = {1: "ACTIVE", 2: "DISABLED"}


def _events(wire: list[WebhookEventWire]) -> list[WebhookEvent]:
    return [WebhookEvent.from_dict({"entity": e.entity, "action": e.action}) for e in wire]


def _status(value: str | int | None) -> str | None:
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = _STATUS_NUMBERS.get(value, str(value))
    status = str(value).upper()
    if status not in STATUSES:
        raise invalid(f"Invalid webhook status {value!r}: expected one of {list(STATUSES)}")
    return status


def _check(call: Call, url: str) -> None:
    """The SSRF guard under this server's settings: private targets, allowed schemes."""
    config = call.config
    check_url(
        url,
        bool(getattr(config, "webhooks_allow_private", False)),
        schemes=getattr(config, "webhook_allowed_schemes", DEFAULT_URL_SCHEMES),
    )


def _box(call: Call) -> SecretBox:
    box = getattr(call.state, "webhook_secret_box", None)
    if box is None:
        box = call.state.webhook_secret_box = SecretBox.from_config(call.config)
    return box


def _changed(call: Call) -> None:
    found = getattr(call.state, "webhooks", None)
    if found is not None:
        found.forget()


def _one(webhook: Any) -> dict[str, Any]:
    return {"webhook": webhook.to_dict()}


def create_webhook(call: Call) -> dict[str, Any]:
    b: CreateWebhook = call.body
    if not b.name:
        raise invalid("Missing value for required parameter 'name'.")
    if not b.url:
        raise invalid("Missing value for required parameter 'url'.")
    if not b.events:
        raise invalid("Missing value for required parameter 'events'.")
    events = _events(b.events)
    status = _status(b.status)
    _check(call, b.url)
    hook = webhook_store(call.state).create_webhook(
        b.name, b.url, events, description=b.description or None, secret=_box(call).seal(b.secret or None),
        status=status,
    )  # fmt: skip
    _changed(call)
    return _one(hook)


def list_webhooks(call: Call) -> dict[str, Any]:
    b: ListWebhooks = call.body
    page = webhook_store(call.state).list_webhooks(b.max_results, b.page_token or None)
    return page_json("webhooks", page, lambda w: w.to_dict())


def get_webhook(call: Call) -> dict[str, Any]:
    return _one(webhook_store(call.state).get_webhook(path_param(call, "webhook_id")))


def update_webhook(call: Call) -> dict[str, Any]:
    b: UpdateWebhook = call.body
    url = b.url or None
    if url is not None:
        _check(call, url)
    hook = webhook_store(call.state).update_webhook(
        path_param(call, "webhook_id"),
        name=b.name or None,
        description=b.description,
        url=url,
        events=_events(b.events) if b.events else None,
        secret=_box(call).seal(b.secret) if b.secret is not None else None,
        status=_status(b.status),
    )
    _changed(call)
    return _one(hook)


def delete_webhook(call: Call) -> dict[str, Any]:
    webhook_store(call.state).delete_webhook(path_param(call, "webhook_id"))
    _changed(call)
    return {}


def test_webhook(call: Call) -> dict[str, Any]:
    with LAZY_IMPORTS:  # httpx, on the first test delivery
        from mltrail.server.webhook_delivery import test_webhook as send_test

    b: TestWebhook = call.body
    hook = webhook_store(call.state).get_webhook(path_param(call, "webhook_id"))
    event = (
        WebhookEvent.from_dict({"entity": b.event.entity, "action": b.event.action})
        if b.event is not None and (b.event.entity or b.event.action)
        else hook.events[0]
    )
    try:
        secret = _box(call).open(hook.secret)
    except MltrailException as err:  # never sent unsigned: the answer says why nothing was sent
        return {
            "result": WebhookTestResult(
                False, error_message=f"Failed to test webhook: {err.message}"
            ).to_dict()
        }
    sender = dispatcher(call.state)
    result = send_test(
        sender.client,
        hook,
        secret,
        event,
        EXAMPLES[str(event)],
        sender.allow_private,
        sender.timeout,
        schemes=sender.schemes,
    )
    return {"result": result.to_dict()}


def list_deliveries(call: Call) -> dict[str, Any]:
    b: ListDeliveries = call.body
    page = webhook_store(call.state).list_deliveries(
        path_param(call, "webhook_id"), b.max_results, b.page_token
    )
    return page_json("deliveries", page, lambda d: d.to_dict())


W = WEBHOOKS
_WRITE = {"write": True}
ENDPOINTS: list[Endpoint] = [
    implement(W.create_webhook, create_webhook, **_WRITE),
    implement(W.list_webhooks, list_webhooks),
    implement(W.get_webhook, get_webhook),
    implement(W.update_webhook, update_webhook, **_WRITE),
    implement(W.delete_webhook, delete_webhook, **_WRITE),
    # Not a write: it waits on the receiver, and must not hold SQLite's write turn meanwhile.
    implement(W.test_webhook, test_webhook),
    implement(W.list_webhook_deliveries, list_deliveries),
]

#: MLflow's auth app allows the webhook API to admins only (``sender_is_admin``); so does mltrail.
AUTH_RULES = {(ep.path, m): ADMIN_ONLY for ep in ENDPOINTS for m in ep.methods}
