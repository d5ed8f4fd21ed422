"""The AI gateway's proxy: requests sent to an endpoint's provider with its stored key, traced.

Routes (declared in :mod:`mltrail.protocol.gateway`), as MLflow 3.17 serves them:

* ``POST /gateway/mlflow/v1/chat/completions``: the body's ``model`` names the endpoint
  (an Anthropic or Gemini model gets it translated: :mod:`mltrail.server.gateway_translate`);
* ``POST /gateway/{endpoint_name}/mlflow/invocations``: chat when the body has
  ``messages``, embeddings when it has ``input``;
* ``GET /gateway/mlflow/v1/models``: the endpoints the caller may use, as OpenAI's model list;
* passthroughs in the provider's own format, ``model`` naming the endpoint:
  ``/gateway/openai/v1/chat/completions``, ``/embeddings``, ``/responses``,
  ``/responses/compact`` (OpenAI-compatible providers), ``/gateway/anthropic/v1/messages``
  (Anthropic); the endpoint in the path: ``/gateway/gemini/v1beta/models/{endpoint}:generateContent``
  and ``:streamGenerateContent`` (Gemini); ``/gateway/typesafe/v1/systemone`` (TypeSafe System One,
  TypeSafe and OpenRouter Jev models only: :mod:`mltrail.server.gateway_systemone`, whose
  :func:`~mltrail.server.gateway_systemone.check_endpoint` also keeps System One endpoints off
  every other route);
* ``POST /gateway/proxy/{endpoint_name}/{path}``: the body as it is (``model`` kept) to
  ``<provider base>/<path>`` (query kept), any provider.

An endpoint's PRIMARY models share the traffic by weight; when the chosen one
fails (unreachable, 429 or 5xx) its FALLBACK models are tried in
``fallback_order`` (up to ``fallback_config.max_attempts``). The request goes to
the model definition's provider (:mod:`mltrail.server.gateway_providers`) with
``model`` set to the definition's model name and the secret's ``api_key`` in the
provider's header, opened from its sealed form only here, for this request. The
target passes the egress guard (:func:`~mltrail.server.webhook_urls.pinned_request`)
each time; a secret's ``api_base`` must also use a scheme ``--gateway-api-base-allowed-schemes``
allows (``https`` by default). Error text from a provider is relayed with the key masked out. An
event-stream answer (``"stream": true``, Gemini's stream route) is relayed as it comes; a
guardrail's refusal of such a call (:mod:`mltrail.server.gateway_guardrails`), its provider's
failure before the first chunk (once every fallback failed) and a stream that breaks are an
error event in a 200 stream, as MLflow's; a streamed ``/responses/compact`` is a 400. Each
route runs the guardrail stages MLflow runs on it (``ProxyRoute.guardrails``: none on unified
embeddings, BEFORE on OpenAI's).

Every call is counted in the endpoint's usage (requests, failures, input and output
tokens), read by ``GET /ajax-api/3.0/mltrail/gateway/usage``, and traced into the
endpoint's experiment (:mod:`mltrail.server.gateway_traces`). With logins on, calling
an endpoint needs USE on it. With ``--enable-workspaces`` an endpoint name is resolved in the
workspace the request names (``X-MLFLOW-WORKSPACE``, ``default`` without it): the store reads
in the workspace the app bound for the request, so the same name in two workspaces reaches
two endpoints, each with its own models and keys, and another workspace's endpoint is unknown.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio

from mltrail.entities.webhook import SUPPORTED_URL_SCHEMES
from mltrail.exceptions import (
    INVALID_STATE,
    REQUEST_LIMIT_EXCEEDED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    MltrailException,
    invalid,
)
from mltrail.lazy_imports import LAZY_IMPORTS
from mltrail.protocol.gateway import GATEWAY as G
from mltrail.server import gateway_policy as policy
from mltrail.server import gateway_providers as providers
from mltrail.server import gateway_systemone as system_one
from mltrail.server import gateway_traces as tr
from mltrail.server import gateway_translate as gt
from mltrail.server.auth.rules import AUTHENTICATED, USE, PermissionDenied, auth_enabled, subject_of
from mltrail.server.bodies import locked_call, read_body
from mltrail.server.gateway_guardrails import GuardrailStop
from mltrail.server.limits import loads_json
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.validation import path_param
from mltrail.server.webhook_urls import pinned_request
from mltrail.store.secrets import GATEWAY, KEY_ENV, SecretBox

if TYPE_CHECKING:
    from starlette.responses import StreamingResponse

_log = logging.getLogger("mltrail.gateway")
_TIMEOUT_S = 120.0
CHAT, EMBEDDINGS = "/chat/completions", "/embeddings"


def gateway_store(call: Call) -> Any:
    """The app's gateway store (opened once, after the tracking store brought the schema to head)."""
    return call.side_store("gateway_store", _open_gateway_store)


def _open_gateway_store(backend_store_uri: str) -> Any:
    # Imported here: the gateway's SQL store loads on first use, not while the server starts.
    with LAZY_IMPORTS:
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
        with LAZY_IMPORTS:  # the server's optional dependency, needed only once the gateway is called
            import httpx

        client = call.state.gateway_http = httpx.AsyncClient(timeout=_TIMEOUT_S, follow_redirects=False)
    return client


async def _blocking(call: Call, fn: Any, *args: Any, write: bool = False) -> Any:
    from starlette.concurrency import run_in_threadpool

    if write and call.state.write_lock is not None:
        return await run_in_threadpool(locked_call, call.state.write_lock, lambda _: fn(*args), None)
    return await run_in_threadpool(fn, *args)


async def _json_body(call: Call) -> dict[str, Any]:
    raw = await read_body(call.request, call.config.max_body_bytes)
    try:
        body = loads_json(raw or b"{}", f"the request body to {call.request.url.path}")
    except ValueError as err:  # malformed JSON is the caller's mistake: 400, never a 500
        raise invalid(f"The request body is not valid JSON ({err}).") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


# ----------------------------------------------------------------------------- routes
class ProxyRoute(NamedTuple):
    """How one proxy route calls a provider."""

    wire: str | None  # the provider wire format it needs ("openai", "anthropic", "gemini"); None: any
    path: str  # the provider path ("{model}": the definition's model name); raw proxy: the caller's
    request_type: str  # MLflow's GatewayRequestType value (trace metadata)
    method: str  # the provider span's ``method`` attribute
    set_model: bool = True  # replace the body's ``model`` with the definition's model name
    # When MLflow answers the call as an event stream from the start, so that a guardrail's refusal
    # is an event in it: "flag" (the body's "stream"), "always" or "never".
    streams: str = "flag"
    guardrails: tuple[str, ...] = ("BEFORE", "AFTER")  # the guardrail stages MLflow runs on it


CHAT_ROUTE = ProxyRoute("openai", CHAT, tr.UNIFIED_CHAT, "chat")
EMBEDDINGS_ROUTE = ProxyRoute(
    "openai", EMBEDDINGS, tr.UNIFIED_EMBEDDINGS, "embeddings", streams="never", guardrails=()
)
OPENAI_CHAT_ROUTE = ProxyRoute("openai", CHAT, tr.OPENAI_CHAT, "passthrough")
# MLflow judges an OpenAI-format embeddings request but not its vectors.
OPENAI_EMBEDDINGS_ROUTE = ProxyRoute(
    "openai", EMBEDDINGS, tr.OPENAI_EMBEDDINGS, "passthrough", streams="never", guardrails=("BEFORE",)
)
RESPONSES_ROUTE = ProxyRoute("openai", "/responses", tr.OPENAI_RESPONSES, "passthrough")
RESPONSES_COMPACT_ROUTE = ProxyRoute(
    "openai", "/responses/compact", tr.OPENAI_RESPONSES, "passthrough", streams="never"
)
ANTHROPIC_ROUTE = ProxyRoute("anthropic", "/messages", tr.ANTHROPIC_MESSAGES, "passthrough")
GEMINI_ROUTE = ProxyRoute(
    "gemini",
    "/models/{model}:generateContent",
    tr.GEMINI_GENERATE_CONTENT,
    "passthrough",
    False,
    streams="never",
)
GEMINI_STREAM_ROUTE = ProxyRoute(
    "gemini",
    "/models/{model}:streamGenerateContent?alt=sse",
    tr.GEMINI_GENERATE_CONTENT,
    "passthrough",
    False,
    streams="always",
)
SYSTEM_ONE_ROUTE = ProxyRoute(
    None, providers.SYSTEM_ONE_PATH, tr.TYPESAFE_SYSTEM_ONE, "passthrough", streams="never"
)
_STREAM_TYPES = ("text/event-stream", "application/x-ndjson")


# ----------------------------------------------------------------------------- targets
class _Target:
    """One model of an endpoint, resolved: where to send, which model name, which key.

    ``from_api_base``: the URL is the secret's ``api_base`` (held to the server's scheme
    setting), not the provider's built-in default.
    """

    def __init__(
        self, url: str, model: str, key: str | None, provider: str, from_api_base: bool = False
    ) -> None:
        self.url, self.model, self.key, self.provider = url, model, key, provider
        self.from_api_base = from_api_base

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


def _resolve(call: Call, mapping: dict[str, Any], route: ProxyRoute) -> _Target:
    definition = mapping.get("model_definition") or {}
    provider = definition.get("provider", "")
    if not definition.get("secret_id"):
        raise invalid(
            f"Model definition '{definition.get('name')}' has no secret: set one before calling it."
        )
    if not providers.supported(provider):
        providers.base_url(provider, {})  # raises the "not supported by mltrail" 400
    kind = providers.wire(provider)
    if route.wire is not None and kind != route.wire and not gt.translates(route.request_type, provider):
        raise invalid(
            f"Provider {provider!r} is not supported by mltrail's gateway on {call.request.url.path}: "
            f"it takes {route.wire} models; call a {provider} model through "
            f"{_PASSTHROUGH_OF.get(kind, 'its passthrough route')} or /gateway/proxy/."
        )
    sealed, auth_config = gateway_store(call).sealed_secret(definition["secret_id"])
    opened = secret_box(call).open(sealed)
    try:
        values = json.loads(opened or "{}")
    except ValueError:
        raise MltrailException(
            "The gateway secret cannot be read (was it stored by this server?)", INVALID_STATE
        ) from None
    url = providers.base_url(provider, auth_config)
    from_api_base = bool(auth_config.get("api_base"))
    return _Target(url, definition["model_name"], values.get("api_key"), provider, from_api_base)


_PASSTHROUGH_OF = {
    "openai": "/gateway/openai/v1/...",
    "anthropic": "/gateway/anthropic/v1/messages",
    "gemini": "/gateway/gemini/v1beta/models/<endpoint>:generateContent",
}


async def _send(call: Call, target: _Target, path: str, body: dict[str, Any]) -> Any:
    """POST ``body`` to ``target`` + ``path``: the httpx response, its body not read yet."""
    with LAZY_IMPORTS:
        import httpx

    # A stored api_base meets the scheme setting in force now (it may have been saved under a wider
    # one); the built-in provider URLs are this code's constants (https, and Ollama's local http).
    schemes = call.config.gateway_api_base_allowed_schemes if target.from_api_base else SUPPORTED_URL_SCHEMES
    allow_private = bool(call.config.gateway_api_base_allow_private)
    url, host, extensions = pinned_request(
        target.url + path, allow_private, "Gateway provider URL", schemes=schemes
    )
    headers = {
        **host,
        "Content-Type": "application/json",
        **providers.auth_headers(target.provider, target.key),
    }
    client = _http(call)
    request = client.build_request("POST", url, json=body, headers=headers, extensions=extensions)
    try:
        resp = await client.send(request, stream=True)
    except httpx.HTTPError as err:
        said = target.mask(str(err))
        raise ProviderFailure(
            f"The {target.provider} provider cannot be reached: {type(err).__name__} {said}",
            TEMPORARILY_UNAVAILABLE,
            said or type(err).__name__,
            type(err).__name__,
        ) from None
    if resp.status_code >= 400:
        text = target.mask(gt.error_detail((await resp.aread()).decode("utf-8", "replace"))[:1000])
        await resp.aclose()
        code = (
            REQUEST_LIMIT_EXCEEDED
            if resp.status_code == 429
            else TEMPORARILY_UNAVAILABLE
            if resp.status_code >= 500
            else "BAD_REQUEST"
        )
        # In a stream MLflow says it as the HTTPException its provider client raised: "<status>: <detail>".
        raise ProviderFailure(
            f"The {target.provider} provider answered {resp.status_code}: {text}",
            code,
            f"{resp.status_code}: {text}",
            "HTTPException",
        )
    return resp


class ProviderFailure(MltrailException):
    """A provider that could not be reached or answered an HTTP error; ``said`` and ``kind`` are how
    MLflow words it in a stream's error event (the message and type of the exception it caught)."""

    def __init__(self, message: str, error_code: str, said: str, kind: str) -> None:
        super().__init__(message, error_code)
        self.said, self.kind = said, kind


def _failure_event(err: MltrailException, tried: int = 1) -> dict[str, Any]:
    """How MLflow reports a streamed call's failure: ``{"error": {"message", "type"}}``, the type
    the exception's (a guardrail's stop) or the one MLflow's provider client raises
    (:class:`ProviderFailure`); after ``tried`` > 1 models (an endpoint's fallbacks), as its
    fallback router's own error."""
    said, kind = (
        (err.said, err.kind) if isinstance(err, ProviderFailure) else (err.message, type(err).__name__)
    )
    if tried > 1:
        said = f"All {tried} fallback attempts failed. Last error: {said}"
        kind = "AIGatewayException"
    return {"error": {"message": said, "type": kind}}


def _usable_endpoint(call: Call, store: Any, name: str) -> dict[str, Any]:
    """The endpoint called ``name`` in the request's workspace; with logins on, 403 unless the
    caller has USE on it.

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


def _usage_of(answer: Any) -> Any:
    """The provider's usage object in an answer or stream event (OpenAI, Anthropic, Gemini)."""
    if not isinstance(answer, dict):
        return None
    if isinstance(answer.get("message"), dict) and "usage" in answer["message"]:  # Anthropic message_start
        return answer["message"]["usage"]
    if isinstance(answer.get("response"), dict) and "usage" in answer["response"]:  # Responses' final event
        return answer["response"]["usage"]
    return answer.get("usage") or answer.get("usageMetadata")


async def _finish(
    call: Call, traced: tr.GatewayTrace, usage: Any, outputs: Any = None, error: str | None = None
) -> None:
    """Count the call in the endpoint's usage and write its trace (never failing the call)."""
    endpoint = traced.endpoint
    tokens = tr.token_usage(usage) or {}
    try:
        await _blocking(
            call,
            gateway_store(call).record_usage,
            endpoint["endpoint_id"],
            int(tokens.get("input_tokens") or 0),
            int(tokens.get("output_tokens") or 0),
            error is not None,
            write=True,
        )
    except Exception:  # counting must never fail the call it counts
        _log.warning("gateway: could not record usage for endpoint %s", endpoint.get("name"), exc_info=True)
    try:
        trace = traced.finish(outputs, error)
        if trace is not None:
            await _blocking(call, call.trace_store.log_traces, [trace], write=True)
    except Exception:
        _log.warning(
            "gateway: could not write the trace of a call to %s", endpoint.get("name"), exc_info=True
        )
    await policy.count(call, endpoint, traced.attempts, traced.username)


async def _forward(
    call: Call, endpoint_name: Any, route: ProxyRoute, body: dict[str, Any], path: str | None = None
) -> Any:
    """Send ``body`` through the endpoint's models (fallbacks on transient failures); count and trace it."""
    from starlette.responses import Response, StreamingResponse

    if not endpoint_name or not isinstance(endpoint_name, str):
        raise invalid("The request must name the gateway endpoint in 'model'.")
    store = await _blocking(call, gateway_store, call)  # the first call opens it: off the event loop
    endpoint = await _blocking(call, _usable_endpoint, call, store, endpoint_name)
    system_one.check_endpoint(endpoint, route is SYSTEM_ONE_ROUTE)
    traced = tr.GatewayTrace(endpoint, route.request_type, body, call.request)
    try:  # budgets and BEFORE guardrails (mltrail.server.gateway_policy)
        admitted = await policy.admit(call, endpoint, body, traced, route.guardrails)
    except MltrailException as err:
        await _finish(call, traced, None, error=err.message)
        if isinstance(err, GuardrailStop) and _streamed(route, body):
            # MLflow's BEFORE guardrails run inside the stream it has already answered 200 to.
            return _error_stream(err)
        raise
    body = admitted.body
    streamed = _streamed(route, body)
    last: MltrailException | None = None
    models = _order(endpoint)
    for tried, mapping in enumerate(models, 1):
        try:
            target = await _blocking(call, _resolve, call, mapping, route)
            # An OpenAI-format call to an Anthropic or Gemini model: rewritten both ways.
            translated = gt.translation(route.request_type, target.provider, target.model, body)
        except MltrailException as err:
            await _finish(call, traced, None, error=err.message)
            raise
        sent = {**body, "model": target.model} if route.set_model else body
        to = path or route.path.replace("{model}", target.model)
        if translated is not None:
            sent, to = translated.body, translated.path
        attempt = traced.attempt(target.provider, target.model, route.method, bool(body.get("stream")))
        try:
            resp = await _send(call, target, to, sent)
        except MltrailException as err:
            attempt.end(error=err.message)
            last = err
            if _retryable(err):
                continue
            await _finish(call, traced, None, error=err.message)
            if streamed:  # MLflow calls the provider inside the stream it has answered 200 to
                return _error_stream(err, tried if tried == len(models) else 1)
            raise
        media_type = resp.headers.get("content-type", "application/json").split(";")[0].strip()
        if media_type in _STREAM_TYPES:
            relay = _relay(call, traced, attempt, resp, route, translated, target.mask)
            return StreamingResponse(relay, media_type="text/event-stream" if translated else media_type)
        content = await resp.aread()
        await resp.aclose()
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        if translated is not None:
            answer = translated.answer(answer)
            content, media_type = json.dumps(answer).encode(), "application/json"
        usage = _usage_of(answer)
        attempt.end(usage)
        try:  # AFTER guardrails
            content = await admitted.screen(call, answer, content)
        except MltrailException as err:
            await _finish(call, traced, usage, answer, error=err.message)
            raise
        await _finish(call, traced, usage, answer)
        return Response(content, media_type=media_type or "application/json")
    assert last is not None
    await _finish(call, traced, None, error=last.message)
    if streamed:
        # Every model failed before its first chunk (MLflow tries the fallbacks first as well).
        return _error_stream(last, len(models))
    raise last


def _streamed(route: ProxyRoute, body: dict[str, Any]) -> bool:
    """Whether MLflow answers this call as an event stream whatever happens once it starts."""
    return route.streams == "always" or (route.streams == "flag" and bool(body.get("stream")))


def _sse(event: dict[str, Any]) -> bytes:
    """One server-sent event (json.dumps' default spacing, as MLflow writes it)."""
    return f"data: {json.dumps(event)}\n\n".encode()


def _error_stream(err: MltrailException, tried: int = 1) -> StreamingResponse:
    """A streamed call that failed before any chunk, as MLflow answers it: a 200 stream of one error
    event (a guardrail's refusal, the provider's failure: :func:`_failure_event`), no ``[DONE]``."""
    from starlette.responses import StreamingResponse

    async def one_event() -> AsyncIterator[bytes]:
        yield _sse(_failure_event(err, tried))

    return StreamingResponse(one_event(), media_type="text/event-stream")


_MAX_TRACED_EVENTS = 20_000  # a streamed answer kept for its trace (the output is joined from them)


async def _relay(
    call: Call,
    traced: tr.GatewayTrace,
    attempt: tr.Attempt,
    resp: Any,
    route: ProxyRoute,
    translated: gt.Translation | None = None,
    mask: Callable[[str], str] = str,
) -> AsyncIterator[bytes]:
    """Pass a provider's event stream through as it comes; total its usage and trace it at the end.

    A stream that breaks (the provider hangs up, a chunk that cannot be translated) ends with an
    error event, as MLflow ends it (its chunks so far already went out, so no fallback is tried);
    ``mask`` takes the provider key out of the event's text.
    """
    usage: dict[str, Any] = {}
    events: list[Any] = []
    error: str | None = None
    try:
        lines = resp.aiter_lines() if translated is None else translated.stream(resp.aiter_lines())
        async for line in lines:
            payload = line[5:].strip() if line.startswith("data:") else line.strip()
            if payload.startswith("{"):
                try:
                    event = json.loads(payload)
                except ValueError:
                    event = None
                if isinstance(event, dict):
                    if (
                        isinstance(event.get("error"), dict) and error is None
                    ):  # the provider failed mid-stream
                        error = f"The provider's stream ended in an error: {event['error'].get('message')}"
                    if isinstance(found := _usage_of(event), dict):
                        usage.update(found)
                    if len(events) < _MAX_TRACED_EVENTS:
                        events.append(event)
            yield (line + "\n").encode()
    except Exception as err:
        error = f"The stream from the provider broke: {type(err).__name__}"
        _log.warning("gateway: the stream from the provider broke", exc_info=True)
        yield _sse({"error": {"message": mask(str(err)), "type": type(err).__name__}})
    finally:
        # A client may hang up as soon as it has the last chunk: Starlette then cancels this
        # stream, and every await here would be cancelled with it. Shielded, the call is still
        # counted and traced.
        with anyio.CancelScope(shield=True):
            await resp.aclose()
            attempt.end(usage or None, error)
            join = tr.STREAM_JOINERS.get(route.request_type)
            outputs = join(events) if join is not None else events
            await _finish(call, traced, usage or None, outputs, error)


# ------------------------------------------------------------------------------ handlers
async def chat_completions(call: Call) -> Any:
    body = await _json_body(call)
    return await _forward(call, body.get("model"), CHAT_ROUTE, body)


#: MLflow's refusal of a streamed compaction (its upstream route has no streaming variant).
COMPACT_NO_STREAMING = "stream=true is not supported on /responses/compact; compaction is a unary request."


def _passthrough(route: ProxyRoute) -> Any:
    async def handler(call: Call) -> Any:
        body = await _json_body(call)
        if route is RESPONSES_COMPACT_ROUTE and body.get("stream"):
            raise system_one.GatewayRefusal(COMPACT_NO_STREAMING)  # before the endpoint is looked up
        return await _forward(call, body.get("model"), route, body)

    handler.__name__ = handler.__qualname__ = f"passthrough_{route.request_type.rsplit('/', 1)[-1]}"
    return handler


async def typesafe_system_one(call: Call) -> Any:
    body = system_one.request_body(await _json_body(call))
    return await _forward(call, body.get("model"), SYSTEM_ONE_ROUTE, body)


def _gemini(route: ProxyRoute) -> Any:
    async def handler(call: Call) -> Any:
        body = await _json_body(call)
        return await _forward(call, path_param(call, "endpoint_name"), route, body)

    handler.__name__ = handler.__qualname__ = "gemini_" + route.path.rsplit(":", 1)[-1].split("?")[0]
    return handler


async def invocations(call: Call) -> Any:
    body = await _json_body(call)
    body.pop("model", None)
    route = EMBEDDINGS_ROUTE if "input" in body and "messages" not in body else CHAT_ROUTE
    return await _forward(call, path_param(call, "endpoint_name"), route, body)


def _raw_path(call: Call) -> str:
    """The caller's provider path for the raw proxy (query kept); no way out of the provider's base."""
    path = path_param(call, "path")
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts) or any(c in path for c in "\\@?#%"):
        raise invalid(f"Invalid provider path {path!r} for the gateway proxy.")
    query = call.request.url.query
    return "/" + path + (f"?{query}" if query else "")


async def raw_proxy(call: Call) -> Any:
    body = await _json_body(call)
    # MLflow refuses a raw call before it knows whether the answer streams: an HTTP error always.
    route = ProxyRoute(None, "", tr.RAW_PROXY, "proxy", set_model=False, streams="never")
    return await _forward(call, path_param(call, "endpoint_name"), route, body, _raw_path(call))


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
    implement(G.openai_chat, _passthrough(OPENAI_CHAT_ROUTE)),
    implement(G.openai_embeddings, _passthrough(OPENAI_EMBEDDINGS_ROUTE)),
    implement(G.openai_responses, _passthrough(RESPONSES_ROUTE)),
    implement(G.openai_responses_compact, _passthrough(RESPONSES_COMPACT_ROUTE)),
    implement(G.anthropic_messages, _passthrough(ANTHROPIC_ROUTE)),
    implement(G.typesafe_system_one, typesafe_system_one),
    implement(G.gemini_generate_content, _gemini(GEMINI_ROUTE)),
    implement(G.gemini_stream_generate_content, _gemini(GEMINI_STREAM_ROUTE)),
    implement(G.raw_proxy, raw_proxy),
]

#: Any signed-in user reaches the proxies; calling an endpoint needs USE on it (checked once the
#: body names it, :func:`_usable_endpoint`), and the model list shows only those (as MLflow).
AUTH_RULES = {(ep.path, m): AUTHENTICATED for ep in ENDPOINTS for m in ep.methods}
