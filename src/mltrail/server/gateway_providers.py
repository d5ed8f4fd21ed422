"""The AI gateway's providers: which ones exist, which ones mltrail can call, and their settings form.

MLflow lists LiteLLM's provider catalog; mltrail lists the same well-known names
(:data:`PROVIDERS`) and calls those that speak OpenAI's wire format
(:data:`OPENAI_COMPATIBLE`: a base URL, ``POST /chat/completions`` and
``/embeddings`` with a bearer key). Any of them takes ``auth_config.api_base``
to point at another server (a proxy, a self-hosted model, a test fake); the
``openai_compatible`` provider has no default and needs one. Anthropic and Gemini
(:data:`NATIVE`) are called in their own format, through their passthrough routes
(``/gateway/anthropic/v1/messages``, ``/gateway/gemini/v1beta/models/…``) and the raw
proxy, and through the OpenAI-format routes translated
(:mod:`mltrail.server.gateway_translate`). TypeSafe (also :data:`NATIVE`) serves only its
System One API, through ``/gateway/typesafe/v1/systemone``; OpenRouter's Jev decision
models (``typesafe/jev-<version>``) do too (:func:`supports_system_one`). A model
definition of another provider is stored, but calling it answers 400 "not supported by mltrail".

Example::

    base_url("openai", {})                                  # "https://api.openai.com/v1"
    base_url("openai", {"api_base": "http://127.0.0.1:9/v1"})
"""

from __future__ import annotations

import re
from typing import Any

from mltrail.exceptions import invalid

#: OpenAI-compatible providers and their default base URL (``None``: ``api_base`` is required).
OPENAI_COMPATIBLE: dict[str, str | None] = {
    "openai": "https://api.openai.com/v1",
    "openai_compatible": None,
    "mistral": "https://api.mistral.ai/v1",
    "groq": "https://api.groq.com/openai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "xai": "https://api.x.ai/v1",
    "together_ai": "https://api.together.xyz/v1",
    "togetherai": "https://api.together.xyz/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "fireworks_ai": "https://api.fireworks.ai/inference/v1",
    "perplexity": "https://api.perplexity.ai",
    "ollama": "http://localhost:11434/v1",
    "vllm": None,
}

#: Providers called in their own wire format (through their passthrough routes and the raw proxy).
NATIVE: dict[str, str] = {
    "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
    "typesafe": "https://api.typesafe.ai/v1",
}
ANTHROPIC_VERSION = "2023-06-01"  # the ``anthropic-version`` header MLflow sends by default

#: Every provider name the providers API lists (MLflow's common LiteLLM providers, plus the above).
PROVIDERS: tuple[str, ...] = tuple(
    sorted(
        set(OPENAI_COMPATIBLE)
        | {
            "anthropic",
            "azure",
            "bedrock",
            "cohere",
            "databricks",
            "gemini",
            "huggingface",
            "vertex_ai",
            "watsonx",
            "ai21",
            "nvidia_nim",
            "cerebras",
            "sambanova",
            "typesafe",
        }
    )
)

#: What an OpenAI-compatible provider's model card lists (the supported-models API).
KNOWN_MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small"),
}


#: The System One evaluation API's path under a TypeSafe (or OpenRouter) base URL.
SYSTEM_ONE_PATH = "/systemone"
# OpenRouter's Jev decision models (MLflow's pattern): ``typesafe/jev-latest`` or a dotted
# version, ``~`` allowed in front; ``typesafe/jev-router`` is a chat model and does not match.
_OPENROUTER_SYSTEM_ONE = re.compile(r"^~?typesafe/jev-(?:latest|\d+(?:\.\d+)*)$")


def supports_system_one(provider: str, model_name: str) -> bool:
    """Whether a model definition serves TypeSafe System One: any TypeSafe model, OpenRouter's Jev ones.

    Example::

        supports_system_one("openrouter", "typesafe/jev-1.13")   # True
        supports_system_one("openrouter", "typesafe/jev-router")  # False (a chat model)
    """
    name = provider.lower()
    return name == "typesafe" or (
        name == "openrouter" and _OPENROUTER_SYSTEM_ONE.match(model_name) is not None
    )


def supported(provider: str) -> bool:
    """Whether mltrail's proxy can call ``provider`` at all (in OpenAI's format or its own)."""
    return provider.lower() in OPENAI_COMPATIBLE or provider.lower() in NATIVE


def wire(provider: str) -> str:
    """The wire format ``provider`` speaks: ``"openai"``, ``"anthropic"``, ``"gemini"`` or ``"typesafe"``."""
    name = provider.lower()
    return name if name in NATIVE else "openai"


def base_url(provider: str, auth_config: dict[str, Any]) -> str:
    """Where to send a provider's requests: ``api_base``, else its default; 400 when unsupported."""
    name = provider.lower()
    if not supported(name):
        raise invalid(
            f"Provider {provider!r} is not supported by mltrail's gateway: it calls OpenAI-compatible "
            f"providers ({', '.join(sorted(OPENAI_COMPATIBLE))}) or any server speaking OpenAI's API "
            "through the secret's auth_config api_base, and Anthropic, Gemini and TypeSafe."
        )
    url = auth_config.get("api_base") or OPENAI_COMPATIBLE.get(name) or NATIVE.get(name)
    if not url:
        raise invalid(f"Provider {provider!r} needs 'api_base' in the secret's auth_config.")
    return str(url).rstrip("/")


def auth_headers(provider: str, key: str | None) -> dict[str, str]:
    """The headers carrying the provider key: Bearer (OpenAI, TypeSafe), ``x-api-key`` (Anthropic), ``x-goog-api-key``."""
    kind = wire(provider)
    if kind == "anthropic":
        return {"anthropic-version": ANTHROPIC_VERSION, **({"x-api-key": key} if key else {})}
    if not key:
        return {}
    return {"x-goog-api-key": key} if kind == "gemini" else {"Authorization": f"Bearer {key}"}


_LABELS = {"typesafe": "TypeSafe"}  # MLflow's spelling in the settings form


def provider_config(provider: str | None) -> dict[str, Any]:
    """The settings form for ``provider`` (MLflow's simple API-key shape)."""
    if not provider:
        raise invalid("Provider parameter is required")
    label = _LABELS.get(provider.lower(), provider.lower().capitalize())
    base_hint = f" (defaults to {NATIVE['typesafe']})" if provider.lower() == "typesafe" else ""
    return {
        "auth_modes": [
            {
                "mode": "api_key",
                "display_name": "API Key",
                "description": f"Use {label} API Key",
                "secret_fields": [
                    {"name": "api_key", "type": "string", "description": f"{label} API Key", "required": True}
                ],
                "config_fields": [
                    {
                        "name": "api_base",
                        "type": "string",
                        "description": f"{label} API Base URL{base_hint}",
                        "required": False,
                    }
                ],
            }
        ],
        "default_mode": "api_key",
    }


def models(provider: str | None) -> list[dict[str, Any]]:
    """Known models, optionally of one provider (``{"model", "provider", "mode"}``)."""
    found = []
    for name, names in KNOWN_MODELS.items():
        if provider and provider.lower() != name:
            continue
        for model in names:
            mode = "embedding" if "embedding" in model else "chat"
            found.append({"model": model, "provider": name, "mode": mode})
    return found


def mask(value: Any) -> str:
    """A secret value as MLflow shows it: ``"sk-...abcd"``, or ``"***"`` when short or not text."""
    if not isinstance(value, str) or len(value) < 8:
        return "***"
    return f"{value[:3]}...{value[-4:]}"
