"""Trace assessments (MLflow 3 feedback and expectations): the assessments table.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(sa.Text(length=2**24), "mysql")


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("assessment_id", sa.String(50), primary_key=True),
        sa.Column("trace_id", sa.String(50), sa.ForeignKey("trace_info.request_id"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("assessment_type", sa.String(20), nullable=False),
        sa.Column("created_timestamp", BIGINT, nullable=False),
        sa.Column("last_updated_timestamp", BIGINT, nullable=False),
        sa.Column("overrides", sa.String(50)),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("content", LONG_TEXT, nullable=False),
    )
    op.create_index("idx_assessments_trace_id_created", "assessments", ["trace_id", "created_timestamp"])


def downgrade() -> None:
    op.drop_index("idx_assessments_trace_id_created", table_name="assessments")
    op.drop_table("assessments")
