"""Registry webhooks as MLflow 3.17 has them: events, webhooks, test results, and mltrail's delivery log.

An event is ``<entity>.<action>`` (``"model_version.created"``); the entities and
the actions each one allows are MLflow's (``mlflow.entities.webhook``). On the
wire an event is ``{"entity": "MODEL_VERSION", "action": "CREATED"}`` (protobuf
enum names); in payloads and the delivery log it is the lower-case pair.

Example::

    event = WebhookEvent.parse("model_version_alias.created")
    event.to_dict()          # {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mltrail.exceptions import invalid

ACTIVE = "ACTIVE"
DISABLED = "DISABLED"
STATUSES = (ACTIVE, DISABLED)

#: Each entity and the actions MLflow 3.17 allows on it (``VALID_ENTITY_ACTIONS``).
VALID_ENTITY_ACTIONS: dict[str, tuple[str, ...]] = {
    "registered_model": ("created",),
    "model_version": ("created",),
    "model_version_tag": ("set", "deleted"),
    "model_version_alias": ("created", "deleted"),
    "prompt": ("created",),
    "prompt_version": ("created",),
    "prompt_tag": ("set", "deleted"),
    "prompt_version_tag": ("set", "deleted"),
    "prompt_alias": ("created", "deleted"),
    "budget_policy": ("exceeded",),
}

#: MLflow's default schemes for webhook URLs (``MLFLOW_WEBHOOK_ALLOWED_SCHEMES``) and the AI
#: gateway's ``api_base`` (``MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES``): TLS only.
DEFAULT_URL_SCHEMES: tuple[str, ...] = ("https",)
#: What mltrail sends with: the most a scheme setting may allow.
SUPPORTED_URL_SCHEMES: tuple[str, ...] = ("http", "https")
WEBHOOK_SCHEMES_ENV = "MLFLOW_WEBHOOK_ALLOWED_SCHEMES"


def parse_schemes(raw: str | Iterable[str]) -> tuple[str, ...]:
    """A scheme setting (``"http,https"`` or a list) as lower-case names, in the order given.

    Raises :class:`ValueError` when it names nothing, or a scheme mltrail cannot send with.
    """
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    schemes: list[str] = []
    for item in items:
        scheme = str(item).strip().lower()
        if scheme and scheme not in schemes:
            schemes.append(scheme)
    unsupported = [s for s in schemes if s not in SUPPORTED_URL_SCHEMES]
    if unsupported:
        raise ValueError(
            f"unsupported scheme(s) {', '.join(map(repr, unsupported))}: "
            f"choose among {', '.join(SUPPORTED_URL_SCHEMES)}"
        )
    if not schemes:
        raise ValueError(f"name at least one scheme among {', '.join(SUPPORTED_URL_SCHEMES)}")
    return tuple(schemes)


def webhook_scheme_refused(scheme: str, schemes: Iterable[str]) -> str:
    """MLflow's message (``_validate_webhook_url``) for a webhook URL whose scheme is not allowed."""
    return f"Invalid webhook URL scheme: {scheme!r}. Allowed schemes are: {', '.join(schemes)}."


#: Delivery states in the delivery log.
DELIVERY_PENDING = "PENDING"
DELIVERY_SUCCEEDED = "SUCCEEDED"
DELIVERY_FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event a webhook subscribes to: an entity and an action (both lower case)."""

    entity: str
    action: str

    def __post_init__(self) -> None:
        actions = VALID_ENTITY_ACTIONS.get(self.entity)
        if actions is None:
            raise invalid(
                f"Invalid webhook event entity {self.entity!r}. "
                f"Valid entities are: {sorted(VALID_ENTITY_ACTIONS)}"
            )
        if self.action not in actions:
            raise invalid(
                f"Invalid action '{self.action}' for entity '{self.entity}'. "
                f"Valid actions are: {sorted(actions)}"
            )

    @classmethod
    def parse(cls, text: str) -> WebhookEvent:
        """``"model_version.created"`` as an event (400 for anything else)."""
        entity, dot, action = str(text).partition(".")
        if not dot:
            raise invalid(
                f"Invalid event string format: {text}. Expected format: 'entity.action' "
                "(e.g., 'registered_model.created')"
            )
        return cls(entity.lower(), action.lower())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WebhookEvent:
        """The wire form ``{"entity": "MODEL_VERSION", "action": "CREATED"}`` (names or numbers)."""
        return cls(
            _enum_name(data.get("entity"), _ENTITY_NUMBERS, "entity"),
            _enum_name(data.get("action"), _ACTION_NUMBERS, "action"),
        )

    def to_dict(self) -> dict[str, str]:
        """The wire form (protobuf enum names)."""
        return {"entity": self.entity.upper(), "action": self.action.upper()}

    def __str__(self) -> str:
        return f"{self.entity}.{self.action}"


# protobuf's enum numbers (webhooks.proto), accepted as well as the names
_ENTITY_NUMBERS = {i + 1: name for i, name in enumerate(VALID_ENTITY_ACTIONS)}
_ACTION_NUMBERS = {1: "created", 2: "updated", 3: "deleted", 4: "set", 5: "exceeded"}


def _enum_name(value: Any, numbers: dict[int, str], what: str) -> str:
    if isinstance(value, bool) or value is None:
        raise invalid(f"Webhook event {what} is required")
    if isinstance(value, int):
        if value not in numbers:
            raise invalid(f"Invalid webhook event {what}: {value}")
        return numbers[value]
    return str(value).lower()


@dataclass(slots=True)
class Webhook:
    """A registered webhook. ``secret`` is held server-side only and never leaves it."""

    webhook_id: str
    name: str
    url: str
    events: list[WebhookEvent]
    status: str = ACTIVE
    description: str | None = None
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    secret: str | None = field(default=None, repr=False)
    #: The workspace it belongs to (MLflow 3.17's ``--enable-workspaces``); ``default`` without.
    workspace: str = "default"

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    def to_dict(self) -> dict[str, Any]:
        """MLflow's ``Webhook`` message as JSON: the secret is never part of it."""
        out: dict[str, Any] = {
            "webhook_id": self.webhook_id,
            "name": self.name,
            "url": self.url,
            "events": [e.to_dict() for e in self.events],
            "status": self.status,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
        }
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Webhook:
        """A webhook from MLflow's ``Webhook`` message JSON (what the REST API answers)."""
        return cls(
            webhook_id=str(data.get("webhook_id", "")),
            name=str(data.get("name", "")),
            url=str(data.get("url", "")),
            events=[WebhookEvent.from_dict(e) for e in data.get("events") or ()],
            status=_status_name(data.get("status")),
            description=data.get("description") or None,
            creation_timestamp=int(data.get("creation_timestamp") or 0),
            last_updated_timestamp=int(data.get("last_updated_timestamp") or 0),
        )


def _status_name(value: Any) -> str:
    """A status as answered (``"ACTIVE"``, or protobuf's number ``1``/``2``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {1: ACTIVE, 2: DISABLED}.get(value, ACTIVE)
    return str(value).upper() if value else ACTIVE


@dataclass(frozen=True, slots=True)
class WebhookTestResult:
    """What ``test_webhook`` answers: MLflow's ``WebhookTestResult``."""

    success: bool
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": self.success}
        if self.response_status is not None:
            out["response_status"] = self.response_status
        if self.response_body:
            out["response_body"] = self.response_body
        if self.error_message:
            out["error_message"] = self.error_message
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WebhookTestResult:
        """A result from MLflow's ``WebhookTestResult`` message JSON."""
        status = data.get("response_status")
        return cls(
            bool(data.get("success", False)),
            int(status) if status is not None else None,
            data.get("response_body") or None,
            data.get("error_message") or None,
        )


@dataclass(slots=True)
class WebhookDelivery:
    """One row of the delivery log: an event sent (or being sent) to one webhook."""

    delivery_id: str
    webhook_id: str
    event: str
    status: str = DELIVERY_PENDING
    attempts: int = 0
    response_status: int | None = None
    error_message: str | None = None
    created_timestamp: int = 0
    last_attempt_timestamp: int | None = None
    completed_timestamp: int | None = None
    next_attempt_timestamp: int | None = None  # while PENDING: when the next attempt is due (ms)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "delivery_id": self.delivery_id,
            "webhook_id": self.webhook_id,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "response_status": self.response_status,
            "error_message": self.error_message,
            "created_timestamp": self.created_timestamp,
            "last_attempt_timestamp": self.last_attempt_timestamp,
            "completed_timestamp": self.completed_timestamp,
            "next_attempt_timestamp": self.next_attempt_timestamp,
        }
        return {k: v for k, v in out.items() if v is not None}
