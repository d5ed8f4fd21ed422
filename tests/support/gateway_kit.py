"""AI-gateway set-up through the official client, shared by the gateway test modules.

Every endpoint here is a chain of three records made over REST as a user of MLflow 3 makes
them: a secret holding the provider's key (and its ``api_base``, a loopback fake), a model
definition naming the provider's model, and an endpoint routing to that definition::

    store = official_store(server.url)
    found = chat_endpoints(store, fake.base_url, "chat", "judge", secret="key", definition="mini")
    found["chat"].endpoint_id
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support.live_server import LOOPBACK_HTTP, LiveServer, start_server, stop_server

#: A ``MLTRAIL_SECRET_KEY`` for servers that keep gateway secrets (32 characters or more).
SERVER_KEY = "a-test-server-key-of-32-characters!"


@contextlib.contextmanager
def gateway_server(root: Path, *args: str) -> Iterator[LiveServer]:
    """``mltrail server`` in ``root`` with a key for gateway secrets and ``http`` API bases
    allowed (the fake providers listen on loopback); ``args`` go on its command line."""
    live = start_server(root, None, *LOOPBACK_HTTP, *args, env={"MLTRAIL_SECRET_KEY": SERVER_KEY})
    try:
        yield live
    finally:
        stop_server(live)


def official_store(url: str) -> Any:
    """The official client's REST store on ``url`` (``MlflowClient``'s gateway calls go through it)."""
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.rest_utils import MlflowHostCreds

    return RestStore(lambda: MlflowHostCreds(url))


def chat_endpoints(
    store: Any,
    api_base: str,
    *names: str,
    secret: str = "key",
    definition: str = "model",
    model: str = "gpt-4o-mini",
    api_key: str = "sk-test-0123456789",
    provider: str = "openai",
) -> dict[str, Any]:
    """One secret and one model definition, then an endpoint per name routing to it (as its PRIMARY)."""
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType

    made = store.create_gateway_secret(
        secret, {"api_key": api_key}, provider=provider, auth_config={"api_base": api_base}
    )
    target = store.create_gateway_model_definition(definition, made.secret_id, provider, model)
    config = GatewayEndpointModelConfig(target.model_definition_id, GatewayModelLinkageType.PRIMARY)
    return {name: store.create_gateway_endpoint(name, [config]) for name in names}
