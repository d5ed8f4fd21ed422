"""The AI gateway's secrets, model definitions and endpoints belong to a workspace (MLflow 3.17).

``gateway_secrets``, ``gateway_model_definitions`` and ``gateway_endpoints`` gain a
``workspace`` column (``VARCHAR(63)``, not null, ``'default'`` for existing rows and for
rows written while workspaces are off), and their names become unique per workspace: the
unique constraint on the name alone becomes ``uq_<table>_workspace_name`` on
``(workspace, <name>)``, as MLflow's ``secrets`` / ``model_definitions`` / ``endpoints``.
The tables that hang on an endpoint (model mappings, tags, bindings, usage) belong to its
workspace through it.

Registered scorers, label schemas and review queues (with their users, questions and
items) need no column: as in MLflow they belong to the workspace of their experiment, and
their names are already unique per experiment.

The downgrade restores the name-only constraints; it fails while two workspaces share a name.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# (table, the column that holds its unique name)
_TABLES = (
    ("gateway_secrets", "secret_name"),
    ("gateway_model_definitions", "name"),
    ("gateway_endpoints", "name"),
)
# Names alembic gives the unnamed constraints it reflects while rebuilding a SQLite table.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _column() -> sa.Column:
    return sa.Column("workspace", sa.String(63), nullable=False, server_default="default")


def _per_workspace(table: str) -> str:
    return f"uq_{table}_workspace_name"


def _name_only_unique(table: str, column: str) -> str | None:
    """The name of the unique constraint on ``column`` alone (as the server named it), if any."""
    for found in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if found["column_names"] == [column]:
            return found["name"]
    return None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in _TABLES:
        if sqlite:  # no constraint changes in place: the table is rebuilt (nothing refers to it)
            with op.batch_alter_table(table, recreate="always", naming_convention=_NAMING) as batch:
                batch.drop_constraint(f"uq_{table}_{column}", type_="unique")
                batch.add_column(_column())
                batch.create_unique_constraint(_per_workspace(table), ["workspace", column])
            continue
        old = _name_only_unique(table, column)
        if old is not None:
            op.drop_constraint(old, table, type_="unique")
        op.add_column(table, _column())
        op.create_unique_constraint(_per_workspace(table), table, ["workspace", column])


def downgrade() -> None:
    for table, column in _TABLES:
        with op.batch_alter_table(table, recreate="auto") as batch:
            batch.drop_constraint(_per_workspace(table), type_="unique")
            batch.drop_column("workspace")
            batch.create_unique_constraint(f"uq_{table}_{column}", [column])
