"""The state of ``mltrail import`` / ``mltrail export`` (``mltrail_import_state``).

One row per source and imported entity: its destination id and a marker of
how it looked, so a rerun brings only what is new and an interrupted import
resumes (docs/migration.md). Databases where an earlier ``mltrail import``
already made the table keep it as it is.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if "mltrail_import_state" in sa.inspect(op.get_bind()).get_table_names():
        return  # made by an import before this migration existed: the same columns
    op.create_table(
        "mltrail_import_state",
        sa.Column("source", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("source_id", sa.String(255), primary_key=True),
        sa.Column("dest_id", sa.String(500), nullable=False),
        sa.Column("marker", sa.String(1000), nullable=False),
        sa.Column("updated_ms", BIGINT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mltrail_import_state")
