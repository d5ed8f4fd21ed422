"""A gateway with a TypeSafe System One model and an OpenAI model, for the System One judge tests.

Both providers are loopback fakes (:mod:`support.typesafe_server`, :mod:`support.openai_server`);
the records are made with the official client, as a user of MLflow 3 makes them::

    secrets, definitions = system_one_gateway(official_store(url), typesafe.base_url, openai.base_url)
    # endpoints "jev" (System One) and "chat" (OpenAI), each routing to its own model definition
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from support.typesafe_server import TEST_API_KEY

OPENAI_KEY = "sk-openai-test-key-0123456789"
#: (endpoint name, provider, model): the System One endpoint and the chat endpoint.
JEV = ("jev", "typesafe", "jev-1.13")
CHAT = ("chat", "openai", "gpt-4o-mini")


def system_one_gateway(
    store: Any, typesafe_url: str, openai_url: str, endpoints: Sequence[tuple[str, str, str]] = (JEV, CHAT)
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A secret per provider (``"typesafe"``, ``"openai"``), then per ``(name, provider, model)`` a
    model definition and an endpoint of that name routing to it; the secrets and the definitions."""
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType

    secrets = {
        "typesafe": store.create_gateway_secret(
            "ts-key", {"api_key": TEST_API_KEY}, provider="typesafe", auth_config={"api_base": typesafe_url}
        ),
        "openai": store.create_gateway_secret(
            "oa-key", {"api_key": OPENAI_KEY}, provider="openai", auth_config={"api_base": openai_url}
        ),
    }
    definitions = {}
    for name, provider, model in endpoints:
        definition = store.create_gateway_model_definition(name, secrets[provider].secret_id, provider, model)
        config = GatewayEndpointModelConfig(definition.model_definition_id, GatewayModelLinkageType.PRIMARY)
        store.create_gateway_endpoint(name, [config])
        definitions[name] = definition
    return secrets, definitions
