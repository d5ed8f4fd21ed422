"""Workspaces (MLflow 3.17's ``/api/3.0/mlflow/workspaces``) on the tracking database.

A workspace is a name (MLflow's rule: 2-63 lower-case letters, digits and ``-``, starting
and ending with a letter or digit), a description and a default artifact root. The
``default`` workspace always exists and cannot be created, renamed or deleted.
Experiments and registered models (prompts too) carry their workspace in a
``workspace`` column (migration 0017), so do evaluation datasets and webhooks (0018) and
the AI gateway's secrets, model definitions and endpoints (0019); ``delete`` deals with
them by MLflow's modes. What belongs to an experiment (runs, traces, scorers, label
schemas, review queues) follows it.

Example::

    store = SqlWorkspaceStore("sqlite:///mltrail.db")
    store.create("team-a", description="Team A")
    [w["name"] for w in store.list()]      # ["default", "team-a"]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from mltrail.exceptions import (
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    MltrailException,
    invalid,
)
from mltrail.store.sql import schema as s
from mltrail.store.sql._bound import erase_experiment_bound
from mltrail.store.sql.database import database_for
from mltrail.store.workspace_scope import DEFAULT_WORKSPACE, DELETION_MODES, check_workspace_name

__all__ = ["DEFAULT_WORKSPACE", "DELETION_MODES", "SqlWorkspaceStore", "check_workspace_name"]
_W = s.workspaces
# Tables whose rows belong to a workspace: the named ones with their name column (a name is unique
# per workspace), then those that carry one without a unique name (migration 0018). RESTRICT counts
# them all, SET_DEFAULT moves them all, CASCADE erases them all.
_NAMED = (
    (s.experiments, "name"),
    (s.registered_models, "name"),
    (s.gateway_secrets, "secret_name"),
    (s.gateway_model_definitions, "name"),
    (s.gateway_endpoints, "name"),
)
_HOLDERS = (*(table for table, _ in _NAMED), s.evaluation_datasets, s.webhooks)
# A soft-deleted webhook is gone for RESTRICT.
_LIVE_ONLY = {s.webhooks.name: s.webhooks.c.deleted_timestamp.is_(None)}


def _wire(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": row.name}
    if row.description is not None:
        out["description"] = row.description
    if row.default_artifact_root is not None:
        out["default_artifact_root"] = row.default_artifact_root
    return out


def _missing(name: str) -> MltrailException:
    return MltrailException(f"Workspace '{name}' not found.", RESOURCE_DOES_NOT_EXIST)


class SqlWorkspaceStore:
    """The workspace list; ``default`` is implied and always answered."""

    def __init__(self, db_uri: str) -> None:
        self.db = database_for(db_uri)
        self.db.ensure_schema()

    def list(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_W).order_by(_W.c.name)).all()
        return [{"name": DEFAULT_WORKSPACE}, *(_wire(r) for r in rows)]

    def get(self, name: str) -> dict[str, Any]:
        if name == DEFAULT_WORKSPACE:
            return {"name": DEFAULT_WORKSPACE}
        with self.db.read() as conn:
            row = conn.execute(sa.select(_W).where(_W.c.name == name)).first()
        if row is None:
            raise _missing(name)
        return _wire(row)

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except MltrailException:
            return False
        return True

    def create(
        self, name: str, description: str | None = None, default_artifact_root: str | None = None
    ) -> dict[str, Any]:
        if name == DEFAULT_WORKSPACE:
            raise invalid(f"The '{DEFAULT_WORKSPACE}' workspace is reserved and cannot be created")
        check_workspace_name(name)
        taken = MltrailException(f"Workspace '{name}' already exists.", RESOURCE_ALREADY_EXISTS)

        def write(conn: sa.Connection) -> dict[str, Any]:
            if conn.execute(sa.select(_W.c.name).where(_W.c.name == name)).first():
                raise taken
            row = {
                "name": name,
                "description": description,
                "default_artifact_root": default_artifact_root,
                "creation_time": int(time.time() * 1000),
            }
            conn.execute(sa.insert(_W).values(**row))
            return _wire(conn.execute(sa.select(_W).where(_W.c.name == name)).one())

        return self.db.write(write, conflict=lambda _err: taken)

    def update(
        self, name: str, description: str | None = None, default_artifact_root: str | None = None
    ) -> dict[str, Any]:
        """Change the description / artifact root (``None``: unchanged; ``""`` clears)."""
        if name == DEFAULT_WORKSPACE:
            raise invalid(f"The '{DEFAULT_WORKSPACE}' workspace cannot be updated.")
        values = {
            k: (v or None)
            for k, v in (("description", description), ("default_artifact_root", default_artifact_root))
            if v is not None
        }

        def write(conn: sa.Connection) -> dict[str, Any]:
            if conn.execute(sa.select(_W.c.name).where(_W.c.name == name)).first() is None:
                raise _missing(name)
            if values:
                conn.execute(sa.update(_W).where(_W.c.name == name).values(**values))
            return _wire(conn.execute(sa.select(_W).where(_W.c.name == name)).one())

        return self.db.write(write)

    def delete(
        self,
        name: str,
        mode: str = "RESTRICT",
        erase: Callable[[sa.Connection, str], None] | None = None,
    ) -> None:
        """Delete a workspace; what happens to its experiments and models depends on ``mode``.

        ``RESTRICT`` refuses (``INVALID_STATE``) while it holds any; ``SET_DEFAULT`` moves them to
        ``default`` (refused when one of their names is taken there); ``CASCADE`` erases the
        review queues, label schemas and scorers' ledger of its experiments, calls
        ``erase(conn, name)`` (the stores' ``erase_workspace``: experiments, models) and erases
        its datasets, webhooks and gateway records, all in the same transaction.
        """
        if name == DEFAULT_WORKSPACE:
            raise invalid(f"The '{DEFAULT_WORKSPACE}' workspace cannot be deleted.")
        if mode not in DELETION_MODES:
            raise invalid(f"Invalid deletion mode '{mode}'. Use RESTRICT, SET_DEFAULT or CASCADE.")

        def write(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_W.c.name).where(_W.c.name == name)).first() is None:
                raise _missing(name)
            if mode == "RESTRICT":
                for table in _HOLDERS:
                    live = _LIVE_ONLY.get(table.name, sa.true())
                    count = conn.execute(
                        sa.select(sa.func.count()).select_from(table).where(table.c.workspace == name, live)
                    ).scalar()
                    if count:
                        raise MltrailException(
                            f"Cannot delete workspace '{name}': table '{table.name}' still contains "
                            f"{count} resource(s). Remove or reassign them before deleting the workspace.",
                            INVALID_STATE,
                        )
            elif mode == "SET_DEFAULT":
                _check_moves_to_default(conn, name)
                for table in _HOLDERS:
                    conn.execute(
                        sa.update(table).where(table.c.workspace == name).values(workspace=DEFAULT_WORKSPACE)
                    )
            else:
                _erase_experiment_bound(conn, name)  # before ``erase`` takes the experiments away
                if erase is not None:
                    erase(conn, name)
                _erase_owned(conn, name)
            conn.execute(sa.delete(_W).where(_W.c.name == name))

        self.db.write(write)


def _erase_experiment_bound(conn: sa.Connection, name: str) -> None:
    """``CASCADE``: erase what belongs to the workspace's experiments without a foreign key to them."""
    erase_experiment_bound(conn, sa.select(s.experiments.c.experiment_id).where(s.experiments.c.workspace == name))


def _erase_owned(conn: sa.Connection, name: str) -> None:
    """``CASCADE``: erase the workspace's evaluation datasets, webhooks and gateway records
    (endpoints with their mappings, tags, bindings and usage; model definitions; secrets)."""
    datasets = sa.select(s.evaluation_datasets.c.dataset_id).where(s.evaluation_datasets.c.workspace == name)
    for table in (s.evaluation_dataset_records, s.evaluation_dataset_tags, s.evaluation_dataset_experiments):
        conn.execute(sa.delete(table).where(table.c.dataset_id.in_(datasets)))
    conn.execute(sa.delete(s.evaluation_datasets).where(s.evaluation_datasets.c.workspace == name))
    hooks = sa.select(s.webhooks.c.webhook_id).where(s.webhooks.c.workspace == name)
    for table in (s.webhook_deliveries, s.webhook_events):
        conn.execute(sa.delete(table).where(table.c.webhook_id.in_(hooks)))
    conn.execute(sa.delete(s.webhooks).where(s.webhooks.c.workspace == name))
    endpoints = sa.select(s.gateway_endpoints.c.endpoint_id).where(s.gateway_endpoints.c.workspace == name)
    for table in (
        s.gateway_endpoint_model_mappings,
        s.gateway_endpoint_tags,
        s.gateway_endpoint_bindings,
        s.gateway_usage,
    ):
        conn.execute(sa.delete(table).where(table.c.endpoint_id.in_(endpoints)))
    for table in (s.gateway_endpoints, s.gateway_model_definitions, s.gateway_secrets):
        conn.execute(sa.delete(table).where(table.c.workspace == name))


def _check_moves_to_default(conn: sa.Connection, name: str) -> None:
    """``SET_DEFAULT``'s check: none of the workspace's experiment, registered model (prompt) or
    gateway secret, model definition or endpoint names is taken in ``default``."""
    clashes = []
    for table, column in _NAMED:
        c, named = table.c, table.c[column]
        in_default = sa.select(named).where(c.workspace == DEFAULT_WORKSPACE)
        found = conn.execute(sa.select(named).where(c.workspace == name, named.in_(in_default)))
        clashes += [(table.name, r[0]) for r in found]
    if clashes:
        listed = "\n".join(f"  - {table}: {c!r}" for table, c in sorted(clashes))
        raise MltrailException(
            f"Cannot reassign resources from workspace '{name}' to '{DEFAULT_WORKSPACE}': the following "
            f"names already exist in the default workspace and would cause conflicts:\n{listed}\n"
            "Rename or remove the conflicting resources before retrying.",
            INVALID_STATE,
        )
