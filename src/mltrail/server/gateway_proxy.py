"""The AI gateway's proxy: OpenAI-format requests sent to an endpoint's provider with its stored key.

Routes (declared in :mod:`mltrail.protocol.gateway`):

* ``POST /gateway/mlflow/v1/chat/completions`` and the passthrough
  ``POST /gateway/openai/v1/chat/completions`` / ``.../embeddings``: the body's
  ``model`` names the endpoint;
* ``POST /gateway/{endpoint_name}/mlflow/invocations``: chat when the body has
  ``messages``, embeddings when it has ``input``;
* ``GET /gateway/mlflow/v1/models``: the endpoints, as OpenAI's model list.

An endpoint's PRIMARY models share the traffic by weight; when the chosen one
fails (unreachable, 429 or 5xx) its FALLBACK models are tried in
``fallback_order`` (up to ``fallback_config.max_attempts``). The request goes to
the model definition's provider (:mod:`mltrail.server.gateway_providers`) with
``model`` set to the definition's model name and the secret's ``api_key`` as a
bearer token, opened from its sealed form only here, for this request. The
target passes the egress guard (:func:`~mltrail.server.webhook_urls.pinned_request`)
each time. Error text from a provider is relayed with the key masked out.

Every call is counted in the endpoint's usage (requests, failures, prompt and
completion tokens from the provider's ``usage``), read by
``GET /ajax-api/3.0/mltrail/gateway/usage``.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

from mltrail.exceptions import (
    INVALID_STATE,
    REQUEST_LIMIT_EXCEEDED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    MltrailException,
    invalid,
)
from mltrail.protocol.gateway import GATEWAY as G
from mltrail.server import gateway_providers as providers
from mltrail.server.auth.rules import AUTHENTICATED, USE, PermissionDenied, auth_enabled, subject_of
from mltrail.server.bodies import locked_call, read_body
from mltrail.server.limits import loads_json
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.validation import path_param
from mltrail.server.webhook_urls import pinned_request
from mltrail.store.secrets import GATEWAY, KEY_ENV, SecretBox

_log = logging.getLogger("mltrail.gateway")
_TIMEOUT_S = 120.0
CHAT, EMBEDDINGS = "/chat/completions", "/embeddings"


def gateway_store(call: Call) -> Any:
    """The app's gateway store (opened once, after the tracking store brought the schema to head)."""
    return call.side_store("gateway_store", _open_gateway_store)


def _open_gateway_store(backend_store_uri: str) -> Any:
    # Imported here: the SQL layer pulls in SQLAlchemy, which server start-up must not wait for.
    from mltrail.store.sql.gateway import SqlGatewayStore

    return SqlGatewayStore(backend_store_uri)


def secret_box(call: Call, required: bool = False) -> SecretBox:
    """The server's box for gateway secrets; with ``required``, 400 when the server has no key."""
    box = getattr(call.state, "gateway_secret_box", None)
    if box is None:
        box = call.state.gateway_secret_box = SecretBox.from_config(call.config, GATEWAY)
    if required and not box.encrypts:
        raise MltrailException(
            "The AI gateway stores provider keys encrypted and this server has no key: start it with "
            f"{KEY_ENV} set (16 characters or more) or with --secrets-key-file.",
            INVALID_STATE,
        )
    return box


def _http(call: Call) -> Any:
    client = getattr(call.state, "gateway_http", None)
    if client is None:
        import httpx  # the server's optional dependency, needed only once the gateway is called

        client = call.state.gateway_http = httpx.AsyncClient(timeout=_TIMEOUT_S, follow_redirects=False)
    return client


async def _blocking(call: Call, fn: Any, *args: Any, write: bool = False) -> Any:
    from starlette.concurrency import run_in_threadpool

    if write and call.state.write_lock is not None:
        return await run_in_threadpool(locked_call, call.state.write_lock, lambda _: fn(*args), None)
    return await run_in_threadpool(fn, *args)


async def _json_body(call: Call) -> dict[str, Any]:
    raw = await read_body(call.request, call.config.max_body_bytes)
    body = loads_json(raw or b"{}", f"the request body to {call.request.url.path}")
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


# ----------------------------------------------------------------------------- targets
class _Target:
    """One model of an endpoint, resolved: where to send, which model name, which key."""

    def __init__(self, url: str, model: str, key: str | None, provider: str) -> None:
        self.url, self.model, self.key, self.provider = url, model, key, provider

    def mask(self, text: str) -> str:
        return text.replace(self.key, "***") if self.key else text


def _order(endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The models to try: one PRIMARY (by weight), then the FALLBACKs in order, up to max_attempts."""
    mappings = endpoint.get("model_mappings", [])
    primaries = [m for m in mappings if m["linkage_type"] == "PRIMARY"]
    fallbacks = sorted(
        (m for m in mappings if m["linkage_type"] == "FALLBACK"), key=lambda m: m.get("fallback_order", 0)
    )
    if not primaries:
        raise invalid(f"Gateway endpoint '{endpoint['name']}' has no PRIMARY model.")
    weights = [max(float(m.get("weight", 1.0)), 0.0) for m in primaries]
    first = random.choices(primaries, weights=weights)[0] if sum(weights) > 0 else primaries[0]
    limit = (endpoint.get("fallback_config") or {}).get("max_attempts")
    return [first, *(fallbacks[:limit] if limit else fallbacks)]


def _resolve(call: Call, mapping: dict[str, Any]) -> _Target:
    definition = mapping.get("model_definition") or {}
    provider = definition.get("provider", "")
    if not definition.get("secret_id"):
        raise invalid(
            f"Model definition '{definition.get('name')}' has no secret: set one before calling it."
        )
    if not providers.supported(provider):
        providers.base_url(provider, {})  # raises the "not supported by mltrail" 400
    sealed, auth_config = gateway_store(call).sealed_secret(definition["secret_id"])
    opened = secret_box(call).open(sealed)
    try:
        values = json.loads(opened or "{}")
    except ValueError:
        raise MltrailException(
            "The gateway secret cannot be read (was it stored by this server?)", INVALID_STATE
        ) from None
    url = providers.base_url(provider, auth_config)
    return _Target(url, definition["model_name"], values.get("api_key"), provider)


async def _send(call: Call, target: _Target, path: str, body: dict[str, Any]) -> Any:
    """POST ``body`` to ``target``: the httpx response (streamed when ``body['stream']``)."""
    import httpx

    url, host, extensions = pinned_request(
        target.url + path, bool(call.config.webhooks_allow_private), "Gateway provider URL"
    )
    headers = {**host, "Content-Type": "application/json"}
    if target.key:
        headers["Authorization"] = f"Bearer {target.key}"
    client = _http(call)
    request = client.build_request("POST", url, json=body, headers=headers, extensions=extensions)
    try:
        resp = await client.send(request, stream=bool(body.get("stream")))
    except httpx.HTTPError as err:
        raise MltrailException(
            f"The {target.provider} provider cannot be reached: {target.mask(type(err).__name__ + ' ' + str(err))}",
            TEMPORARILY_UNAVAILABLE,
        ) from None
    if resp.status_code >= 400:
        text = (await resp.aread()).decode("utf-8", "replace")[:1000]
        await resp.aclose()
        code = (
            REQUEST_LIMIT_EXCEEDED
            if resp.status_code == 429
            else TEMPORARILY_UNAVAILABLE
            if resp.status_code >= 500
            else "BAD_REQUEST"
        )
        raise MltrailException(
            f"The {target.provider} provider answered {resp.status_code}: {target.mask(text)}", code
        )
    return resp


def _usable_endpoint(call: Call, store: Any, name: str) -> dict[str, Any]:
    """The endpoint called ``name``; with logins on, 403 unless the caller has USE on it.

    As in MLflow, a non-admin naming an endpoint that does not exist is refused the
    same way (403), so names cannot be probed.
    """
    if not auth_enabled(call.config):
        return store.get_endpoint(None, name)
    subject = subject_of(call.request)
    try:
        endpoint = store.get_endpoint(None, name)
    except MltrailException as err:
        if err.error_code == RESOURCE_DOES_NOT_EXIST and not subject.is_admin:
            raise PermissionDenied() from None
        raise
    subject.require_gateway("gateway_endpoint", endpoint["endpoint_id"], USE)
    return endpoint


def _usable(call: Call, endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The endpoints the caller may call (all of them without logins)."""
    if not auth_enabled(call.config):
        return endpoints
    subject = subject_of(call.request)
    return [e for e in endpoints if subject.gateway("gateway_endpoint", e["endpoint_id"]).can_use]


def _retryable(err: MltrailException) -> bool:
    return err.error_code in (TEMPORARILY_UNAVAILABLE, REQUEST_LIMIT_EXCEEDED)


async def _record(call: Call, endpoint: dict[str, Any], usage: dict[str, Any] | None, failed: bool) -> None:
    usage = usage or {}
    try:
        await _blocking(
            call,
            gateway_store(call).record_usage,
            endpoint["endpoint_id"],
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            failed,
            write=True,
        )
    except Exception:  # counting must never fail the call it counts
        _log.warning("gateway: could not record usage for endpoint %s", endpoint.get("name"), exc_info=True)


async def _forward(call: Call, endpoint_name: str, path: str, body: dict[str, Any]) -> Any:
    """Send ``body`` through the endpoint's models (fallbacks on transient failures), count it."""
    from starlette.responses import Response, StreamingResponse

    if not endpoint_name or not isinstance(endpoint_name, str):
        raise invalid("The request must name the gateway endpoint in 'model'.")
    store = await _blocking(call, gateway_store, call)  # the first call opens it: off the event loop
    endpoint = await _blocking(call, _usable_endpoint, call, store, endpoint_name)
    last: MltrailException | None = None
    for mapping in _order(endpoint):
        target = await _blocking(call, _resolve, call, mapping)
        try:
            resp = await _send(call, target, path, {**body, "model": target.model})
        except MltrailException as err:
            last = err
            if _retryable(err):
                continue
            await _record(call, endpoint, None, True)
            raise
        if body.get("stream"):
            return StreamingResponse(_relay(call, endpoint, resp), media_type="text/event-stream")
        content = await resp.aread()
        try:
            usage = json.loads(content).get("usage")
        except (ValueError, AttributeError):
            usage = None
        await _record(call, endpoint, usage if isinstance(usage, dict) else None, False)
        return Response(content, media_type="application/json")
    await _record(call, endpoint, None, True)
    assert last is not None
    raise last


async def _relay(call: Call, endpoint: dict[str, Any], resp: Any) -> AsyncIterator[bytes]:
    """Pass a provider's event stream through; count its tokens if a chunk reports usage."""
    usage: dict[str, Any] | None = None
    try:
        async for line in resp.aiter_lines():
            if line.startswith("data:") and '"usage"' in line:
                try:
                    usage = json.loads(line[5:]).get("usage") or usage
                except (ValueError, AttributeError):
                    pass
            yield (line + "\n").encode()
    finally:
        await resp.aclose()
        await _record(call, endpoint, usage, False)


# ------------------------------------------------------------------------------ handlers
async def chat_completions(call: Call) -> Any:
    body = await _json_body(call)
    return await _forward(call, body.pop("model", None), CHAT, body)


async def openai_embeddings(call: Call) -> Any:
    body = await _json_body(call)
    return await _forward(call, body.pop("model", None), EMBEDDINGS, body)


async def invocations(call: Call) -> Any:
    body = await _json_body(call)
    body.pop("model", None)
    path = EMBEDDINGS if "input" in body and "messages" not in body else CHAT
    return await _forward(call, path_param(call, "endpoint_name"), path, body)


async def list_models(call: Call) -> Any:
    store = await _blocking(call, gateway_store, call)
    endpoints = await _blocking(call, _usable, call, await _blocking(call, store.list_endpoints))
    data = [
        {"id": e["name"], "object": "model", "created": e["created_at"] // 1000, "owned_by": "mlflow"}
        for e in sorted(endpoints, key=lambda e: e["name"])
    ]
    return {"object": "list", "data": data}


ENDPOINTS: list[Endpoint] = [
    implement(G.chat_completions, chat_completions),
    implement(G.list_models, list_models),
    implement(G.invocations, invocations),
    implement(G.openai_chat, chat_completions),
    implement(G.openai_embeddings, openai_embeddings),
]

#: Any signed-in user reaches the proxies; calling an endpoint needs USE on it (checked once the
#: body names it, :func:`_usable_endpoint`), and the model list shows only those (as MLflow).
AUTH_RULES = {(ep.path, m): AUTHENTICATED for ep in ENDPOINTS for m in ep.methods}
