"""Registered model (and prompt) names are unique per workspace, as in MLflow 3.17.

The workspace joins the key of ``registered_models`` and of every table that hangs on a
model's name: ``registered_model_tags``, ``model_versions``, ``model_version_tags`` and
``registered_model_aliases`` gain a ``workspace`` column (their model's, copied from
``registered_models``), their primary keys lead with it and their foreign keys name
``(workspace, name[, version])``, still ``ON UPDATE CASCADE`` so a rename follows.

Primary and foreign keys cannot be changed in place on every dialect (SQLite), so the
five tables are rebuilt: the old ones are renamed ``<table>_0017``, the new ones created
under the real names, the rows copied and the old tables dropped, all in the migration's
transaction. ``idx_registered_models_workspace`` (0017) goes: the primary key serves it.

``webhooks`` and ``evaluation_datasets`` gain a ``workspace`` column (``default`` for
existing rows), indexed: a webhook and a dataset belong to a workspace, as in MLflow 3.17.

The downgrade rebuilds the name-only keys, which cannot hold one name in two workspaces: it
first looks for such names and, if there are any, refuses before it changes anything (MariaDB
does not roll DDL back), naming them and their workspaces.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT

from mltrail.exceptions import INVALID_STATE, MltrailException

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

KEY = sa.String(250)
NAME = sa.String(256)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WIDE_TEXT = sa.Text().with_variant(MEDIUMTEXT(), "mysql")
WORKSPACE = sa.String(63)

_OLD = "_0017"
_MODELS_INDEX = "idx_registered_models_workspace"
# Parents first (creation order); children first when dropping.
_TABLES = (
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
)
_VERSION_COLUMNS = (
    "version", "creation_time", "last_updated_time", "description", "user_id", "current_stage",
    "source", "run_id", "run_link", "status", "status_message", "storage_location", "model_id",
)  # fmt: skip
_COLUMNS = {
    "registered_models": ("name", "creation_time", "last_updated_time", "description", "workspace"),
    "registered_model_tags": ("name", "key", "value"),
    "model_versions": ("name", *_VERSION_COLUMNS),
    "model_version_tags": ("name", "version", "key", "value"),
    "registered_model_aliases": ("name", "alias", "version"),
}


def _workspace() -> sa.Column:
    return sa.Column("workspace", WORKSPACE, nullable=False, server_default="default")


def _named(per_workspace: bool, name: str) -> str | None:
    """A constraint's name in this revision's tables; ``None`` (the database's choice) in 0017's."""
    return name if per_workspace else None


def _model_fk(per_workspace: bool, table: str) -> sa.ForeignKeyConstraint:
    cols = ["workspace", "name"] if per_workspace else ["name"]
    return sa.ForeignKeyConstraint(
        cols,
        [f"registered_models.{c}" for c in cols],
        onupdate="CASCADE",
        name=_named(per_workspace, f"fk_{table}_model"),
    )


def _create(per_workspace: bool) -> None:
    """The five tables with keys per workspace (``per_workspace``) or per name (0017's).

    0017's keys are left unnamed, as 0001 made them: the tables renamed aside still hold this
    revision's names, and PostgreSQL (per schema) and MariaDB (per database, foreign keys) refuse
    a second constraint of the same name; unnamed, the database picks one that is free.
    """
    ws = ["workspace"] if per_workspace else []
    op.create_table(
        "registered_models",
        sa.Column("name", NAME, nullable=False),
        sa.Column("creation_time", BIGINT),
        sa.Column("last_updated_time", BIGINT),
        sa.Column("description", WIDE_TEXT),
        _workspace(),
        sa.PrimaryKeyConstraint(*ws, "name", name=_named(per_workspace, "registered_model_pk")),
    )
    op.create_table(
        "registered_model_tags",
        *([_workspace()] if per_workspace else []),
        sa.Column("name", NAME, nullable=False),
        sa.Column("key", KEY, nullable=False),
        sa.Column("value", WIDE_TEXT),
        sa.PrimaryKeyConstraint(*ws, "name", "key", name=_named(per_workspace, "registered_model_tag_pk")),
        _model_fk(per_workspace, "registered_model_tags"),
    )
    op.create_table(
        "model_versions",
        *([_workspace()] if per_workspace else []),
        sa.Column("name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("creation_time", BIGINT),
        sa.Column("last_updated_time", BIGINT),
        sa.Column("description", WIDE_TEXT),
        sa.Column("user_id", NAME),
        sa.Column("current_stage", sa.String(20)),
        sa.Column("source", sa.String(500)),
        sa.Column("run_id", sa.String(32)),
        sa.Column("run_link", sa.String(500)),
        sa.Column("status", sa.String(20)),
        sa.Column("status_message", sa.String(500)),
        sa.Column("storage_location", sa.String(500)),
        sa.Column("model_id", sa.String(64)),
        sa.PrimaryKeyConstraint(*ws, "name", "version", name=_named(per_workspace, "model_version_pk")),
        _model_fk(per_workspace, "model_versions"),
    )
    op.create_table(
        "model_version_tags",
        *([_workspace()] if per_workspace else []),
        sa.Column("name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("key", KEY, nullable=False),
        sa.Column("value", WIDE_TEXT),
        sa.PrimaryKeyConstraint(
            *ws, "name", "version", "key", name=_named(per_workspace, "model_version_tag_pk")
        ),
        sa.ForeignKeyConstraint(
            [*ws, "name", "version"],
            [f"model_versions.{c}" for c in (*ws, "name", "version")],
            onupdate="CASCADE",
            name=_named(per_workspace, "fk_model_version_tags_version"),
        ),
    )
    op.create_table(
        "registered_model_aliases",
        *([_workspace()] if per_workspace else []),
        sa.Column("name", NAME, nullable=False),
        sa.Column("alias", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint(
            *ws, "name", "alias", name=_named(per_workspace, "registered_model_alias_pk")
        ),
        _model_fk(per_workspace, "registered_model_aliases"),
    )


def _rebuild(per_workspace: bool) -> None:
    """Rename the tables aside, create them anew, copy the rows, drop the old ones."""
    for table in _TABLES:
        op.rename_table(table, table + _OLD)
    _create(per_workspace)
    conn = op.get_bind()
    models = sa.table("registered_models", sa.column("name"), sa.column("workspace"))
    for table in _TABLES:
        names = _COLUMNS[table]
        old = sa.table(table + _OLD, *(sa.column(c) for c in names))
        if table == "registered_models" or not per_workspace:
            into, picked = list(names), sa.select(*(old.c[c] for c in names))
        else:  # a child row takes its model's workspace
            into = ["workspace", *names]
            picked = sa.select(models.c.workspace, *(old.c[c] for c in names)).join_from(
                old, models, models.c.name == old.c.name
            )
        new = sa.table(table, *(sa.column(c) for c in into))
        conn.execute(sa.insert(new).from_select(into, picked))
    for table in reversed(_TABLES):
        op.drop_table(table + _OLD)


# Tables that gain a plain workspace column, with its index.
_OWNED = (
    ("webhooks", "idx_webhooks_workspace"),
    ("evaluation_datasets", "idx_evaluation_datasets_workspace"),
)


def upgrade() -> None:
    op.drop_index(_MODELS_INDEX, table_name="registered_models")
    _rebuild(per_workspace=True)
    for table, index in _OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(_workspace())
        op.create_index(index, table, ["workspace"])


#: How many colliding names the downgrade's refusal spells out before it only counts the rest.
_LISTED = 20


def _names_in_several_workspaces() -> dict[str, list[str]]:
    """Each model name held by more than one workspace, with those workspaces (sorted).

    The database does the grouping, so names count as one exactly when the name-only primary key
    the downgrade builds would take them as one: on MariaDB's default collation ``Model`` and
    ``model`` do, and a workspace whose spelling differs from the listed name says it.
    """
    models = sa.table("registered_models", sa.column("name"), sa.column("workspace"))
    shared = (
        sa.select(sa.func.min(models.c.name).label("name"))
        .group_by(models.c.name)
        .having(sa.func.count() > 1)
        .subquery()
    )
    rows = op.get_bind().execute(
        sa.select(shared.c.name, models.c.name, models.c.workspace)
        .join_from(models, shared, models.c.name == shared.c.name)
        .order_by(shared.c.name, models.c.workspace)
    )
    found: dict[str, list[str]] = {}
    for key, name, workspace in rows:
        found.setdefault(key, []).append(workspace if name == key else f"{workspace} (as {name!r})")
    return found


def _refuse_shared_names() -> None:
    """Raise, naming the names and workspaces, if the name-only keys could not hold the rows."""
    shared = _names_in_several_workspaces()
    if not shared:
        return
    listed = "; ".join(f"{name!r} in {', '.join(spaces)}" for name, spaces in list(shared.items())[:_LISTED])
    more = f"; and {len(shared) - _LISTED} more" if len(shared) > _LISTED else ""
    raise MltrailException(
        "Cannot downgrade below revision 0018: before it a registered model (or prompt) name was unique "
        f"across all workspaces, and {len(shared)} name(s) are used in more than one workspace: "
        f"{listed}{more}. Rename or delete the models so that each name is used in one workspace only, "
        "then run the downgrade again. This step changed nothing.",
        INVALID_STATE,
    )


def downgrade() -> None:
    _refuse_shared_names()  # before any DDL: MariaDB commits each statement on its own
    for table, index in _OWNED:
        op.drop_index(index, table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("workspace")
    _rebuild(per_workspace=False)
    op.create_index(_MODELS_INDEX, "registered_models", ["workspace", "name"])
