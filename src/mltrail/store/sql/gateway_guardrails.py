"""The AI gateway's guardrails on SQL (MLflow 3.17's ``GatewayGuardrail`` and ``GatewayGuardrailConfig``).

A guardrail names a registered scorer version (``scorer_id``, ``scorer_version``; see
:mod:`mltrail.store.sql.scorers`), the ``stage`` it runs at (BEFORE the provider call,
on the request; AFTER it, on the answer) and its ``action`` when the scorer fails the
payload: VALIDATION blocks the call, SANITIZATION has the ``action_endpoint_id``
endpoint rewrite the payload. As in MLflow, a guardrail's answer carries that endpoint's
*name* in ``action_endpoint_id`` (the official client reads it as ``action_endpoint_name``),
and none once the endpoint is gone. Configs attach guardrails to endpoints, in
``execution_order`` (unset last, then by guardrail id). Records are MLflow's wire JSON,
the guardrail's ``scorer`` being the full ``Scorer`` message.

Semantics follow MLflow's SQL store: ids are ``gr-<hex>``; the scorer version must
exist in the bound workspace and may not be a custom ``@scorer`` (its code would run in
the server); attaching needs the endpoint and the guardrail, twice is
``RESOURCE_ALREADY_EXISTS``; deleting a guardrail detaches it everywhere. Rows belong
to the workspace they were written in; reads see the bound one's (all without workspaces).

Example::

    store = SqlGuardrailStore("sqlite:///mltrail.db")
    guardrail = store.create_guardrail("no-pii", scorer_id, 1, "BEFORE", "VALIDATION")
    store.add_to_endpoint(endpoint_id, guardrail["guardrail_id"])
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import RESOURCE_ALREADY_EXISTS, MltrailException, invalid, not_found
from mltrail.store.paging import decode_page_token, encode_page_token
from mltrail.store.sql import schema as s
from mltrail.store.sql._codec import now_ms
from mltrail.store.sql._workspace import experiment_scope, new_row_workspace, require_gateway_endpoint
from mltrail.store.sql.database import database_for
from mltrail.store.sql.gateway_budgets import check_page_size
from mltrail.store.workspace_scope import active_workspace

JSON = dict[str, Any]
_GR, _CFG = s.gateway_guardrails, s.gateway_guardrail_configs
_SC, _SV, _EXP = s.scorers, s.scorer_versions, s.experiments
_SCORER_COLUMNS = (
    _SC.c.experiment_id,
    _SC.c.scorer_name,
    _SV.c.serialized_scorer,
    _SV.c.creation_time,
)
_ACT = s.gateway_endpoints.alias("action_endpoint")
_ACTION_NAME = _ACT.c.name.label("action_endpoint_name")
_ACTION_ON = _ACT.c.endpoint_id == _GR.c.action_endpoint_id
_SCORER_ON = sa.and_(_SV.c.scorer_id == _GR.c.scorer_id, _SV.c.scorer_version == _GR.c.scorer_version)
_GUARDRAIL_QUERY = sa.select(_GR, *_SCORER_COLUMNS, _ACTION_NAME).select_from(
    _GR.outerjoin(_SV, _SCORER_ON)
    .outerjoin(_SC, _SC.c.scorer_id == _GR.c.scorer_id)
    .outerjoin(_ACT, _ACTION_ON)
)


def is_custom_code(serialized: str | None) -> bool:
    """Whether a serialized scorer is a custom ``@scorer`` (its ``call_source``, at any depth)."""
    try:
        data = json.loads(serialized or "{}")
    except ValueError:
        return False

    def has_source(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("call_source") is not None or any(has_source(v) for v in node.values())
        if isinstance(node, list):
            return any(has_source(v) for v in node)
        return False

    return has_source(data)


def guardrail_json(row: Any) -> JSON:
    """A joined guardrail row as MLflow's ``GatewayGuardrail`` JSON (with its ``Scorer``)."""
    found: JSON = {
        "guardrail_id": row.guardrail_id,
        "name": row.name,
        "scorer": {
            "experiment_id": int(row.experiment_id or 0),
            "scorer_name": row.scorer_name or "",
            "scorer_version": row.scorer_version,
            "serialized_scorer": row.serialized_scorer or "",
            "creation_time": row.creation_time or 0,
            "scorer_id": row.scorer_id,
        },
        "stage": row.stage,
        "action": row.action,
        "created_by": row.created_by or "",
        "created_at": row.created_at,
        "last_updated_by": row.last_updated_by or "",
        "last_updated_at": row.last_updated_at,
    }
    if row.action_endpoint_name:  # MLflow's wire field holds the endpoint's name
        found["action_endpoint_id"] = row.action_endpoint_name
    return found


def _config_json(row: Any, guardrail: JSON | None) -> JSON:
    found: JSON = {
        "endpoint_id": row.endpoint_id,
        "guardrail_id": row.guardrail_id,
        "created_by": row.created_by or "",
        "created_at": row.created_at,
    }
    if row.execution_order is not None:
        found["execution_order"] = row.execution_order
    if guardrail is not None:
        found["guardrail"] = guardrail
    return found


def _in_workspace(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    ws = active_workspace()
    return [] if ws is None else [table.c.workspace == ws]


class SqlGuardrailStore:
    """The guardrails of one tracking database and their endpoint configs (see the module docstring)."""

    def __init__(self, uri: str) -> None:
        self.db = database_for(uri)
        self.db.ensure_schema()

    # ------------------------------------------------------------------ lookups
    def _require_endpoint(self, conn: sa.Connection, endpoint_id: str) -> None:
        require_gateway_endpoint(conn, endpoint_id, "Endpoint")

    def _guardrail(self, conn: sa.Connection, guardrail_id: str) -> JSON:
        query = _GUARDRAIL_QUERY.where(_GR.c.guardrail_id == guardrail_id, *_in_workspace(_GR))
        row = conn.execute(query).first()
        if row is None:
            raise not_found(f"Guardrail not found (guardrail_id='{guardrail_id}')")
        return guardrail_json(row)

    def _scorer_version(self, conn: sa.Connection, scorer_id: str, version: int) -> Any:
        scope = experiment_scope()
        owner = sa.select(_SC.c.scorer_id).where(_SC.c.scorer_id == scorer_id)
        if scope:
            owner = owner.where(_SC.c.experiment_id.in_(sa.select(_EXP.c.experiment_id).where(*scope)))
        if conn.execute(owner).first() is None:
            raise not_found(f"Scorer with ID '{scorer_id}' not found.")
        row = conn.execute(
            sa.select(_SV).where(_SV.c.scorer_id == scorer_id, _SV.c.scorer_version == version)
        ).first()
        if row is None:
            raise not_found(f"Scorer with ID '{scorer_id}' and version {version} not found.")
        return row

    # --------------------------------------------------------------- guardrails
    def create_guardrail(
        self,
        name: str,
        scorer_id: str,
        scorer_version: int,
        stage: str,
        action: str,
        action_endpoint_id: str | None = None,
        created_by: str | None = None,
    ) -> JSON:
        """Store a guardrail over an existing scorer version; returns it."""
        now = now_ms()
        row = {
            "guardrail_id": f"gr-{uuid.uuid4().hex}",
            "name": name,
            "scorer_id": scorer_id,
            "scorer_version": int(scorer_version),
            "stage": stage,
            "action": action,
            "action_endpoint_id": action_endpoint_id,
            "created_at": now,
            "last_updated_at": now,
            "created_by": created_by,
            "last_updated_by": created_by,
            **new_row_workspace(),
        }

        def write(conn: sa.Connection) -> JSON:
            version = self._scorer_version(conn, scorer_id, int(scorer_version))
            if is_custom_code(version.serialized_scorer):
                raise invalid(
                    "Gateway guardrails do not support custom scorers defined with the @scorer decorator. "
                    "Use a built-in scorer or a judge created with make_judge."
                )
            if action_endpoint_id:
                self._require_endpoint(conn, action_endpoint_id)
            conn.execute(_GR.insert().values(**row))
            return self._guardrail(conn, row["guardrail_id"])

        return self.db.write(write)

    def get_guardrail(self, guardrail_id: str) -> JSON:
        """One guardrail with its scorer."""
        with self.db.read() as conn:
            return self._guardrail(conn, guardrail_id)

    def delete_guardrail(self, guardrail_id: str) -> None:
        """Remove a guardrail and every endpoint config of it."""

        def write(conn: sa.Connection) -> None:
            self._guardrail(conn, guardrail_id)
            conn.execute(_CFG.delete().where(_CFG.c.guardrail_id == guardrail_id))
            conn.execute(_GR.delete().where(_GR.c.guardrail_id == guardrail_id))

        self.db.write(write)

    def list_guardrails(
        self, max_results: int = 1000, page_token: str | None = None
    ) -> tuple[list[JSON], str | None]:
        """A page of the bound workspace's guardrails by id, and the next page's token (or None)."""
        check_page_size(max_results)
        offset = decode_page_token(page_token)
        query = (
            _GUARDRAIL_QUERY.where(*_in_workspace(_GR))
            .order_by(_GR.c.guardrail_id)
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        token = encode_page_token(offset + max_results) if len(rows) > max_results else None
        return [guardrail_json(r) for r in rows[:max_results]], token

    # ------------------------------------------------------------------ configs
    def _config(self, conn: sa.Connection, endpoint_id: str, guardrail_id: str) -> JSON:
        row = conn.execute(
            sa.select(_CFG).where(
                _CFG.c.endpoint_id == endpoint_id, _CFG.c.guardrail_id == guardrail_id, *_in_workspace(_CFG)
            )
        ).first()
        if row is None:
            raise not_found(
                f"GuardrailConfig not found (endpoint_id='{endpoint_id}', guardrail_id='{guardrail_id}')"
            )
        return _config_json(row, self._guardrail(conn, guardrail_id))

    def add_to_endpoint(
        self,
        endpoint_id: str,
        guardrail_id: str,
        execution_order: int | None = None,
        created_by: str | None = None,
    ) -> JSON:
        """Attach a guardrail to an endpoint; returns the config (with the guardrail)."""
        row = {
            "endpoint_id": endpoint_id,
            "guardrail_id": guardrail_id,
            "execution_order": execution_order,
            "created_by": created_by,
            "created_at": now_ms(),
            **new_row_workspace(),
        }

        def write(conn: sa.Connection) -> JSON:
            self._require_endpoint(conn, endpoint_id)
            self._guardrail(conn, guardrail_id)
            conn.execute(_CFG.insert().values(**row))
            return self._config(conn, endpoint_id, guardrail_id)

        def conflict(err: sa.exc.IntegrityError) -> MltrailException:
            return MltrailException(
                f"Guardrail '{guardrail_id}' is already added to endpoint '{endpoint_id}'",
                RESOURCE_ALREADY_EXISTS,
            )

        return self.db.write(write, conflict)

    def update_config(self, endpoint_id: str, guardrail_id: str, execution_order: int | None) -> JSON:
        """Set (or clear, with None) a config's ``execution_order``; returns the config."""

        def write(conn: sa.Connection) -> JSON:
            self._config(conn, endpoint_id, guardrail_id)
            where = sa.and_(_CFG.c.endpoint_id == endpoint_id, _CFG.c.guardrail_id == guardrail_id)
            conn.execute(_CFG.update().where(where).values(execution_order=execution_order))
            return self._config(conn, endpoint_id, guardrail_id)

        return self.db.write(write)

    def remove_from_endpoint(self, endpoint_id: str, guardrail_id: str) -> None:
        """Detach a guardrail from an endpoint."""

        def write(conn: sa.Connection) -> None:
            self._config(conn, endpoint_id, guardrail_id)
            where = sa.and_(_CFG.c.endpoint_id == endpoint_id, _CFG.c.guardrail_id == guardrail_id)
            conn.execute(_CFG.delete().where(where))

        self.db.write(write)

    def endpoint_configs(self, endpoint_id: str, check_endpoint: bool = True) -> list[JSON]:
        """An endpoint's configs in execution order (unset last, then by guardrail id), each with its guardrail.

        ``check_endpoint=False`` is the proxy's read: the endpoint was just found, and a
        guardrail is applied whatever workspace the request names.
        """
        order_unset = sa.case((_CFG.c.execution_order.is_(None), 1), else_=0)
        scope = _in_workspace(_CFG) if check_endpoint else []
        query = (
            sa.select(
                _CFG.c.execution_order,
                _CFG.c.created_by.label("config_by"),
                _CFG.c.created_at.label("config_at"),
                _GR,
                *_SCORER_COLUMNS,
                _ACTION_NAME,
            )
            .select_from(
                _CFG.join(_GR, _GR.c.guardrail_id == _CFG.c.guardrail_id)
                .outerjoin(_SV, _SCORER_ON)
                .outerjoin(_SC, _SC.c.scorer_id == _GR.c.scorer_id)
                .outerjoin(_ACT, _ACTION_ON)
            )
            .where(_CFG.c.endpoint_id == endpoint_id, *scope)
            .order_by(order_unset, _CFG.c.execution_order, _CFG.c.guardrail_id)
        )
        with self.db.read() as conn:
            if check_endpoint:
                self._require_endpoint(conn, endpoint_id)
            rows = conn.execute(query).all()
        return [
            _config_json(
                _Config(endpoint_id, r.guardrail_id, r.execution_order, r.config_by, r.config_at),
                guardrail_json(r),
            )
            for r in rows
        ]


class _Config:
    """The config columns of a joined row, under their own names."""

    def __init__(
        self, endpoint_id: str, guardrail_id: str, order: int | None, by: str | None, at: int
    ) -> None:
        self.endpoint_id, self.guardrail_id, self.execution_order = endpoint_id, guardrail_id, order
        self.created_by, self.created_at = by, at
