"""The judge-model providers of LLM-as-judge metrics: one table entry each.

An entry says where a provider listens (a default base URL, and the
environment variable that overrides it for proxies and self-hosted servers),
which environment variable holds its API key, and what a one-message chat
request and its reply look like on that provider's wire. Nothing here does
I/O: :mod:`mltrail.evaluation.judge` makes the calls, retries and errors.

Adding a provider is one entry in :data:`PROVIDERS`, e.g. for another
OpenAI-compatible service::

    "acme": _openai_compatible("acme", "https://api.acme.ai/v1", "ACME_API_KEY", "ACME_BASE_URL"),

``gateway:/<endpoint>`` calls the tracking server's AI gateway
(``<tracking URI>/gateway/mlflow/v1/chat/completions``, or ``MLTRAIL_GATEWAY_URL``
when set: ``mltrail server`` sets it for its own online-scoring worker).

The environment variable names follow MLflow's judges (``ANTHROPIC_API_KEY``,
``MISTRAL_API_KEY``, ``TOGETHERAI_API_KEY``, ``MLFLOW_DEPLOYMENTS_TARGET`` ...)
so existing setups keep working.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mltrail.credentials import tracking_authorization
from mltrail.store.workspace_scope import WORKSPACE_HEADER, client_workspace

JSON = dict[str, Any]

# Anthropic requires max_tokens; a verdict is one short JSON object, and 1024
# stays within every Claude model's output limit.
ANTHROPIC_DEFAULT_MAX_TOKENS = 1024
ANTHROPIC_VERSION = "2023-06-01"

CHAT_ENDPOINT = "llm/v1/chat"
COMPLETIONS_ENDPOINT = "llm/v1/completions"


@dataclass(frozen=True)
class Lookup:
    """A GET made once per (server, model) before the first call, e.g. an endpoint's type.

    ``read(model, body)`` turns the answer into the ``info`` given to the
    payload builder and the reply extractor; it raises ``ValueError`` with a
    clear message when the model cannot be used as a judge.
    """

    path: Callable[[str], str]
    read: Callable[[str, JSON], JSON]


@dataclass(frozen=True)
class Provider:
    """How to call one judge provider: ``<name>:/<model>`` URIs use this entry.

    ``path(model)`` is appended to the base URL; ``payload(model, prompt,
    params, info)`` builds the JSON body of one user message with the metric's
    parameters; ``reply(body, info)`` extracts the reply text (raising
    ``KeyError``/``IndexError``/``TypeError`` on an unexpected shape);
    ``headers(key)`` authenticates. ``secret_vars`` name further environment
    variables whose values must never appear in an error message.
    """

    name: str
    base_url_var: str
    default_base_url: str | None
    key_var: str | None
    path: Callable[[str], str]
    payload: Callable[[str, str, JSON, JSON], JSON]
    reply: Callable[[JSON, JSON], str | None]
    headers: Callable[[str | None], dict[str, str]]
    key_required: bool = True
    lookup: Lookup | None = None
    secret_vars: tuple[str, ...] = ()
    via_openai_package: bool = False
    # Where to send when ``base_url_var`` is unset and there is no fixed default (the gateway:
    # the tracking server).
    default_base_url_from: Callable[[], str | None] | None = None


def _user_message(prompt: str) -> list[JSON]:
    return [{"role": "user", "content": prompt}]


def _text_of(content: Any) -> str | None:
    """Message content as text: a string, or the list-of-parts form some providers answer with."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise TypeError(f"unexpected message content {type(content).__name__}")


def _bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


# --- OpenAI chat completions, spoken by OpenAI and many others -------------------------------


def _chat_payload(model: str, prompt: str, params: JSON, info: JSON) -> JSON:
    return {"model": model, "messages": _user_message(prompt), **params}


def _chat_reply(body: JSON, info: JSON) -> str | None:
    return _text_of(body["choices"][0]["message"]["content"])


def _openai_compatible(
    name: str, default_base_url: str | None, key_var: str, base_url_var: str, key_required: bool = True
) -> Provider:
    """A provider serving ``POST {base}/chat/completions`` with a bearer key, as OpenAI does."""
    return Provider(
        name=name,
        base_url_var=base_url_var,
        default_base_url=default_base_url,
        key_var=key_var,
        path=lambda model: "/chat/completions",
        payload=_chat_payload,
        reply=_chat_reply,
        headers=_bearer,
        key_required=key_required,
    )


# --- Anthropic Messages API ---------------------------------------------------------------


def _anthropic_payload(model: str, prompt: str, params: JSON, info: JSON) -> JSON:
    """OpenAI-style parameter names are mapped to Anthropic's (``stop`` -> ``stop_sequences``)."""
    rest = dict(params)
    max_tokens = rest.pop("max_tokens", None)
    max_completion_tokens = rest.pop("max_completion_tokens", None)
    if "stop" in rest:
        stop = rest.pop("stop")
        rest["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    return {
        "model": model,
        "max_tokens": max_tokens or max_completion_tokens or ANTHROPIC_DEFAULT_MAX_TOKENS,
        "messages": _user_message(prompt),
        **rest,
    }


def _anthropic_reply(body: JSON, info: JSON) -> str | None:
    return _text_of(body["content"])


def _anthropic_headers(key: str | None) -> dict[str, str]:
    return {"x-api-key": key or "", "anthropic-version": ANTHROPIC_VERSION}


# --- MLflow deployments server (AI Gateway) endpoints ----------------------------------------


def endpoint_path(name: str) -> str:
    """The invocation path of the deployments server's endpoint ``name`` (MLflow's, URL-quoted)."""
    return f"/endpoints/{quote(name, safe='')}/invocations"


def _read_endpoint(name: str, body: JSON) -> JSON:
    kind = body.get("endpoint_type") or body.get("task") or CHAT_ENDPOINT
    if kind not in (CHAT_ENDPOINT, COMPLETIONS_ENDPOINT):
        raise ValueError(
            f"endpoint {name!r} is of type {kind!r}; a judge needs a {CHAT_ENDPOINT!r} "
            f"or {COMPLETIONS_ENDPOINT!r} endpoint"
        )
    return {"endpoint_type": kind}


def _endpoint_payload(model: str, prompt: str, params: JSON, info: JSON) -> JSON:
    # The endpoint's configuration names the model, so none is sent.
    if info.get("endpoint_type") == COMPLETIONS_ENDPOINT:
        return {"prompt": prompt, **params}
    return {"messages": _user_message(prompt), **params}


def _endpoint_reply(body: JSON, info: JSON) -> str | None:
    if info.get("endpoint_type") == COMPLETIONS_ENDPOINT:
        return body["choices"][0]["text"]
    return _chat_reply(body, info)


def tracking_credentials(key: str | None) -> dict[str, str]:
    """The tracking server's credentials, which MLflow's deployments client sends too."""
    authorization = tracking_authorization()
    return {"Authorization": authorization} if authorization else {}


def _endpoints() -> Provider:
    return Provider(
        name="endpoints",
        base_url_var="MLFLOW_DEPLOYMENTS_TARGET",
        default_base_url=None,
        key_var=None,
        path=endpoint_path,
        payload=_endpoint_payload,
        reply=_endpoint_reply,
        headers=tracking_credentials,
        key_required=False,
        lookup=Lookup(path=lambda name: f"/api/2.0/endpoints/{quote(name, safe='')}", read=_read_endpoint),
        secret_vars=tuple(
            f"{p}_{n}" for p in ("MLTRAIL", "MLFLOW") for n in ("TRACKING_TOKEN", "TRACKING_PASSWORD")
        ),
    )


# --- mltrail's (and MLflow 3's) AI gateway: gateway:/<endpoint> ----------------------------------

GATEWAY_PATH = "/gateway/mlflow/v1"


def _gateway_base_url() -> str | None:
    """The tracking server's gateway, when the tracking URI is a server (``http(s)://``)."""
    from mltrail.tracking.context import get_tracking_uri  # the client loads only when a judge is resolved

    uri = get_tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return None
    return uri.rstrip("/") + GATEWAY_PATH


def gateway_root() -> str | None:
    """The server whose gateway ``gateway:/`` judges call, without a trailing ``/``.

    ``MLTRAIL_GATEWAY_URL`` (``<server>/gateway/mlflow/v1``, as ``mltrail server`` sets it) less
    that path, else the tracking server; ``None`` when neither is an http(s) server. Other gateway
    routes (TypeSafe's System One, ``/gateway/typesafe/v1/systemone``) hang off this root.
    """
    override = os.environ.get("MLTRAIL_GATEWAY_URL", "").rstrip("/")
    if override:
        return override.removesuffix(GATEWAY_PATH)
    base = _gateway_base_url()
    return base.removesuffix(GATEWAY_PATH) if base else None


def gateway_headers() -> dict[str, str]:
    """What a call to the server's gateway sends: its credentials and the client's workspace."""
    return _gateway_headers(None)


def _gateway_headers(key: str | None) -> dict[str, str]:
    """The tracking server's credentials, and the workspace the client names (as its REST calls do)."""
    workspace = client_workspace()
    return {**tracking_credentials(key), **({WORKSPACE_HEADER: workspace} if workspace else {})}


def _gateway() -> Provider:
    """``gateway:/<endpoint>``: OpenAI chat completions on the server's gateway, ``model`` = the endpoint."""
    return Provider(
        name="gateway",
        base_url_var="MLTRAIL_GATEWAY_URL",
        default_base_url=None,
        key_var=None,
        path=lambda endpoint: "/chat/completions",
        payload=_chat_payload,
        reply=_chat_reply,
        headers=_gateway_headers,
        key_required=False,
        secret_vars=_endpoints().secret_vars,
        default_base_url_from=_gateway_base_url,
    )


PROVIDERS: dict[str, Provider] = {
    # Called through the openai package (which reads the same two variables).
    "openai": Provider(
        name="openai",
        base_url_var="OPENAI_BASE_URL",
        default_base_url="https://api.openai.com/v1",
        key_var="OPENAI_API_KEY",
        path=lambda model: "/chat/completions",
        payload=_chat_payload,
        reply=_chat_reply,
        headers=_bearer,
        via_openai_package=True,
    ),
    # ANTHROPIC_BASE_URL is the server root, as for the anthropic SDK: the path is /v1/messages.
    "anthropic": Provider(
        name="anthropic",
        base_url_var="ANTHROPIC_BASE_URL",
        default_base_url="https://api.anthropic.com",
        key_var="ANTHROPIC_API_KEY",
        path=lambda model: "/v1/messages",
        payload=_anthropic_payload,
        reply=_anthropic_reply,
        headers=_anthropic_headers,
    ),
    "mistral": _openai_compatible(
        "mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "MISTRAL_BASE_URL"
    ),
    "togetherai": _openai_compatible(
        "togetherai", "https://api.together.xyz/v1", "TOGETHERAI_API_KEY", "TOGETHERAI_BASE_URL"
    ),
    "groq": _openai_compatible("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY", "GROQ_BASE_URL"),
    "deepseek": _openai_compatible(
        "deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"
    ),
    "xai": _openai_compatible("xai", "https://api.x.ai/v1", "XAI_API_KEY", "XAI_BASE_URL"),
    "openrouter": _openai_compatible(
        "openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL"
    ),
    # A local Ollama server needs no key.
    "ollama": _openai_compatible(
        "ollama", "http://localhost:11434/v1", "OLLAMA_API_KEY", "OLLAMA_BASE_URL", key_required=False
    ),
    "endpoints": _endpoints(),
    "gateway": _gateway(),
}
