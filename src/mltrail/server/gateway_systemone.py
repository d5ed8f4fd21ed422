"""TypeSafe System One through the AI gateway: which endpoints may take which route (as MLflow 3.17).

``POST /gateway/typesafe/v1/systemone`` takes TypeSafe's own request (``state``,
``questions``) with ``model`` naming a gateway endpoint; the proxy
(:mod:`mltrail.server.gateway_proxy`) sends it to the endpoint's provider at
``<base>/systemone`` with the definition's model name and the secret's key, traced and
counted like every passthrough. System One models (any TypeSafe model, OpenRouter's
``typesafe/jev-<version>``: :func:`~mltrail.server.gateway_providers.supports_system_one`)
answer nothing else, so the proxy asks :func:`check_endpoint` on every route:

* on the System One route, an endpoint without a System One model is 422, one mixing
  System One and chat models (PRIMARY or FALLBACK) 400;
* on any other route (chat, invocations, the passthroughs, the raw proxy), an endpoint
  with a System One model is 400 :data:`CHAT_ROUTE_REJECTION`.

The refusals carry MLflow's text in ``detail`` as well as in ``message``: MLflow's
``gateway:/`` judges read ``detail`` to tell a System One endpoint (they try chat first,
then switch to this route) from a chat one.

Example::

    body = request_body(body)                   # 400 for "stream": true
    check_endpoint(endpoint, system_one_route=True)
"""

from __future__ import annotations

from typing import Any

from mltrail.exceptions import INVALID_PARAMETER_VALUE, MltrailException
from mltrail.server.gateway_providers import supports_system_one

#: MLflow's refusal of a System One endpoint on a chat route (``SYSTEM_ONE_CHAT_ROUTE_REJECTION_DETAIL``).
CHAT_ROUTE_REJECTION = (
    "System One models only support structured evaluation through "
    "/gateway/typesafe/v1/systemone. Use a chat model for chat completions."
)
NOT_SYSTEM_ONE = (
    "Gateway endpoint does not use a System One model. Use a TypeSafe or OpenRouter Jev decision model."
)
MIXED_MODELS = (
    "System One endpoints cannot mix System One and chat models. Every primary and fallback model "
    "must support System One."
)
NO_STREAMING = "TypeSafe System One does not support streaming."


class GatewayRefusal(MltrailException):
    """A refusal of MLflow's gateway: its text also in ``detail`` (FastAPI's field), with its own status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message, INVALID_PARAMETER_VALUE, detail=message)
        self.status = status

    def get_http_status_code(self) -> int:
        return self.status


def request_body(body: dict[str, Any]) -> dict[str, Any]:
    """The body to forward: a streamed request refused before the endpoint is looked up (400, as
    MLflow), ``"stream": false`` left out (TypeSafe's API does not take the field)."""
    if body.get("model") and body.get("stream"):
        raise GatewayRefusal(NO_STREAMING)
    return {k: v for k, v in body.items() if k != "stream"}


def check_endpoint(endpoint: dict[str, Any], system_one_route: bool) -> None:
    """Refuse ``endpoint`` on this route as MLflow does (every PRIMARY and FALLBACK model counts)."""
    found = [
        supports_system_one(
            str((m.get("model_definition") or {}).get("provider") or ""),
            str((m.get("model_definition") or {}).get("model_name") or ""),
        )
        for m in endpoint.get("model_mappings", [])
    ]
    if system_one_route:
        if not any(found):
            raise GatewayRefusal(NOT_SYSTEM_ONE, status=422)
        if not all(found):
            raise GatewayRefusal(MIXED_MODELS)
    elif any(found):
        raise GatewayRefusal(CHAT_ROUTE_REJECTION)
