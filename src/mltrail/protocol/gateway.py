"""MLflow 3's AI gateway REST API (service.proto's ``Gateway*`` messages) and its proxy routes.

Configuration lives under ``/api/3.0/mlflow/gateway/`` (and ``/ajax-api/...``):
``secrets/{create,get,update,delete,list}``, ``model-definitions/...``,
``endpoints/...`` with ``endpoints/models/{attach,detach}``,
``endpoints/bindings/{create,delete,list}`` and ``endpoints/{set,delete}-tag``.
The web UI's helpers (``supported-providers``, ``supported-models``,
``provider-config``, ``secrets/config``) are ajax-only, as in MLflow. A secret's
value is write-only: answers carry ``masked_values`` (``"sk-...abcd"``).

The proxy routes are absolute (no service prefix): ``POST /gateway/mlflow/v1/chat/completions``
(the endpoint named by ``model``), ``GET /gateway/mlflow/v1/models``,
``POST /gateway/{endpoint_name}/mlflow/invocations``, the OpenAI, Anthropic, Gemini and
TypeSafe System One passthroughs and the raw proxy. They read their own
bodies (``raw``). mltrail adds ``GET /ajax-api/3.0/mltrail/gateway/usage``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol.routes import MLTRAIL, Message, Route, RouteSet


class CreateGatewaySecret(Message):
    secret_name: str = ""
    secret_value: dict[str, str] | None = None
    provider: str | None = None
    auth_config: dict[str, str] = {}
    created_by: str | None = None


class SecretRef(Message):
    secret_id: str | None = None
    secret_name: str | None = None


class UpdateGatewaySecret(Message):
    secret_id: str = ""
    secret_value: dict[str, str] = {}
    auth_config: dict[str, str] = {}
    updated_by: str | None = None


class ProviderFilter(Message):
    provider: str | None = None
    secret_id: str | None = None


class CreateGatewayModelDefinition(Message):
    name: str = ""
    secret_id: str = ""
    provider: str = ""
    model_name: str = ""
    created_by: str | None = None


class ModelDefinitionRef(Message):
    model_definition_id: str = ""


class UpdateGatewayModelDefinition(Message):
    model_definition_id: str = ""
    name: str | None = None
    secret_id: str | None = None
    model_name: str | None = None
    updated_by: str | None = None
    provider: str | None = None


class ModelConfigWire(msgspec.Struct):
    """``GatewayEndpointModelConfig``: enums by name (``"PRIMARY"``) or number."""

    model_definition_id: str = ""
    linkage_type: str | int | None = None
    weight: float | None = None
    fallback_order: int | None = None


class FallbackConfigWire(msgspec.Struct):
    strategy: str | int | None = None
    max_attempts: int | None = None


class CreateGatewayEndpoint(Message):
    name: str = ""
    model_configs: list[ModelConfigWire] = []
    created_by: str | None = None
    routing_strategy: str | int | None = None
    fallback_config: FallbackConfigWire | None = None
    experiment_id: str | None = None
    usage_tracking: bool | None = None


class EndpointRef(Message):
    endpoint_id: str | None = None
    name: str | None = None


class UpdateGatewayEndpoint(Message):
    endpoint_id: str = ""
    name: str | None = None
    updated_by: str | None = None
    model_configs: list[ModelConfigWire] = []
    routing_strategy: str | int | None = None
    fallback_config: FallbackConfigWire | None = None
    experiment_id: str | None = None
    usage_tracking: bool | None = None


class AttachModel(Message):
    endpoint_id: str = ""
    model_config: ModelConfigWire | None = None
    created_by: str | None = None


class DetachModel(Message):
    endpoint_id: str = ""
    model_definition_id: str = ""


class Binding(Message):
    endpoint_id: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    created_by: str | None = None


class EndpointTag(Message):
    endpoint_id: str = ""
    key: str = ""
    value: str | None = None


class UsageQuery(Message):
    endpoint_id: str | None = None


class Answer(msgspec.Struct):
    """A JSON object answer (its fields are the message's, see service.proto)."""


def _any(name: str, fields: tuple[str, ...]) -> type:
    return msgspec.defstruct(name, [(f, Any, None) for f in fields], omit_defaults=True)


SecretAnswer = _any("SecretAnswer", ("secret",))
SecretsAnswer = _any("SecretsAnswer", ("secrets",))
DefinitionAnswer = _any("DefinitionAnswer", ("model_definition",))
DefinitionsAnswer = _any("DefinitionsAnswer", ("model_definitions",))
EndpointAnswer = _any("EndpointAnswer", ("endpoint",))
EndpointsAnswer = _any("EndpointsAnswer", ("endpoints",))
MappingAnswer = _any("MappingAnswer", ("mapping",))
BindingAnswer = _any("BindingAnswer", ("binding",))
BindingsAnswer = _any("BindingsAnswer", ("bindings",))
UsageAnswer = _any("UsageAnswer", ("usage",))


class Empty(msgspec.Struct):
    pass


_TAGS = ("gateway",)
_V3 = ("3.0",)


def _r(name: str, method: str, path: str, req: type | None, resp: type | None, **kw: Any) -> Route:
    kw.setdefault("versions", _V3)
    return Route(name, method, f"/gateway{path}", req, resp, tags=_TAGS, **kw)


def _proxy(name: str, method: str, path: str, summary: str) -> Route:
    return Route(
        name, method, f"/gateway{path}", None, None, service="", raw=True, tags=_TAGS, summary=summary
    )


GATEWAY = RouteSet(
    _r("create_secret", "POST", "/secrets/create", CreateGatewaySecret, SecretAnswer),
    _r("get_secret", "GET", "/secrets/get", SecretRef, SecretAnswer),
    _r("update_secret", "POST", "/secrets/update", UpdateGatewaySecret, SecretAnswer),
    _r("delete_secret", "DELETE", "/secrets/delete", SecretRef, Empty),
    _r("list_secrets", "GET", "/secrets/list", ProviderFilter, SecretsAnswer),
    _r(
        "create_model_definition",
        "POST",
        "/model-definitions/create",
        CreateGatewayModelDefinition,
        DefinitionAnswer,
    ),
    _r("get_model_definition", "GET", "/model-definitions/get", ModelDefinitionRef, DefinitionAnswer),
    _r("list_model_definitions", "GET", "/model-definitions/list", ProviderFilter, DefinitionsAnswer),
    _r(
        "update_model_definition",
        "POST",
        "/model-definitions/update",
        UpdateGatewayModelDefinition,
        DefinitionAnswer,
    ),
    _r("delete_model_definition", "DELETE", "/model-definitions/delete", ModelDefinitionRef, Empty),
    _r("create_endpoint", "POST", "/endpoints/create", CreateGatewayEndpoint, EndpointAnswer),
    _r("get_endpoint", "GET", "/endpoints/get", EndpointRef, EndpointAnswer),
    _r("update_endpoint", "POST", "/endpoints/update", UpdateGatewayEndpoint, EndpointAnswer),
    _r("delete_endpoint", "DELETE", "/endpoints/delete", EndpointRef, Empty),
    _r("list_endpoints", "GET", "/endpoints/list", ProviderFilter, EndpointsAnswer),
    _r("attach_model", "POST", "/endpoints/models/attach", AttachModel, MappingAnswer),
    _r("detach_model", "POST", "/endpoints/models/detach", DetachModel, Empty),
    _r("create_binding", "POST", "/endpoints/bindings/create", Binding, BindingAnswer),
    _r("delete_binding", "DELETE", "/endpoints/bindings/delete", Binding, Empty),
    _r("list_bindings", "GET", "/endpoints/bindings/list", Binding, BindingsAnswer),
    _r("set_endpoint_tag", "POST", "/endpoints/set-tag", EndpointTag, Empty),
    _r("delete_endpoint_tag", "DELETE", "/endpoints/delete-tag", EndpointTag, Empty),
    # The web UI's helpers (ajax only in MLflow too).
    _r("supported_providers", "GET", "/supported-providers", None, Answer, ajax_only=True),
    _r("supported_models", "GET", "/supported-models", ProviderFilter, Answer, ajax_only=True),
    _r("provider_config", "GET", "/provider-config", ProviderFilter, Answer, ajax_only=True),
    _r("secrets_config", "GET", "/secrets/config", None, Answer, ajax_only=True),
    _r(
        "usage",
        "GET",
        "/usage",
        UsageQuery,
        UsageAnswer,
        service=MLTRAIL,
        ajax_only=True,
        summary="Requests and tokens per gateway endpoint and UTC day (mltrail)",
    ),
    # The proxies: OpenAI wire format in and out.
    _proxy(
        "chat_completions", "POST", "/mlflow/v1/chat/completions", "Chat with the endpoint named by 'model'"
    ),
    _proxy("list_models", "GET", "/mlflow/v1/models", "The gateway's endpoints as OpenAI models"),
    _proxy(
        "invocations", "POST", "/{endpoint_name}/mlflow/invocations", "Call one endpoint (chat or embeddings)"
    ),
    _proxy("openai_chat", "POST", "/openai/v1/chat/completions", "OpenAI chat passthrough"),
    _proxy("openai_embeddings", "POST", "/openai/v1/embeddings", "OpenAI embeddings passthrough"),
    _proxy("openai_responses", "POST", "/openai/v1/responses", "OpenAI Responses passthrough"),
    _proxy(
        "openai_responses_compact",
        "POST",
        "/openai/v1/responses/compact",
        "OpenAI Responses compact passthrough",
    ),
    _proxy("anthropic_messages", "POST", "/anthropic/v1/messages", "Anthropic Messages passthrough"),
    _proxy(
        "typesafe_system_one",
        "POST",
        "/typesafe/v1/systemone",
        "TypeSafe System One passthrough (TypeSafe or OpenRouter Jev models)",
    ),
    _proxy(
        "gemini_generate_content",
        "POST",
        "/gemini/v1beta/models/{endpoint_name}:generateContent",
        "Gemini generateContent passthrough (the endpoint in the path)",
    ),
    _proxy(
        "gemini_stream_generate_content",
        "POST",
        "/gemini/v1beta/models/{endpoint_name}:streamGenerateContent",
        "Gemini streamGenerateContent passthrough (server-sent events)",
    ),
    _proxy(
        "raw_proxy",
        "POST",
        "/proxy/{endpoint_name}/{path:path}",
        "The body as it is to <provider base>/<path> with the endpoint's key",
    ),
)
