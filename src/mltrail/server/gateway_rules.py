"""Permission rules of the AI gateway's configuration API, as MLflow 3.17's ``basic-auth`` app has them.

Each secret, model definition and endpoint carries per-user grants (resource types
``gateway_secret``, ``gateway_model_definition``, ``gateway_endpoint``; granted with
``/api/3.0/mlflow/users/permissions/grant``); without a grant the server's
``default_permission`` applies, admins may do anything:

* creating one needs a login, and its creator gets MANAGE on it; a model definition
  also needs USE on its secret, an endpoint USE on each model definition it routes to
  and, when it names the experiment its calls are traced into, UPDATE there;
* reading needs READ, changing (update, tags, bindings, attach / detach) UPDATE,
  deleting DELETE (its grants go with it); pointing a definition at another secret
  needs USE on that secret, an endpoint at other definitions USE on them;
* lists answer only what the caller may read; bindings without an endpoint, admins only;
* an answer never shows what the caller is denied (an explicit DENY, as MLflow's
  ``_withhold_denied_model_mappings``): an endpoint's mapping to a denied model
  definition loses ``model_definition`` and ``model_definition_id``, a definition
  naming a denied secret loses ``secret_id`` and ``secret_name`` (get, update, list,
  attach); ``secrets/config`` keeps ``using_default_passphrase`` for admins;
* calling an endpoint through a proxy needs USE on it
  (:func:`mltrail.server.gateway_proxy.require_use`).

Served to :func:`mltrail.server.auth.rules.declared_rule` as ``AUTH_RULES`` of
:mod:`mltrail.server.handlers.gateway`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from mltrail.exceptions import RESOURCE_DOES_NOT_EXIST, MltrailException
from mltrail.protocol.gateway import GATEWAY as G
from mltrail.protocol.gateway_policies import BUDGETS as B
from mltrail.protocol.gateway_policies import GUARDRAILS as GR
from mltrail.server.auth.permissions import MANAGE as ALL
from mltrail.server.auth.rules import (
    ADMIN_ONLY,
    AUTHENTICATED,
    DELETE,
    READ,
    UPDATE,
    USE,
    Rule,
    Subject,
    require_admin,
    require_user,
)
from mltrail.server.gateway_proxy import gateway_store
from mltrail.server.routing import Call

_log = logging.getLogger("mltrail.server.auth")

SECRET, DEFINITION, ENDPOINT = "gateway_secret", "gateway_model_definition", "gateway_endpoint"
# resource type -> (the answer's field of one, of a list, the id field, the store's delete)
_SHAPES: dict[str, tuple[str, str, str, str]] = {
    SECRET: ("secret", "secrets", "secret_id", "delete_secret"),
    DEFINITION: ("model_definition", "model_definitions", "model_definition_id", "delete_model_definition"),
    ENDPOINT: ("endpoint", "endpoints", "endpoint_id", "delete_endpoint"),
}


def _existing_id(find: Callable[[], dict[str, Any]], field: str) -> str | None:
    """The id of what ``find`` looks up, or None when it does not exist (the handler answers 404)."""
    try:
        return str(find()[field])
    except MltrailException as err:
        if err.error_code != RESOURCE_DOES_NOT_EXIST:
            raise
        return None


def _on(resource_type: str, need: str, ids: Callable[[Call], Iterable[str | None]]) -> Callable[..., None]:
    def check(call: Call, subject: Subject) -> None:
        require_user(call, subject)
        for resource_id in ids(call):
            if resource_id:
                subject.require_gateway(resource_type, resource_id, need)

    return check


def _all(*checks: Callable[[Call, Subject], None]) -> Callable[[Call, Subject], None]:
    def check(call: Call, subject: Subject) -> None:
        for one in checks:
            one(call, subject)

    return check


def _field(name: str) -> Callable[[Call], list[str | None]]:
    return lambda call: [getattr(call.body, name, None)]


def _secret_of_ref(call: Call) -> list[str | None]:
    b = call.body
    if b.secret_id or not b.secret_name:
        return [b.secret_id]
    return [_existing_id(lambda: gateway_store(call).get_secret(None, b.secret_name), "secret_id")]


def _endpoint_of_ref(call: Call) -> list[str | None]:
    b = call.body
    if b.endpoint_id or not b.name:
        return [b.endpoint_id]
    return [_existing_id(lambda: gateway_store(call).get_endpoint(None, b.name), "endpoint_id")]


def _definitions_of_configs(call: Call) -> list[str | None]:
    return [c.model_definition_id for c in call.body.model_configs or ()]


def _definition_of_attach(call: Call) -> list[str | None]:
    config = call.body.model_config
    return [config.model_definition_id if config is not None else None]


def _creator_manages(resource_type: str) -> Callable[..., Any]:
    """Create the resource, then give its creator MANAGE on it; undo the create if that fails."""
    one, _, id_field, delete = _SHAPES[resource_type]

    def around(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
        result = handler(call)
        if subject.user is None:
            return result
        resource_id = str(result[one][id_field])
        try:
            subject.auth.store.grant_gateway(resource_type, resource_id, subject.user.username, ALL)
        except Exception:
            _log.exception("Granting MANAGE on %s %s failed", resource_type, resource_id)
            try:
                getattr(gateway_store(call), delete)(resource_id)
            except Exception:
                _log.exception("Could not undo the creation of %s %s", resource_type, resource_id)
            raise MltrailException(
                f"Could not record the creator's permission on the new {resource_type}; nothing was "
                "created. Retry the request.",
                error_code="TEMPORARILY_UNAVAILABLE",
            ) from None
        return result

    return around


def _grants_go_with(resource_type: str) -> Callable[..., Any]:
    """Delete the resource, then every grant on it."""
    id_field = _SHAPES[resource_type][2]

    def around(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
        result = handler(call)
        resource_id = getattr(call.body, id_field)
        try:
            subject.auth.store.delete_gateway_permissions(resource_type, resource_id)
        except Exception:
            _log.exception("Deleting the grants of deleted %s %s failed", resource_type, resource_id)
        return result

    return around


def _readable(resource_type: str) -> Callable[..., Any]:
    """A list answering only what the caller may read."""
    _, many, id_field, _ = _SHAPES[resource_type]

    def around(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
        result = handler(call)
        if subject.is_admin:
            return result
        kept = [r for r in result.get(many, ()) if subject.gateway(resource_type, str(r[id_field])).can_read]
        return {**result, many: kept}

    return around


def _withhold_definition_secret(definition: Any, subject: Subject) -> Any:
    """A model definition without its secret's id and name when the caller is denied that secret."""
    secret_id = definition.get("secret_id") if isinstance(definition, dict) else None
    if secret_id and subject.gateway(SECRET, str(secret_id)).denied:
        return {k: v for k, v in definition.items() if k not in ("secret_id", "secret_name")}
    return definition


def _withhold_mapping(mapping: Any, subject: Subject) -> Any:
    """An endpoint's model mapping without what the caller is denied (its definition, or that one's secret)."""
    if not isinstance(mapping, dict):
        return mapping
    definition_id = mapping.get("model_definition_id") or (mapping.get("model_definition") or {}).get(
        "model_definition_id"
    )
    if definition_id and subject.gateway(DEFINITION, str(definition_id)).denied:
        return {k: v for k, v in mapping.items() if k not in ("model_definition", "model_definition_id")}
    if "model_definition" in mapping:
        return {
            **mapping,
            "model_definition": _withhold_definition_secret(mapping["model_definition"], subject),
        }
    return mapping


def _withhold_endpoint(endpoint: Any, subject: Subject) -> Any:
    if not isinstance(endpoint, dict) or not endpoint.get("model_mappings"):
        return endpoint
    return {**endpoint, "model_mappings": [_withhold_mapping(m, subject) for m in endpoint["model_mappings"]]}


def _withheld(field: str, one: Callable[[Any, Subject], Any], many: bool = False) -> Callable[..., Any]:
    """An answer's ``field`` (one resource, or a list with ``many``) without what the caller is denied."""

    def around(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
        result = handler(call)
        if subject.is_admin or not isinstance(result, dict) or field not in result:
            return result
        value = result[field]
        return {**result, field: [one(v, subject) for v in value] if many else one(value, subject)}

    return around


def _then(first: Callable[..., Any], second: Callable[..., Any]) -> Callable[..., Any]:
    """Two ``around`` wrappers: ``second`` applied to what ``first`` answers."""
    return lambda handler, call, subject: second(lambda c: first(handler, c, subject), call, subject)


def _admin_posture(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
    """``secrets/config`` without ``using_default_passphrase`` (the server's security posture) for non-admins."""
    result = handler(call)
    if subject.is_admin or not isinstance(result, dict):
        return result
    return {k: v for k, v in result.items() if k != "using_default_passphrase"}


def _readable_usage(handler: Callable[[Call], Any], call: Call, subject: Subject) -> Any:
    result = handler(call)
    if subject.is_admin:
        return result
    rows = [r for r in result.get("usage", ()) if subject.gateway(ENDPOINT, str(r["endpoint_id"])).can_read]
    return {**result, "usage": rows}


def _trace_experiment(call: Call, subject: Subject) -> None:
    """An endpoint's calls are traced into ``experiment_id`` when given: the caller must be able to write there.

    (MLflow only refuses an explicit DENY on it; a user who may not log to an experiment
    must not be able to send traces into it through an endpoint.)
    """
    experiment_id = getattr(call.body, "experiment_id", None)
    if experiment_id:
        subject.require_experiment(str(experiment_id), UPDATE)


def _bindings(call: Call, subject: Subject) -> None:
    if not call.body.endpoint_id:
        require_admin(call, subject)
    else:
        _on(ENDPOINT, READ, _field("endpoint_id"))(call, subject)


def _rule(resource_type: str, need: str | None, check: Any, around: Any = None) -> Rule:
    return Rule(resource_type, need, check, around)


_SECRET_ID = _field("secret_id")
_DEFINITION_ID = _field("model_definition_id")
_ENDPOINT_ID = _field("endpoint_id")

#: (path, method) -> rule for every configuration endpoint (the proxies' rule is in gateway_proxy).
AUTH_RULES: dict[tuple[str, str], Rule] = {
    (ep.path, m): rule
    for ep, rule in (
        (G.create_secret, _rule(SECRET, None, require_user, _creator_manages(SECRET))),
        (G.get_secret, _rule(SECRET, READ, _on(SECRET, READ, _secret_of_ref))),
        (G.update_secret, _rule(SECRET, UPDATE, _on(SECRET, UPDATE, _SECRET_ID))),
        (G.delete_secret, _rule(SECRET, DELETE, _on(SECRET, DELETE, _SECRET_ID), _grants_go_with(SECRET))),
        (G.list_secrets, _rule(SECRET, READ, require_user, _readable(SECRET))),
        (
            G.create_model_definition,
            _rule(DEFINITION, USE, _on(SECRET, USE, _SECRET_ID), _creator_manages(DEFINITION)),
        ),
        (
            G.get_model_definition,
            _rule(
                DEFINITION,
                READ,
                _on(DEFINITION, READ, _DEFINITION_ID),
                _withheld("model_definition", _withhold_definition_secret),
            ),
        ),
        (
            G.update_model_definition,
            _rule(
                DEFINITION,
                UPDATE,
                _all(_on(DEFINITION, UPDATE, _DEFINITION_ID), _on(SECRET, USE, _SECRET_ID)),
                _withheld("model_definition", _withhold_definition_secret),
            ),
        ),
        (
            G.delete_model_definition,
            _rule(DEFINITION, DELETE, _on(DEFINITION, DELETE, _DEFINITION_ID), _grants_go_with(DEFINITION)),
        ),
        (
            G.list_model_definitions,
            _rule(
                DEFINITION,
                READ,
                require_user,
                _then(
                    _readable(DEFINITION), _withheld("model_definitions", _withhold_definition_secret, True)
                ),
            ),
        ),
        (
            G.create_endpoint,
            _rule(
                ENDPOINT,
                USE,
                _all(_on(DEFINITION, USE, _definitions_of_configs), _trace_experiment),
                _creator_manages(ENDPOINT),
            ),
        ),
        (
            G.get_endpoint,
            _rule(
                ENDPOINT,
                READ,
                _on(ENDPOINT, READ, _endpoint_of_ref),
                _withheld("endpoint", _withhold_endpoint),
            ),
        ),
        (
            G.update_endpoint,
            _rule(
                ENDPOINT,
                UPDATE,
                _all(
                    _on(ENDPOINT, UPDATE, _ENDPOINT_ID),
                    _on(DEFINITION, USE, _definitions_of_configs),
                    _trace_experiment,
                ),
                _withheld("endpoint", _withhold_endpoint),
            ),
        ),
        (
            G.delete_endpoint,
            _rule(ENDPOINT, DELETE, _on(ENDPOINT, DELETE, _ENDPOINT_ID), _grants_go_with(ENDPOINT)),
        ),
        (
            G.list_endpoints,
            _rule(
                ENDPOINT,
                READ,
                require_user,
                _then(_readable(ENDPOINT), _withheld("endpoints", _withhold_endpoint, True)),
            ),
        ),
        (
            G.attach_model,
            _rule(
                ENDPOINT,
                UPDATE,
                _all(_on(ENDPOINT, UPDATE, _ENDPOINT_ID), _on(DEFINITION, USE, _definition_of_attach)),
                _withheld("mapping", _withhold_mapping),
            ),
        ),
        (G.detach_model, _rule(ENDPOINT, UPDATE, _on(ENDPOINT, UPDATE, _ENDPOINT_ID))),
        (G.create_binding, _rule(ENDPOINT, UPDATE, _on(ENDPOINT, UPDATE, _ENDPOINT_ID))),
        (G.delete_binding, _rule(ENDPOINT, UPDATE, _on(ENDPOINT, UPDATE, _ENDPOINT_ID))),
        (G.list_bindings, _rule(ENDPOINT, READ, _bindings)),
        (G.set_endpoint_tag, _rule(ENDPOINT, UPDATE, _on(ENDPOINT, UPDATE, _ENDPOINT_ID))),
        (G.delete_endpoint_tag, _rule(ENDPOINT, UPDATE, _on(ENDPOINT, UPDATE, _ENDPOINT_ID))),
        (G.supported_providers, AUTHENTICATED),
        (G.supported_models, AUTHENTICATED),
        (G.provider_config, AUTHENTICATED),
        (G.secrets_config, _rule("authenticated", None, require_user, _admin_posture)),
        (G.usage, _rule(ENDPOINT, READ, require_user, _readable_usage)),
    )
    for m in ep.methods
}


def _policy_rules() -> dict[tuple[str, str], Rule]:
    """Budget policies and guardrails, as MLflow 3.17's auth app has them (served by handlers.gateway_policies).

    Budget writes are admins', reads any signed-in user's; guardrails themselves are
    admins'; an endpoint's guardrails need UPDATE on it to change, READ to list.
    """
    admin = ADMIN_ONLY
    change = _rule(ENDPOINT, UPDATE, _on(ENDPOINT, UPDATE, _ENDPOINT_ID))
    return {
        (ep.path, m): rule
        for ep, rule in (
            (B.create_budget_policy, admin),
            (B.update_budget_policy, admin),
            (B.delete_budget_policy, admin),
            (B.get_budget_policy, AUTHENTICATED),
            (B.list_budget_policies, AUTHENTICATED),
            (B.list_budget_windows, AUTHENTICATED),
            (GR.create_guardrail, admin),
            (GR.get_guardrail, admin),
            (GR.list_guardrails, admin),
            (GR.delete_guardrail, admin),
            (GR.add_guardrail_to_endpoint, change),
            (GR.remove_guardrail_from_endpoint, change),
            (GR.update_endpoint_guardrail_config, change),
            (GR.list_endpoint_guardrails, _rule(ENDPOINT, READ, _on(ENDPOINT, READ, _ENDPOINT_ID))),
        )
        for m in ep.methods
    }


#: (path, method) -> rule for the budget and guardrail endpoints.
POLICY_RULES: dict[tuple[str, str], Rule] = _policy_rules()
