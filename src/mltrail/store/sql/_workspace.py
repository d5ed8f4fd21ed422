"""The SQL side of workspace scoping: the filters the stores add while a workspace is bound.

:mod:`mltrail.store.workspace_scope` says which workspace the request works in (``None``:
none, no filter); these helpers turn it into ``WHERE`` clauses and checks on the
``workspace`` columns of ``experiments`` (migration 0017) and of the registry tables
(migration 0018, where the workspace is part of every key).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import not_found
from mltrail.store.sql.schema import experiments, gateway_endpoints, workspaces
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, WORKSPACES_DIR, active_workspace

_E = experiments.c


def experiment_scope() -> list[sa.ColumnElement[bool]]:
    """``[experiments.workspace = <bound>]``, or ``[]`` when no workspace is bound."""
    ws = active_workspace()
    return [] if ws is None else [_E.workspace == ws]


def by_experiment_scope(experiment_id: sa.ColumnElement[Any]) -> list[sa.ColumnElement[bool]]:
    """``[<experiment_id> IN <the bound workspace's experiments>]``, or ``[]`` when none is bound:
    the filter of rows that belong to a workspace through their experiment (traces, logged models)."""
    scope = experiment_scope()
    return [experiment_id.in_(sa.select(_E.experiment_id).where(*scope))] if scope else []


def registry_workspace() -> str:
    """The workspace a registered model (or prompt) name, or an AI gateway record, is looked up
    in: the bound one, else ``default``. A name is unique per workspace (migrations 0018, 0019),
    so unlike experiments these always key by a workspace; rows written while workspaces are off
    are in ``default``.
    """
    return active_workspace() or DEFAULT_WORKSPACE


def visible_experiment(conn: sa.Connection, exp_id: int) -> bool:
    """Whether the experiment is in the bound workspace (always true when none is bound)."""
    ws = active_workspace()
    if ws is None:
        return True
    found = conn.execute(sa.select(_E.experiment_id).where(_E.experiment_id == exp_id, _E.workspace == ws))
    return found.first() is not None


def visible_experiment_ids(conn: sa.Connection, exp_ids: list[int]) -> list[int]:
    """The ids among ``exp_ids`` that the bound workspace holds, in their order."""
    ws = active_workspace()
    if ws is None or not exp_ids:
        return exp_ids
    rows = conn.execute(sa.select(_E.experiment_id).where(_E.experiment_id.in_(exp_ids), _E.workspace == ws))
    held = {int(r[0]) for r in rows}
    return [e for e in exp_ids if e in held]


def new_row_workspace() -> dict[str, Any]:
    """The ``workspace`` value for a new row: the bound one, else the column default."""
    ws = active_workspace()
    return {} if ws is None else {"workspace": ws}


def workspace_artifact_root(conn: sa.Connection, server_root: str) -> str:
    """Where the bound workspace's new experiments put artifacts (MLflow's rule).

    The workspace's own ``default_artifact_root`` when it has one, else
    ``<server root>/workspaces/<name>``; the server root when no workspace is bound.
    """
    ws = active_workspace()
    if ws is None:
        return server_root
    own = conn.execute(
        sa.select(workspaces.c.default_artifact_root).where(workspaces.c.name == ws)
    ).scalar()
    if own:
        return own.rstrip("/") or own
    return f"{server_root.rstrip('/')}/{WORKSPACES_DIR}/{ws}"


def require_gateway_endpoint(conn: sa.Connection, endpoint_id: str, label: str = "GatewayEndpoint") -> None:
    """``RESOURCE_DOES_NOT_EXIST`` unless the AI gateway endpoint is in this request's workspace.

    For the stores that refer to an endpoint by id (budgets, guardrails): another workspace's
    endpoint is as absent as one that never existed.
    """
    ends = gateway_endpoints
    query = sa.select(ends.c.endpoint_id).where(ends.c.endpoint_id == endpoint_id, ends.c.workspace == registry_workspace())
    if conn.execute(query).first() is None:
        raise not_found(f"{label} not found (endpoint_id='{endpoint_id}')")
