"""MLflow 3's AI gateway configuration API (``/api/3.0/mlflow/gateway/...``) and mltrail's usage read.

Secrets: the value (``{"api_key": "sk-..."}``) is sealed with the server's key
(:class:`~mltrail.store.secrets.SecretBox`, purpose ``"gateway"``) before
it is stored, answered only masked (``"sk-...abcd"``), and never logged. Without a
key (``MLTRAIL_SECRET_KEY`` or ``--secrets-key-file``) creating a secret is refused
rather than stored in clear. ``auth_config.api_base`` passes the server's egress
guard (:func:`~mltrail.server.webhook_urls.check_url`; ``--webhooks-allow-private``
or MLflow's ``MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS`` allows loopback and private targets, ``--gateway-api-base-allowed-schemes`` the schemes,
``https`` alone by default, as in MLflow) when saved and again at each request.

Endpoints with usage tracking (the default) get MLflow's experiment
``gateway/<name>``. The proxy routes are in :mod:`mltrail.server.gateway_proxy`
(their rows are added here, so there is one table). With logins on, MLflow's
per-resource permissions apply (:mod:`mltrail.server.gateway_rules`).
"""

from __future__ import annotations

from typing import Any

from mltrail.entities.tracking import ExperimentTag
from mltrail.exceptions import invalid
from mltrail.protocol import gateway as p
from mltrail.protocol.gateway import GATEWAY as G
from mltrail.server import gateway_providers as providers
from mltrail.server import gateway_proxy as proxy
from mltrail.server.gateway_proxy import gateway_store, secret_box
from mltrail.server.gateway_rules import AUTH_RULES  # noqa: F401 (the permission rules, see auth.rules)
from mltrail.server.routing import Call, Endpoint, implement
from mltrail.server.webhook_urls import check_url

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
# Keys that choose where requests go: only ``api_base`` (checked) may, and never inside the secret.
_DESTINATION_KEYS = frozenset({"api_base", "base_url", "model_list", "fallbacks", "custom_llm_provider"})
_LINKAGES = {1: "PRIMARY", 2: "FALLBACK", "PRIMARY": "PRIMARY", "FALLBACK": "FALLBACK"}
_ROUTING = {1: "REQUEST_BASED_TRAFFIC_SPLIT", "REQUEST_BASED_TRAFFIC_SPLIT": "REQUEST_BASED_TRAFFIC_SPLIT"}
_FALLBACK = {1: "SEQUENTIAL", "SEQUENTIAL": "SEQUENTIAL"}


def _required(value: Any, field: str) -> Any:
    if value is None or value == "" or value == {} or value == []:
        raise invalid(f"Missing value for required parameter '{field}'.")
    return value


def _user(call: Call, given: str | None) -> str | None:
    return given or call.user or None


# ------------------------------------------------------------------------------ secrets
def _auth_config(call: Call, raw: dict[str, str]) -> dict[str, str]:
    config = dict(raw)
    if reserved := sorted((_DESTINATION_KEYS - {"api_base"}) & set(config)):
        raise invalid(
            f"auth_config must not contain {', '.join(map(repr, reserved))}: set the upstream with 'api_base'."
        )
    api_base = (config.get("api_base") or "").strip()
    if not api_base:
        config.pop("api_base", None)
        return config
    check_url(
        api_base, bool(call.config.gateway_api_base_allow_private), "Gateway secret api_base",
        schemes=call.config.gateway_api_base_allowed_schemes,
    )  # fmt: skip
    config["api_base"] = api_base
    return config


def _sealed(call: Call, value: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The sealed JSON of a secret value and its masked form; refuses values that steer egress."""
    import json

    if reserved := sorted(_DESTINATION_KEYS & set(value)):
        raise invalid(
            f"secret_value must not contain {', '.join(map(repr, reserved))}: set the upstream with "
            "'api_base' in auth_config, where it is validated."
        )
    sealed = secret_box(call, required=True).seal(json.dumps(value))
    return str(sealed), {k: providers.mask(v) for k, v in value.items()}


def create_secret(call: Call) -> dict[str, Any]:
    b: p.CreateGatewaySecret = call.body
    name = _required(b.secret_name, "secret_name")
    value = _required(b.secret_value, "secret_value")
    auth_config = _auth_config(call, b.auth_config) or None
    sealed, masked = _sealed(call, value)
    secret = gateway_store(call).create_secret(
        name, sealed, masked, b.provider or None, auth_config, _user(call, b.created_by)
    )
    return {"secret": secret}


def get_secret(call: Call) -> dict[str, Any]:
    b: p.SecretRef = call.body
    return {"secret": gateway_store(call).get_secret(b.secret_id or None, b.secret_name or None)}


def update_secret(call: Call) -> dict[str, Any]:
    b: p.UpdateGatewaySecret = call.body
    secret_id = _required(b.secret_id, "secret_id")
    auth_config = _auth_config(call, b.auth_config) if b.auth_config else None
    sealed, masked = _sealed(call, b.secret_value) if b.secret_value else (None, None)
    secret = gateway_store(call).update_secret(
        secret_id, sealed, masked, auth_config, _user(call, b.updated_by)
    )
    return {"secret": secret}


def delete_secret(call: Call) -> dict[str, Any]:
    gateway_store(call).delete_secret(_required(call.body.secret_id, "secret_id"))
    return {}


def list_secrets(call: Call) -> dict[str, Any]:
    return {"secrets": gateway_store(call).list_secrets(call.body.provider or None)}


# -------------------------------------------------------------------- model definitions
def create_model_definition(call: Call) -> dict[str, Any]:
    b: p.CreateGatewayModelDefinition = call.body
    for field in ("name", "secret_id", "provider", "model_name"):
        _required(getattr(b, field), field)
    found = gateway_store(call).create_model_definition(
        b.name, b.secret_id, b.provider, b.model_name, _user(call, b.created_by)
    )
    return {"model_definition": found}


def get_model_definition(call: Call) -> dict[str, Any]:
    definition_id = _required(call.body.model_definition_id, "model_definition_id")
    return {"model_definition": gateway_store(call).get_model_definition(definition_id)}


def list_model_definitions(call: Call) -> dict[str, Any]:
    b: p.ProviderFilter = call.body
    return {
        "model_definitions": gateway_store(call).list_model_definitions(
            b.provider or None, b.secret_id or None
        )
    }


def update_model_definition(call: Call) -> dict[str, Any]:
    b: p.UpdateGatewayModelDefinition = call.body
    found = gateway_store(call).update_model_definition(
        _required(b.model_definition_id, "model_definition_id"),
        _user(call, b.updated_by),
        name=b.name or None,
        secret_id=b.secret_id or None,
        model_name=b.model_name or None,
        provider=b.provider or None,
    )
    return {"model_definition": found}


def delete_model_definition(call: Call) -> dict[str, Any]:
    gateway_store(call).delete_model_definition(
        _required(call.body.model_definition_id, "model_definition_id")
    )
    return {}


# ---------------------------------------------------------------------------- endpoints
def _enum(value: str | int | None, names: dict[Any, str], field: str) -> str | None:
    if value is None or value == 0 or value == "":
        return None
    key = value.upper() if isinstance(value, str) else value
    if key not in names:
        valid = ", ".join(sorted({v for v in names.values()}))
        raise invalid(f"Invalid value {value!r} for parameter '{field}'. Must be one of: {valid}.")
    return names[key]


def _configs(wire: list[p.ModelConfigWire], where: str = "model_configs") -> list[dict[str, Any]]:
    configs = []
    for index, c in enumerate(wire):
        at = where if where == "model_config" else f"{where}[{index}]"
        linkage = _enum(c.linkage_type, _LINKAGES, "linkage_type")
        if linkage is None:
            raise invalid(
                f"Invalid or missing value for required parameter 'linkage_type' in {at}. "
                "Must be one of: PRIMARY, FALLBACK."
            )
        _required(c.model_definition_id, f"{at}.model_definition_id")
        weight = 1.0 if c.weight is None else c.weight
        configs.append(
            {
                "model_definition_id": c.model_definition_id,
                "linkage_type": linkage,
                "weight": weight,
                "fallback_order": c.fallback_order,
            }
        )
    return configs


def _fallback(wire: p.FallbackConfigWire | None) -> dict[str, Any] | None:
    if wire is None:
        return None
    return {
        "strategy": _enum(wire.strategy, _FALLBACK, "fallback_config.strategy"),
        "max_attempts": wire.max_attempts,
    }


def _endpoint_name(name: str | None) -> str | None:
    if name and not set(name) <= _NAME_CHARS:
        raise invalid(
            f"Invalid endpoint name '{name}'. Name can only contain letters, numbers, underscores, hyphens, and dots."
        )
    return name


def _tracking_experiment(call: Call, name: str, endpoint_id: str | None) -> str:
    """MLflow's experiment for an endpoint's traces: ``gateway/<name>``, created on first need.

    As in MLflow 3.17.2 the server makes it (not a create-experiment request), so under
    ``basic-auth`` nobody is granted it: the endpoint's creator gets MANAGE on the endpoint only,
    and reads its traces through ``default_permission`` or a grant on this experiment.
    """
    title = f"gateway/{name}"
    store = call.tracking_store
    found = store.get_experiment_by_name(title)
    if found is not None:
        return str(found.experiment_id)
    tags = [
        ExperimentTag("mlflow.experiment.sourceType", "GATEWAY"),
        ExperimentTag("mlflow.experiment.isGateway", "true"),
    ]
    if endpoint_id:
        tags.append(ExperimentTag("mlflow.experiment.sourceId", endpoint_id))
    return str(store.create_experiment(title, tags=tags))


def _named_experiment(call: Call, experiment_id: str | None) -> str | None:
    """An experiment a client names for an endpoint's traces: it must be one this request can see
    (with workspaces, one of the request's workspace: traces must not land in another tenant's)."""
    if experiment_id:
        call.tracking_store.get_experiment(experiment_id)  # RESOURCE_DOES_NOT_EXIST otherwise
    return experiment_id or None


def create_endpoint(call: Call) -> dict[str, Any]:
    b: p.CreateGatewayEndpoint = call.body
    name = _endpoint_name(_required(b.name, "name"))
    configs = _configs(_required(b.model_configs, "model_configs"))
    tracking = True if b.usage_tracking is None else b.usage_tracking
    store = gateway_store(call)
    endpoint_id = store.new_endpoint_id()  # named first: the tracking experiment is tagged with it
    experiment_id = _named_experiment(call, b.experiment_id) or (
        _tracking_experiment(call, str(name), endpoint_id) if tracking else None
    )
    found = store.create_endpoint(
        str(name),
        configs,
        _user(call, b.created_by),
        _enum(b.routing_strategy, _ROUTING, "routing_strategy"),
        _fallback(b.fallback_config),
        experiment_id,
        tracking,
        endpoint_id,
    )
    return {"endpoint": found}


def get_endpoint(call: Call) -> dict[str, Any]:
    b: p.EndpointRef = call.body
    return {"endpoint": gateway_store(call).get_endpoint(b.endpoint_id or None, b.name or None)}


def update_endpoint(call: Call) -> dict[str, Any]:
    b: p.UpdateGatewayEndpoint = call.body
    endpoint_id = _required(b.endpoint_id, "endpoint_id")
    name = _endpoint_name(b.name or None)
    store = gateway_store(call)
    experiment_id = _named_experiment(call, b.experiment_id)
    if b.usage_tracking and experiment_id is None:
        current = store.get_endpoint(endpoint_id)
        if not current.get("experiment_id"):
            experiment_id = _tracking_experiment(call, name or current["name"], endpoint_id)
    found = store.update_endpoint(
        endpoint_id,
        name,
        _configs(b.model_configs) if b.model_configs else None,
        _user(call, b.updated_by),
        _enum(b.routing_strategy, _ROUTING, "routing_strategy"),
        _fallback(b.fallback_config),
        experiment_id,
        b.usage_tracking,
    )
    return {"endpoint": found}


def delete_endpoint(call: Call) -> dict[str, Any]:
    gateway_store(call).delete_endpoint(_required(call.body.endpoint_id, "endpoint_id"))
    return {}


def list_endpoints(call: Call) -> dict[str, Any]:
    b: p.ProviderFilter = call.body
    return {"endpoints": gateway_store(call).list_endpoints(b.provider or None, b.secret_id or None)}


def attach_model(call: Call) -> dict[str, Any]:
    b: p.AttachModel = call.body
    endpoint_id = _required(b.endpoint_id, "endpoint_id")
    config = _configs([_required(b.model_config, "model_config")], "model_config")[0]
    return {"mapping": gateway_store(call).attach_model(endpoint_id, config, _user(call, b.created_by))}


def detach_model(call: Call) -> dict[str, Any]:
    b: p.DetachModel = call.body
    gateway_store(call).detach_model(
        _required(b.endpoint_id, "endpoint_id"), _required(b.model_definition_id, "model_definition_id")
    )
    return {}


def create_binding(call: Call) -> dict[str, Any]:
    b: p.Binding = call.body
    keys = [_required(getattr(b, f), f) for f in ("endpoint_id", "resource_type", "resource_id")]
    return {"binding": gateway_store(call).create_binding(*keys, _user(call, b.created_by))}


def delete_binding(call: Call) -> dict[str, Any]:
    b: p.Binding = call.body
    keys = [_required(getattr(b, f), f) for f in ("endpoint_id", "resource_type", "resource_id")]
    gateway_store(call).delete_binding(*keys)
    return {}


def list_bindings(call: Call) -> dict[str, Any]:
    b: p.Binding = call.body
    found = gateway_store(call).list_bindings(
        endpoint_id=b.endpoint_id, resource_type=b.resource_type, resource_id=b.resource_id
    )
    return {"bindings": found}


def set_endpoint_tag(call: Call) -> dict[str, Any]:
    b: p.EndpointTag = call.body
    gateway_store(call).set_tag(_required(b.endpoint_id, "endpoint_id"), _required(b.key, "key"), b.value)
    return {}


def delete_endpoint_tag(call: Call) -> dict[str, Any]:
    b: p.EndpointTag = call.body
    gateway_store(call).delete_tag(_required(b.endpoint_id, "endpoint_id"), _required(b.key, "key"))
    return {}


# ------------------------------------------------------------------------ UI helpers, usage
def supported_providers(call: Call) -> dict[str, Any]:
    return {"providers": list(providers.PROVIDERS)}


def supported_models(call: Call) -> dict[str, Any]:
    return {"models": providers.models(call.body.provider)}


def provider_config(call: Call) -> dict[str, Any]:
    return providers.provider_config(call.body.provider)


def secrets_config(call: Call) -> dict[str, Any]:
    return {"secrets_available": secret_box(call).encrypts, "using_default_passphrase": False}


def usage(call: Call) -> dict[str, Any]:
    return {"usage": gateway_store(call).usage(call.body.endpoint_id or None)}


_W = {"write": True}
_DB = {"db_only": True}
ENDPOINTS: list[Endpoint] = [
    implement(G.create_secret, create_secret, **_W),
    implement(G.get_secret, get_secret, **_DB),
    implement(G.update_secret, update_secret, **_W),
    implement(G.delete_secret, delete_secret, **_W),
    implement(G.list_secrets, list_secrets, **_DB),
    implement(G.create_model_definition, create_model_definition, **_W),
    implement(G.get_model_definition, get_model_definition, **_DB),
    implement(G.list_model_definitions, list_model_definitions, **_DB),
    implement(G.update_model_definition, update_model_definition, **_W),
    implement(G.delete_model_definition, delete_model_definition, **_W),
    implement(G.create_endpoint, create_endpoint, **_W),
    implement(G.get_endpoint, get_endpoint, **_DB),
    implement(G.update_endpoint, update_endpoint, **_W),
    implement(G.delete_endpoint, delete_endpoint, **_W),
    implement(G.list_endpoints, list_endpoints, **_DB),
    implement(G.attach_model, attach_model, **_W),
    implement(G.detach_model, detach_model, **_W),
    implement(G.create_binding, create_binding, **_W),
    implement(G.delete_binding, delete_binding, **_W),
    implement(G.list_bindings, list_bindings, **_DB),
    implement(G.set_endpoint_tag, set_endpoint_tag, **_W),
    implement(G.delete_endpoint_tag, delete_endpoint_tag, **_W),
    implement(G.supported_providers, supported_providers),
    implement(G.supported_models, supported_models),
    implement(G.provider_config, provider_config),
    implement(G.secrets_config, secrets_config),
    implement(G.usage, usage, **_DB),
    *proxy.ENDPOINTS,
]
