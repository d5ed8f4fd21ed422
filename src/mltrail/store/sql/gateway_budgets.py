"""The AI gateway's budget policies on SQL (MLflow 3.17's ``GatewayBudgetPolicy``).

A policy is a spend limit: ``budget_amount`` in ``budget_unit`` (USD) per fixed window
(``duration``: a unit of MINUTES, HOURS, DAYS, WEEKS or MONTHS and a count), over a
``target_scope``: GLOBAL (every call), WORKSPACE (the calls made in the policy's
workspace), ENDPOINT or USER (``target_value`` names the endpoint id or the username).
``budget_action`` says what happens once it is spent: ALERT (the
``budget_policy.exceeded`` webhook) or REJECT (calls refused until the window ends).
Records are MLflow's wire JSON; the server keeps the running spend
(:mod:`mltrail.server.gateway_budget`).

Semantics follow MLflow's SQL store: ids are ``bp-<hex>``; an ENDPOINT or USER policy
needs a ``target_value`` and other scopes drop theirs; an ENDPOINT target must be an
existing endpoint; changing the scope forgets a target written for the old one. The
routes and reads see the bound workspace's policies (all without workspaces);
:meth:`SqlBudgetStore.all_policies` is the enforcement's view of every workspace.

Example::

    store = SqlBudgetStore("sqlite:///mltrail.db")
    policy = store.create_policy("USD", 10.0, "DAYS", 1, "GLOBAL", "REJECT")
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import invalid, not_found
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.sql import schema as s
from mltrail.store.sql._codec import now_ms
from mltrail.store.sql._workspace import new_row_workspace, require_gateway_endpoint
from mltrail.store.sql.database import database_for
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, active_workspace

JSON = dict[str, Any]
_BP = s.gateway_budget_policies
TARGETED_SCOPES = ("ENDPOINT", "USER")
#: The trace metadata of a gateway call (:mod:`mltrail.server.gateway_traces` writes them).
ENDPOINT_ID_KEY = "mlflow.gateway.endpointId"
USERNAME_KEY = "mlflow.auth.username"
#: MLflow's ``SEARCH_MAX_RESULTS_THRESHOLD``: the largest page a list answers.
MAX_PAGE = 50_000


def policy_json(row: Any) -> JSON:
    """A row as MLflow's ``GatewayBudgetPolicy`` JSON (plus ``workspace``, which the routes drop)."""
    found: JSON = {
        "budget_policy_id": row.budget_policy_id,
        "budget_unit": row.budget_unit,
        "budget_amount": float(row.budget_amount),
        "duration": {"unit": row.duration_unit, "value": int(row.duration_value)},
        "target_scope": row.target_scope,
        "budget_action": row.budget_action,
        "created_by": row.created_by or "",
        "created_at": row.created_at,
        "last_updated_by": row.last_updated_by or "",
        "last_updated_at": row.last_updated_at,
        "workspace": row.workspace or DEFAULT_WORKSPACE,
    }
    if row.target_value is not None:
        found["target_value"] = row.target_value
    return found


def _target(scope: str, value: str | None) -> str | None:
    """The stored target of a policy: required for ENDPOINT and USER, dropped for the others."""
    if scope in TARGETED_SCOPES:
        if not value:
            raise invalid(f"target_value is required when target_scope is {scope}.")
        return value
    return None


def _scoped(query: sa.Select) -> sa.Select:
    ws = active_workspace()
    return query if ws is None else query.where(_BP.c.workspace == ws)


def check_page_size(max_results: int) -> None:
    """MLflow's bounds on ``max_results`` (1 to 50,000)."""
    if max_results < 1:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        )
    if max_results > MAX_PAGE:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most {MAX_PAGE}"
        )


class SqlBudgetStore:
    """The budget policies of one tracking database (see the module docstring)."""

    def __init__(self, uri: str) -> None:
        self.db = database_for(uri)
        self.db.ensure_schema()

    def _require_endpoint(self, conn: sa.Connection, endpoint_id: str) -> None:
        require_gateway_endpoint(conn, endpoint_id, "GatewayEndpoint")

    def _row(self, conn: sa.Connection, policy_id: str) -> Any:
        row = conn.execute(_scoped(sa.select(_BP).where(_BP.c.budget_policy_id == policy_id))).first()
        if row is None:
            raise not_found(f"BudgetPolicy not found (budget_policy_id='{policy_id}')")
        return row

    def create_policy(
        self,
        budget_unit: str,
        budget_amount: float,
        duration_unit: str,
        duration_value: int,
        target_scope: str,
        budget_action: str,
        created_by: str | None = None,
        target_value: str | None = None,
    ) -> JSON:
        """Store a new policy (the caller has checked the enum values); returns it."""
        target = _target(target_scope, target_value)
        now = now_ms()
        row = {
            "budget_policy_id": f"bp-{uuid.uuid4().hex}",
            "budget_unit": budget_unit,
            "budget_amount": float(budget_amount),
            "duration_unit": duration_unit,
            "duration_value": int(duration_value),
            "target_scope": target_scope,
            "target_value": target,
            "budget_action": budget_action,
            "created_at": now,
            "last_updated_at": now,
            "created_by": created_by,
            "last_updated_by": created_by,
            **new_row_workspace(),
        }

        def write(conn: sa.Connection) -> Any:
            if target_scope == "ENDPOINT":
                self._require_endpoint(conn, str(target))
            conn.execute(_BP.insert().values(**row))
            return self._row(conn, row["budget_policy_id"])

        return policy_json(self.db.write(write))

    def get_policy(self, policy_id: str) -> JSON:
        """One policy (``RESOURCE_DOES_NOT_EXIST`` when it is not in the bound workspace)."""
        with self.db.read() as conn:
            return policy_json(self._row(conn, policy_id))

    def update_policy(self, policy_id: str, updated_by: str | None = None, **changes: Any) -> JSON:
        """Change the given fields (``None``: unchanged) and return the policy.

        ``changes`` may hold ``budget_unit``, ``budget_amount``, ``duration_unit`` with
        ``duration_value``, ``target_scope``, ``target_value`` and ``budget_action``.
        """
        values = {k: v for k, v in changes.items() if v is not None}

        def write(conn: sa.Connection) -> Any:
            current = self._row(conn, policy_id)
            scope = values.get("target_scope", current.target_scope)
            target = current.target_value if scope == current.target_scope else None
            target = _target(scope, values.get("target_value", target))
            if "target_value" in values and scope == "ENDPOINT":
                self._require_endpoint(conn, str(target))
            new = {**values, "target_value": target, "last_updated_at": now_ms()}
            if updated_by is not None:
                new["last_updated_by"] = updated_by
            conn.execute(_BP.update().where(_BP.c.budget_policy_id == policy_id).values(**new))
            return self._row(conn, policy_id)

        return policy_json(self.db.write(write))

    def delete_policy(self, policy_id: str) -> None:
        """Remove a policy."""

        def write(conn: sa.Connection) -> None:
            self._row(conn, policy_id)
            conn.execute(_BP.delete().where(_BP.c.budget_policy_id == policy_id))

        self.db.write(write)

    def list_policies(
        self, max_results: int = 1000, page_token: str | None = None
    ) -> tuple[list[JSON], str | None]:
        """A page of the bound workspace's policies by id, and the next page's token (or None)."""
        check_page_size(max_results)
        offset = decode_page_token(page_token)
        query = _scoped(sa.select(_BP)).order_by(_BP.c.budget_policy_id).offset(offset).limit(max_results + 1)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return [policy_json(r) for r in rows[:max_results]], token

    def all_policies(self) -> list[JSON]:
        """Every policy of every workspace (what the proxy enforces)."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_BP).order_by(_BP.c.budget_policy_id)).all()
        return [policy_json(r) for r in rows]

    def spend(
        self,
        start_ms: int,
        end_ms: int,
        workspace: str | None = None,
        endpoint_id: str | None = None,
        username: str | None = None,
    ) -> float:
        """USD spent through the gateway in ``[start_ms, end_ms)``, from its call traces' ``total_cost``.

        Narrowed to one workspace's experiments, one endpoint or one signed-in user when given:
        what a policy's window had spent before this process started counting it.
        """
        ti, md, ex = s.trace_info, s.trace_request_metadata, s.experiments
        marker = md.alias("gateway_marker")
        query = (
            sa.select(sa.func.coalesce(sa.func.sum(ti.c.total_cost), 0.0))
            .select_from(ti.join(marker, marker.c.request_id == ti.c.request_id))
            .where(
                marker.c.key == ENDPOINT_ID_KEY,
                ti.c.timestamp_ms >= start_ms,
                ti.c.timestamp_ms < end_ms,
            )
        )
        if endpoint_id is not None:
            query = query.where(marker.c.value == endpoint_id)
        if workspace is not None:
            query = query.where(
                ti.c.experiment_id.in_(sa.select(ex.c.experiment_id).where(ex.c.workspace == workspace))
            )
        if username is not None:
            user = md.alias("gateway_user")
            query = query.where(
                sa.exists().where(
                    user.c.request_id == ti.c.request_id, user.c.key == USERNAME_KEY, user.c.value == username
                )
            )
        with self.db.read() as conn:
            return float(conn.execute(query).scalar() or 0.0)
