"""MLflow 3's webhook REST API (webhooks.proto) and mltrail's delivery log: wire types and routes.

MLflow serves ``/api/2.0/mlflow/webhooks`` (create: POST, list: GET),
``/webhooks/{webhook_id}`` (GET, PATCH, DELETE) and ``/webhooks/{webhook_id}/test``
(POST). Events travel as ``{"entity": "MODEL_VERSION", "action": "CREATED"}`` and
the status as ``"ACTIVE"``/``"DISABLED"`` (protobuf enum names). The secret is
write-only: it is taken by create and update and never answered.

mltrail adds ``GET /api/2.0/mltrail/webhooks/{webhook_id}/deliveries``: the
webhook's delivery log, newest first.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol.routes import MLTRAIL, Message, Route, RouteSet


class WebhookEventWire(msgspec.Struct):
    """One event: protobuf enum names (``"MODEL_VERSION"``, ``"CREATED"``) or their numbers."""

    entity: str | int | None = None
    action: str | int | None = None


class CreateWebhook(Message):
    name: str = ""
    url: str = ""
    events: list[WebhookEventWire] = []
    description: str | None = None
    secret: str | None = None
    status: str | int | None = None


class UpdateWebhook(Message):
    webhook_id: str | None = None
    name: str | None = None
    description: str | None = None
    url: str | None = None
    events: list[WebhookEventWire] = []
    secret: str | None = None
    status: str | int | None = None


class WebhookRef(Message):
    webhook_id: str | None = None


class ListWebhooks(Message):
    max_results: int | None = None
    page_token: str | None = None


class TestWebhook(Message):
    webhook_id: str | None = None
    event: WebhookEventWire | None = None


class WebhookResponse(msgspec.Struct):
    webhook: dict[str, Any] = {}


class ListWebhooksResponse(msgspec.Struct):
    webhooks: list[dict[str, Any]] = []
    next_page_token: str | None = None


class TestWebhookResponse(msgspec.Struct):
    result: dict[str, Any] = {}


class ListDeliveries(Message):
    max_results: int | None = None
    page_token: str | None = None


class ListDeliveriesResponse(msgspec.Struct):
    deliveries: list[dict[str, Any]] = []
    next_page_token: str | None = None


class Empty(msgspec.Struct):
    pass


_ONE = "/webhooks/{webhook_id}"
_TAGS = ("webhooks",)

WEBHOOKS = RouteSet(
    Route("create_webhook", "POST", "/webhooks", CreateWebhook, WebhookResponse, tags=_TAGS),
    Route("list_webhooks", "GET", "/webhooks", ListWebhooks, ListWebhooksResponse, tags=_TAGS),
    Route("get_webhook", "GET", _ONE, WebhookRef, WebhookResponse, tags=_TAGS),
    Route("update_webhook", "PATCH", _ONE, UpdateWebhook, WebhookResponse, tags=_TAGS),
    Route("delete_webhook", "DELETE", _ONE, WebhookRef, Empty, tags=_TAGS),
    Route("test_webhook", "POST", f"{_ONE}/test", TestWebhook, TestWebhookResponse, tags=_TAGS),
    Route(
        "list_webhook_deliveries",
        "GET",
        f"{_ONE}/deliveries",
        ListDeliveries,
        ListDeliveriesResponse,
        service=MLTRAIL,
        tags=_TAGS,
        summary="A webhook's delivery log, newest first (mltrail)",
    ),
)
