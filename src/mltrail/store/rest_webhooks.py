"""``RestWebhookStore``: registry webhooks over MLflow 3's webhook REST API.

The same methods as :class:`mltrail.store.sql.webhooks.SqlWebhookStore` (the
embedded store), plus ``test_webhook``, which the server sends. Works against
``mltrail server`` and ``mlflow server`` alike.

Example::

    store = RestWebhookStore("http://127.0.0.1:5000")
    hook = store.create_webhook("ci", "https://ci.example.com/hook", [WebhookEvent.parse("model_version.created")])
    store.test_webhook(hook.webhook_id).success
"""

from __future__ import annotations

from collections.abc import Sequence

from mltrail.entities import PagedList
from mltrail.entities.webhook import Webhook, WebhookEvent, WebhookTestResult
from mltrail.protocol import webhooks as w
from mltrail.protocol.webhooks import WEBHOOKS as W
from mltrail.store._http import HttpSession


def _wire(events: Sequence[WebhookEvent]) -> list[w.WebhookEventWire]:
    return [w.WebhookEventWire(**e.to_dict()) for e in events]


class RestWebhookStore:
    """Webhook calls as HTTP requests (keep-alive, retries on 5xx and dropped connections)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = HttpSession(self.base_url)

    def create_webhook(
        self,
        name: str,
        url: str,
        events: Sequence[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        """A new webhook (the server checks the URL and keeps the secret)."""
        body = w.CreateWebhook(name, url, _wire(events), description, secret, status)
        return Webhook.from_dict(self.http.send(W.create_webhook, body)["webhook"])

    def get_webhook(self, webhook_id: str) -> Webhook:
        """One webhook (404 ``RESOURCE_DOES_NOT_EXIST`` when unknown)."""
        out = self.http.send(W.get_webhook, w.WebhookRef(), webhook_id=webhook_id)
        return Webhook.from_dict(out["webhook"])

    def list_webhooks(self, max_results: int | None = None, page_token: str | None = None) -> PagedList:
        """One page of webhooks, newest first."""
        out = self.http.send(W.list_webhooks, w.ListWebhooks(max_results, page_token))
        return PagedList(
            [Webhook.from_dict(h) for h in out.get("webhooks", [])], out.get("next_page_token") or None
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
        """Change the fields given (``None`` leaves a field as it is)."""
        body = w.UpdateWebhook(None, name, description, url, _wire(events or ()), secret, status)
        return Webhook.from_dict(self.http.send(W.update_webhook, body, webhook_id=webhook_id)["webhook"])

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook (it stops receiving events)."""
        self.http.send(W.delete_webhook, w.WebhookRef(), webhook_id=webhook_id)

    def test_webhook(self, webhook_id: str, event: WebhookEvent | None = None) -> WebhookTestResult:
        """Have the server send one example payload; what the receiver answered."""
        wire = w.WebhookEventWire(**event.to_dict()) if event is not None else None
        out = self.http.send(W.test_webhook, w.TestWebhook(None, wire), webhook_id=webhook_id)
        return WebhookTestResult.from_dict(out.get("result") or {})
