"""Webhook methods of :class:`mltrail.tracking.MlflowClient` (MLflow 3.17's names and arguments).

The webhooks live with the model registry: on an ``http(s)://`` registry URI
they are :class:`~mltrail.store.rest_webhooks.RestWebhookStore` calls (the
server checks URLs, seals secrets and sends tests); on a database they are
:class:`~mltrail.store.sql.webhooks.SqlWebhookStore` rows on the registry's
database, which a ``mltrail server`` on that database then delivers to.

A secret written straight to the database is sealed with the server's key, read
from the variables ``mltrail server`` reads (``MLTRAIL_SECRETS_KEY_FILE``, else
``MLTRAIL_SECRET_KEY``; :class:`~mltrail.store.secrets.SecretBox`), so the server
opens it as if it had stored it itself. Without a key the client refuses to store
a secret (``INVALID_PARAMETER_VALUE``), rather than leave it in clear in a
database whose server may expect it sealed.

Example::

    client = MlflowClient("http://127.0.0.1:5000")
    hook = client.create_webhook("ci", "https://ci.example.com/hook", ["model_version.created"],
                                 secret="s3cret")
    client.test_webhook(hook.webhook_id).success
    client.update_webhook(hook.webhook_id, status="DISABLED")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from mltrail.entities import PagedList
from mltrail.entities.webhook import (
    DEFAULT_URL_SCHEMES,
    STATUSES,
    WEBHOOK_SCHEMES_ENV,
    Webhook,
    WebhookEvent,
    WebhookTestResult,
    parse_schemes,
    webhook_scheme_refused,
)
from mltrail.exceptions import MltrailException, invalid
from mltrail.store.secrets import KEY_ENV, KEY_FILE_ENV, WEBHOOK, SecretBox
from mltrail.tracking._store_registry import StoreCache, plan_store


def _build_webhook_store(kind: str, target: str, _uri: str) -> Any:
    if kind == "rest":
        from mltrail.store.rest_webhooks import RestWebhookStore

        return RestWebhookStore(target)
    from mltrail.store.sql.webhooks import SqlWebhookStore

    return SqlWebhookStore(target)


_webhook_stores: StoreCache[Any] = StoreCache(_build_webhook_store)


def _event(value: str | WebhookEvent | Any) -> WebhookEvent:
    """``"model_version.created"``, a :class:`WebhookEvent` or MLflow's event object (entity/action)."""
    if isinstance(value, WebhookEvent):
        return value
    if isinstance(value, str):
        return WebhookEvent.parse(value)
    entity, action = getattr(value, "entity", None), getattr(value, "action", None)
    if entity is None or action is None:
        raise invalid(f"Invalid webhook event {value!r}: expected 'entity.action' or a WebhookEvent")
    return WebhookEvent(
        str(getattr(entity, "value", entity)).lower(), str(getattr(action, "value", action)).lower()
    )


def _events(values: Sequence[str | WebhookEvent | Any]) -> list[WebhookEvent]:
    if isinstance(values, str | WebhookEvent):  # one event where a list was meant
        values = [values]
    return [_event(v) for v in values]


def _status(value: Any) -> str | None:
    if value is None:
        return None
    text = str(getattr(value, "value", value)).upper()
    if text not in STATUSES:
        raise invalid(f"Invalid webhook status {value!r}: expected one of {list(STATUSES)}")
    return text


def _check_url(url: str | None) -> None:
    """The embedded store's URL check (a server also refuses private addresses, see its SSRF guard).

    The schemes are MLflow's: ``https`` unless ``MLFLOW_WEBHOOK_ALLOWED_SCHEMES`` names others, as
    MLflow's own embedded store reads it (the server that delivers checks its own setting again).
    """
    if url is None:
        return
    raw = os.environ.get(WEBHOOK_SCHEMES_ENV, "").strip()
    try:
        schemes = parse_schemes(raw) if raw else DEFAULT_URL_SCHEMES
    except ValueError as err:
        raise invalid(f"{WEBHOOK_SCHEMES_ENV}={raw!r}: {err}") from None
    parts = urlsplit(str(url))
    if parts.scheme not in schemes:
        raise invalid(webhook_scheme_refused(parts.scheme, schemes))
    if not parts.hostname:
        raise invalid(f"Webhook URL must include a hostname: {url!r}")


def _seal(secret: str | None) -> str | None:
    """``secret`` as the embedded store keeps it: sealed with the server's key, else refused."""
    if not secret:
        return secret
    box = SecretBox.from_env(WEBHOOK)
    if not box.encrypts:
        raise invalid(
            "A webhook secret written straight to the database must be sealed with the key of the "
            f"`mltrail server` that delivers it: set {KEY_ENV} (or {KEY_FILE_ENV}) to the server's "
            "key, or create the webhook through the server (an http(s):// registry URI)."
        )
    return box.seal(secret)


class WebhookClientMixin:
    """Webhook half of the client; expects ``self._registry_uri`` to be set by ``__init__``."""

    _registry_uri: str

    @property
    def _webhook_store(self) -> Any:
        return _webhook_stores.get(self._registry_uri)

    def _is_embedded(self) -> bool:
        """Whether webhooks are rows of a database this process writes (no server in between)."""
        return plan_store(self._registry_uri)[0] != "rest"

    def create_webhook(
        self,
        name: str,
        url: str,
        events: list[str | WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        """Create a webhook that is sent ``events`` (``"model_version.created"`` or :class:`WebhookEvent`).

        ``secret`` signs each delivery (HMAC-SHA256, MLflow's headers); ``status`` is
        ``"ACTIVE"`` (the default) or ``"DISABLED"``.
        """
        if self._is_embedded():
            _check_url(url)
            secret = _seal(secret)
        hook = self._webhook_store.create_webhook(
            name, url, _events(events), description, secret, _status(status)
        )
        hook.secret = None
        return hook

    def get_webhook(self, webhook_id: str) -> Webhook:
        """The webhook with this id (404 ``RESOURCE_DOES_NOT_EXIST`` when unknown). Its secret is never returned."""
        hook = self._webhook_store.get_webhook(webhook_id)
        hook.secret = None
        return hook

    def list_webhooks(self, max_results: int | None = None, page_token: str | None = None) -> PagedList:
        """One page of webhooks (newest first); ``.token`` gives the next page."""
        page = self._webhook_store.list_webhooks(max_results, page_token)
        for hook in page:
            hook.secret = None
        return page

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: list[str | WebhookEvent] | None = None,
        secret: str | None = None,
        status: str | None = None,
    ) -> Webhook:
        """Change the fields given; ``None`` leaves a field as it is."""
        if self._is_embedded():
            _check_url(url)
            secret = _seal(secret)
        hook = self._webhook_store.update_webhook(
            webhook_id, name, description, url, _events(events) if events is not None else None, secret,
            _status(status),
        )  # fmt: skip
        hook.secret = None
        return hook

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook: it is sent nothing more."""
        self._webhook_store.delete_webhook(webhook_id)

    def test_webhook(self, webhook_id: str, event: str | WebhookEvent | None = None) -> WebhookTestResult:
        """Send one example payload for ``event`` (default: the webhook's first event); what came back.

        The server sends it (with its URL guard and signing key), so this needs a
        tracking server: on a database URI it raises ``INVALID_PARAMETER_VALUE``.
        """
        if self._is_embedded():
            raise MltrailException(
                "test_webhook needs a tracking server (the server sends the test request): set an "
                "http(s):// registry URI, e.g. the one of `mltrail server`",
                error_code="INVALID_PARAMETER_VALUE",
            )
        return self._webhook_store.test_webhook(webhook_id, _event(event) if event is not None else None)
