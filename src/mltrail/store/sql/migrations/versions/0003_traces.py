"""Traces (MLflow 3): trace_info, trace_tags, trace_request_metadata, spans.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEY = sa.String(250)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(sa.Text(length=2**24), "mysql")


def upgrade() -> None:
    op.create_table(
        "trace_info",
        sa.Column("request_id", sa.String(50), primary_key=True),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
        sa.Column("timestamp_ms", BIGINT, nullable=False),
        sa.Column("execution_time_ms", BIGINT),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("client_request_id", sa.String(50)),
        sa.Column("request_preview", sa.String(1000)),
        sa.Column("response_preview", sa.String(1000)),
    )
    op.create_index("idx_trace_info_experiment_timestamp", "trace_info", ["experiment_id", "timestamp_ms"])
    for name in ("trace_tags", "trace_request_metadata"):
        op.create_table(
            name,
            sa.Column("request_id", sa.String(50), sa.ForeignKey("trace_info.request_id"), primary_key=True),
            sa.Column("key", KEY, primary_key=True),
            sa.Column("value", sa.String(8000)),
        )
    op.create_index("idx_trace_request_metadata_key_value", "trace_request_metadata", ["key", "request_id"])
    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(50), sa.ForeignKey("trace_info.request_id"), primary_key=True),
        sa.Column("span_id", sa.String(50), primary_key=True),
        sa.Column("parent_span_id", sa.String(50)),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(1000)),
        sa.Column("type", sa.String(500)),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("start_time_unix_nano", BIGINT, nullable=False),
        sa.Column("end_time_unix_nano", BIGINT),
        sa.Column("content", LONG_TEXT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("spans")
    op.drop_index("idx_trace_request_metadata_key_value", table_name="trace_request_metadata")
    op.drop_table("trace_request_metadata")
    op.drop_table("trace_tags")
    op.drop_index("idx_trace_info_experiment_timestamp", table_name="trace_info")
    op.drop_table("trace_info")
