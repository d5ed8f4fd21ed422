"""Which registry calls fire which webhook events, with MLflow 3.17's payloads.

As in MLflow's server handlers (``mlflow.server.handlers``), after the store call
succeeded:

==========================  ==========================================================
registry call               event (a prompt's, when the model is a prompt)
==========================  ==========================================================
create registered model     ``registered_model.created`` / ``prompt.created``
create model version        ``model_version.created`` / ``prompt_version.created``
set / delete model tag      ``prompt_tag.set`` / ``prompt_tag.deleted`` (prompts only)
set / delete version tag    ``model_version_tag.*`` / ``prompt_version_tag.*``
set / delete alias          ``model_version_alias.created|deleted`` / ``prompt_alias.*``
==========================  ==========================================================

A create is a prompt's when its request carries ``mlflow.prompt.is_prompt=true``;
the other calls look the registered model up. That look-up, finding the
subscribed webhooks and sending all happen on the dispatcher's thread
(:class:`~mltrail.server.webhook_dispatcher.WebhookDispatcher`), so a registry call
pays for one queue append.

:func:`with_webhook_events` wraps the registry's route-table rows; the
dispatcher is built per app on first use (:func:`dispatcher`), or at start-up when
the database holds deliveries to resume (:func:`resume_pending`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from mltrail.entities.prompt import (
    IS_PROMPT_TAG_KEY,
    PROMPT_TEXT_TAG_KEY,
    PROMPT_TYPE_TAG_KEY,
    is_prompt_tags,
)
from mltrail.entities.webhook import DEFAULT_URL_SCHEMES, WebhookEvent
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.server.routing import Call, Endpoint
from mltrail.store.secrets import SecretBox

_HIDDEN_PROMPT_TAGS = (IS_PROMPT_TAG_KEY, PROMPT_TYPE_TAG_KEY)
_lock = threading.RLock()
_log = logging.getLogger("mltrail.server.webhooks")

#: MLflow's example payloads (``mlflow.webhooks.types``), sent by ``test_webhook``.
EXAMPLES: dict[str, dict[str, Any]] = {
    "registered_model.created": {
        "name": "example_model", "tags": {"example_key": "example_value"},
        "description": "An example registered model",
    },
    "model_version.created": {
        "name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678",
        "tags": {"example_key": "example_value"}, "description": "An example model version",
    },
    "model_version_tag.set": {"name": "example_model", "version": "1", "key": "example_key", "value": "example_value"},
    "model_version_tag.deleted": {"name": "example_model", "version": "1", "key": "example_key"},
    "model_version_alias.created": {"name": "example_model", "alias": "example_alias", "version": "1"},
    "model_version_alias.deleted": {"name": "example_model", "alias": "example_alias"},
    "prompt.created": {
        "name": "example_prompt", "tags": {"example_key": "example_value"}, "description": "An example prompt",
    },
    "prompt_version.created": {
        "name": "example_prompt", "version": "1", "template": "Hello {{name}}!",
        "tags": {"example_key": "example_value"}, "description": "An example prompt version",
    },
    "prompt_tag.set": {"name": "example_prompt", "key": "example_key", "value": "example_value"},
    "prompt_tag.deleted": {"name": "example_prompt", "key": "example_key"},
    "prompt_version_tag.set": {"name": "example_prompt", "version": "1", "key": "example_key", "value": "example_value"},
    "prompt_version_tag.deleted": {"name": "example_prompt", "version": "1", "key": "example_key"},
    "prompt_alias.created": {"name": "example_prompt", "alias": "example_alias", "version": "1"},
    "prompt_alias.deleted": {"name": "example_prompt", "alias": "example_alias"},
    "budget_policy.exceeded": {
        "budget_policy_id": "bp-abc123", "budget_unit": "USD", "budget_amount": 100.0, "current_spend": 105.50,
        "duration_unit": "MONTHS", "duration_value": 1, "target_scope": "ENDPOINT", "workspace": "default",
        "target_value": "ep-abc123", "window_start": 1704067200000,
    },
}  # fmt: skip


def dispatcher(state: Any) -> Any:
    """The app's :class:`~mltrail.server.webhook_dispatcher.WebhookDispatcher`, built on first use."""
    found = getattr(state, "webhooks", None)
    if found is not None:
        return found
    with _lock:
        found = getattr(state, "webhooks", None)
        if found is None:
            # Imported here: httpx loads with the first event, not at server start-up.
            with LAZY_IMPORTS:
                from mltrail.server.webhook_dispatcher import WebhookDispatcher

            config = state.config
            box = SecretBox.from_config(config)
            found = WebhookDispatcher(
                functools.partial(webhook_store, state),
                box.open,
                bool(getattr(config, "webhooks_allow_private", False)),
                schemes=tuple(getattr(config, "webhook_allowed_schemes", DEFAULT_URL_SCHEMES)),
            )
            state.webhooks = found
    return found


def resume_pending(state: Any) -> None:
    """At server start: hand the deliveries a stopped server left PENDING to this one's dispatcher.

    One indexed look-up; the dispatcher (and httpx) is built only when there is something to send.
    """
    try:
        if webhook_store(state).pending_deliveries(limit=1):
            dispatcher(state).resume()
    except Exception:  # never stops the server: the next start (or event) looks again
        _log.exception("Cannot look for webhook deliveries to resume")


def webhook_store(state: Any) -> Any:
    """The app's webhook store (on the registry's database), opened on first use."""
    found = getattr(state, "webhook_store", None)
    if found is None:
        with _lock:
            found = getattr(state, "webhook_store", None)
            if found is None:
                # Imported here: the SQL store loads on first use, not while the server starts.
                with LAZY_IMPORTS:
                    from mltrail.store.sql.webhooks import SqlWebhookStore

                state.registry_store.get()  # the registry's database, migrated
                found = state.webhook_store = SqlWebhookStore(state.config.effective_registry_uri())
    return found


# ------------------------------------------------------------- event builders

Found = tuple[WebhookEvent, dict[str, Any]] | None


def _ev(text: str) -> WebhookEvent:
    return WebhookEvent.parse(text)


def _tags(kvs: Any) -> dict[str, str]:
    return {t.key: t.value for t in kvs or ()}


def _is_prompt(call: Call, name: str) -> bool:
    try:
        model = call.registry_store.get_registered_model(name)
    except Exception:  # deleted meanwhile: treated as a model, as MLflow's look-up would
        return False
    tags = model.tags if isinstance(model.tags, dict) else _tags(model.tags)
    return is_prompt_tags(tags)


def _created_model(call: Call, result: Any) -> Found:
    b = call.body
    tags = _tags(b.tags)
    if is_prompt_tags(tags):
        shown = {k: v for k, v in tags.items() if k not in _HIDDEN_PROMPT_TAGS}
        return _ev("prompt.created"), {"name": b.name, "tags": shown, "description": b.description}
    return _ev("registered_model.created"), {"name": b.name, "tags": tags, "description": b.description}


def _created_version(call: Call, result: Any) -> Found:
    b = call.body
    mv = (result or {}).get("model_version") or {}
    version = str(mv.get("version", ""))
    tags = _tags(b.tags)
    if is_prompt_tags(tags):
        template = tags.pop(PROMPT_TEXT_TAG_KEY, None)
        for key in _HIDDEN_PROMPT_TAGS:
            tags.pop(key, None)
        data = {"name": b.name, "version": version, "template": template, "tags": tags,
                "description": b.description or None}  # fmt: skip
        return _ev("prompt_version.created"), data
    data = {"name": b.name, "version": version, "source": mv.get("source") or b.source,
            "run_id": b.run_id or None, "tags": tags, "description": b.description or None}  # fmt: skip
    return _ev("model_version.created"), data


def _model_tag(action: str) -> Callable[[Call, Any], Found]:
    def build(call: Call, result: Any) -> Found:
        b = call.body
        if not _is_prompt(call, b.name):
            return None  # MLflow fires nothing for a registered model's own tags
        data = {"name": b.name, "key": b.key, **({"value": b.value} if action == "set" else {})}
        return _ev(f"prompt_tag.{action}"), data

    return build


def _version_tag(action: str) -> Callable[[Call, Any], Found]:
    def build(call: Call, result: Any) -> Found:
        b = call.body
        kind = "prompt_version_tag" if _is_prompt(call, b.name) else "model_version_tag"
        data = {"name": b.name, "version": b.version, "key": b.key}
        if action == "set":
            data["value"] = b.value
        return _ev(f"{kind}.{action}"), data

    return build


def _alias(action: str) -> Callable[[Call, Any], Found]:
    def build(call: Call, result: Any) -> Found:
        b = call.body
        kind = "prompt_alias" if _is_prompt(call, b.name) else "model_version_alias"
        data = {"name": b.name, "alias": b.alias}
        if action == "created":
            data["version"] = b.version
        return _ev(f"{kind}.{action}"), data

    return build


#: Route name -> what it fires (built from the request and the answer, on the dispatcher thread).
BUILDERS: dict[str, Callable[[Call, Any], Found]] = {
    "create_registered_model": _created_model,
    "create_model_version": _created_version,
    "set_registered_model_tag": _model_tag("set"),
    "delete_registered_model_tag": _model_tag("deleted"),
    "set_model_version_tag": _version_tag("set"),
    "delete_model_version_tag": _version_tag("deleted"),
    "set_registered_model_alias": _alias("created"),
    "delete_registered_model_alias": _alias("deleted"),
}


def _firing(handler: Callable[[Call], Any], build: Callable[[Call, Any], Found]) -> Callable[[Call], Any]:
    @functools.wraps(handler)
    def fire(call: Call) -> Any:
        result = handler(call)
        try:
            dispatcher(call.state).emit(functools.partial(build, call, result))
        except Exception:  # e.g. a bad secrets key: the registry call has succeeded and says so
            _log.exception(
                "Cannot queue the webhook event of %s", getattr(handler, "__name__", "a registry call")
            )
        return result

    return fire


def with_webhook_events(endpoints: list[Endpoint]) -> list[Endpoint]:
    """``endpoints`` with the registry calls of :data:`BUILDERS` firing their webhook events."""
    return [
        dataclasses.replace(ep, handler=_firing(ep.handler, BUILDERS[ep.name])) if ep.name in BUILDERS else ep
        for ep in endpoints
    ]
