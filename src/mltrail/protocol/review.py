"""MLflow 3.14's human review REST API: label schemas, review queues; and MLflow 3.17's workspaces.

Paths, methods and field names are those of MLflow's ``label_schemas.proto`` and
``review_queues.proto`` services (``/api/3.0/mlflow/label-schemas/…``,
``/api/3.0/mlflow/review-queues/…``) and of ``service.proto``'s workspace RPCs
(``/api/3.0/mlflow/workspaces``). Enums travel by name, as protobuf JSON writes them
(``"FEEDBACK"``, ``"CUSTOM"``, ``"PENDING"``); their numbers are accepted too. A label
schema's ``input`` is ``LabelSchemaInput`` as JSON: exactly one of ``pass_fail``,
``categorical``, ``numeric``, ``text``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mltrail.protocol.routes import Message, Route, RouteSet

Enum = str | int | None


# ------------------------------------------------------------------ label schemas
class CreateLabelSchema(Message):
    experiment_id: str = ""
    name: str = ""
    type: Enum = None
    input: dict[str, Any] | None = None
    instruction: str | None = None
    enable_comment: bool | None = None


class LabelSchemaRef(Message):
    schema_id: str = ""


class LabelSchemaByName(Message):
    experiment_id: str = ""
    name: str = ""


class ListLabelSchemas(Message):
    experiment_id: str = ""
    max_results: int | None = None
    page_token: str | None = None


class UpdateLabelSchema(Message):
    schema_id: str = ""
    name: str | None = None
    instruction: str | None = None
    enable_comment: bool | None = None
    input: dict[str, Any] | None = None


class LabelSchemaResponse(msgspec.Struct):
    label_schema: dict[str, Any] = {}


class LabelSchemasResponse(msgspec.Struct):
    label_schemas: list[dict[str, Any]] = []
    next_page_token: str = ""


# ------------------------------------------------------------------ review queues
class CreateReviewQueue(Message):
    experiment_id: str = ""
    name: str = ""
    queue_type: Enum = None
    created_by: str | None = None  # ignored: the owner is the caller, as in MLflow
    users: list[str] = []
    schema_ids: list[str] = []


class GetOrCreateUserQueue(Message):
    experiment_id: str = ""
    user: str = ""
    created_by: str | None = None


class ReviewQueueRef(Message):
    queue_id: str = ""


class ReviewQueueByName(Message):
    experiment_id: str = ""
    name: str = ""


class ListReviewQueues(Message):
    experiment_id: str = ""
    user: str | None = None
    item_id: str | None = None
    max_results: int | None = None
    page_token: str | None = None


class UpdateReviewQueue(Message):
    queue_id: str = ""
    update_users: bool = False
    users: list[str] = []
    update_schema_ids: bool = False
    schema_ids: list[str] = []
    name: str | None = None
    new_owner: str | None = None


class QueueItems(Message):
    """``AddItemsToReviewQueue`` and ``RemoveItemsFromReviewQueue``."""

    queue_id: str = ""
    item_type: Enum = None
    item_ids: list[str] = []


class ListReviewQueueItems(Message):
    queue_id: str = ""
    status: Enum = None
    max_results: int | None = None
    page_token: str | None = None


class SetReviewQueueItemStatus(Message):
    queue_id: str = ""
    item_id: str = ""
    status: Enum = None
    completed_by: str | None = None


class ReviewQueueResponse(msgspec.Struct):
    review_queue: dict[str, Any] = {}


class ReviewQueuesResponse(msgspec.Struct):
    review_queues: list[dict[str, Any]] = []
    next_page_token: str = ""


class ItemsResponse(msgspec.Struct):
    items: list[dict[str, Any]] = []
    next_page_token: str = ""


class ItemResponse(msgspec.Struct):
    item: dict[str, Any] = {}


# ------------------------------------------------------------------ workspaces
class CreateWorkspace(Message):
    name: str = ""
    description: str | None = None
    default_artifact_root: str | None = None
    trace_archival_config: dict[str, Any] | None = None


class WorkspaceRef(Message):
    workspace_name: str | None = None


class UpdateWorkspace(Message):
    workspace_name: str | None = None
    description: str | None = None
    default_artifact_root: str | None = None
    trace_archival_config: dict[str, Any] | None = None


class DeleteWorkspace(Message):
    workspace_name: str | None = None
    mode: str | None = None


class WorkspaceResponse(msgspec.Struct):
    workspace: dict[str, Any] = {}


class WorkspacesResponse(msgspec.Struct):
    workspaces: list[dict[str, Any]] = []


class Empty(msgspec.Struct):
    pass


def _r(name: str, method: str, path: str, req: type, resp: type, tag: str) -> Route:
    return Route(name, method, path, req, resp, versions=("3.0",), tags=(tag,))


def _ls(name: str, method: str, path: str, req: type, resp: type = Empty) -> Route:
    return _r(name, method, f"/label-schemas/{path}", req, resp, "label-schemas")


def _rq(name: str, method: str, path: str, req: type, resp: type = Empty) -> Route:
    return _r(name, method, f"/review-queues/{path}", req, resp, "review-queues")


LABEL_SCHEMAS = RouteSet(
    _ls("create_label_schema", "POST", "create", CreateLabelSchema, LabelSchemaResponse),
    _ls("get_label_schema", "GET", "get", LabelSchemaRef, LabelSchemaResponse),
    _ls("get_label_schema_by_name", "GET", "get-by-name", LabelSchemaByName, LabelSchemaResponse),
    _ls("list_label_schemas", "GET", "list", ListLabelSchemas, LabelSchemasResponse),
    _ls("update_label_schema", "PATCH", "update", UpdateLabelSchema, LabelSchemaResponse),
    _ls("delete_label_schema", "DELETE", "delete", LabelSchemaRef),
)

REVIEW_QUEUES = RouteSet(
    _rq("create_review_queue", "POST", "create", CreateReviewQueue, ReviewQueueResponse),
    _rq("get_or_create_user_queue", "POST", "get-or-create-user", GetOrCreateUserQueue, ReviewQueueResponse),
    _rq("get_review_queue", "GET", "get", ReviewQueueRef, ReviewQueueResponse),
    _rq("get_review_queue_by_name", "GET", "get-by-name", ReviewQueueByName, ReviewQueueResponse),
    _rq("list_review_queues", "GET", "list", ListReviewQueues, ReviewQueuesResponse),
    _rq("update_review_queue", "POST", "update", UpdateReviewQueue, ReviewQueueResponse),
    _rq("delete_review_queue", "POST", "delete", ReviewQueueRef),
    _rq("add_items_to_review_queue", "POST", "items/add", QueueItems, ItemsResponse),
    _rq("remove_items_from_review_queue", "POST", "items/remove", QueueItems),
    _rq("list_review_queue_items", "GET", "items/list", ListReviewQueueItems, ItemsResponse),
    _rq("set_review_queue_item_status", "POST", "items/set-status", SetReviewQueueItemStatus, ItemResponse),
)

_WS_ONE = "/workspaces/{workspace_name}"
WORKSPACES = RouteSet(
    _r("list_workspaces", "GET", "/workspaces", Empty, WorkspacesResponse, "workspaces"),
    _r("create_workspace", "POST", "/workspaces", CreateWorkspace, WorkspaceResponse, "workspaces"),
    _r("get_workspace", "GET", _WS_ONE, WorkspaceRef, WorkspaceResponse, "workspaces"),
    _r("update_workspace", "PATCH", _WS_ONE, UpdateWorkspace, WorkspaceResponse, "workspaces"),
    _r("delete_workspace", "DELETE", _WS_ONE, DeleteWorkspace, Empty, "workspaces"),
)
