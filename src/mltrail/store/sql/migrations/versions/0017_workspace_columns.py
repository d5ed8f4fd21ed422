"""Experiments and registered models belong to a workspace (MLflow 3.17's ``--enable-workspaces``).

* ``experiments.workspace`` and ``registered_models.workspace``: ``VARCHAR(63)``, not null,
  ``'default'`` for existing rows and for rows written while workspaces are off.
* An experiment name is unique per workspace: the unique constraint on ``name`` becomes
  ``uq_experiments_workspace_name`` on ``(workspace, name)``.
* ``idx_experiments_name`` keeps a look-up by name alone (workspaces off) indexed.
* ``idx_registered_models_workspace`` serves the per-workspace model search. Registered
  model names stay unique across workspaces (the name is the key its versions, tags and
  aliases refer to), see docs/review.md.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_UNIQUE = "uq_experiments_workspace_name"
_MODELS_INDEX = "idx_registered_models_workspace"
_NAME_INDEX = "idx_experiments_name"
# Names alembic gives the unnamed constraints it reflects while rebuilding a SQLite table.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _column() -> sa.Column:
    return sa.Column("workspace", sa.String(63), nullable=False, server_default="default")


def _name_only_unique(table: str) -> str | None:
    """The name of the unique constraint on ``name`` alone (as the server named it), if any."""
    for found in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if found["column_names"] == ["name"]:
            return found["name"]
    return None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("experiments", recreate="always", naming_convention=_NAMING) as batch:
            batch.drop_constraint("uq_experiments_name", type_="unique")
            batch.add_column(_column())
            batch.create_unique_constraint(_UNIQUE, ["workspace", "name"])
    else:
        old = _name_only_unique("experiments")
        if old is not None:
            op.drop_constraint(old, "experiments", type_="unique")
        op.add_column("experiments", _column())
        op.create_unique_constraint(_UNIQUE, "experiments", ["workspace", "name"])
    # Without workspaces, a name is looked up alone: the unique index leads with the workspace.
    op.create_index(_NAME_INDEX, "experiments", ["name"])
    with op.batch_alter_table("registered_models") as batch:
        batch.add_column(_column())
    op.create_index(_MODELS_INDEX, "registered_models", ["workspace", "name"])


def downgrade() -> None:
    op.drop_index(_MODELS_INDEX, table_name="registered_models")
    op.drop_index(_NAME_INDEX, table_name="experiments")
    with op.batch_alter_table("registered_models") as batch:
        batch.drop_column("workspace")
    with op.batch_alter_table("experiments", recreate="auto") as batch:
        batch.drop_constraint(_UNIQUE, type_="unique")
        batch.drop_column("workspace")
        batch.create_unique_constraint("uq_experiments_name", ["name"])
