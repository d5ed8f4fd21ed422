"""Indexes that serve every sort of ``search_traces`` page by page, and the trace name as a column.

Each sort of the traces list (time, latency, status, name, tokens, cost,
session, user) is read by keyset: ``(sort value, request_id)`` after the last
row of the previous page (``store/sql/trace_paging.py``). An index on
``(experiment_id, sort value, request_id)`` lets the database seek to that
point and read the page in order, so page 500 costs what page 1 does. The
user, token and cost indexes of migration 0008 gain ``request_id``; the name
sort reads ``trace_name``, a copy of the ``mlflow.traceName`` tag (its first
255 characters) filled here from the tags and kept by the store.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

NAME_WIDTH = 255
_REPLACED = {
    "idx_trace_info_experiment_user": "user_id",
    "idx_trace_info_experiment_tokens": "total_tokens",
    "idx_trace_info_experiment_cost": "total_cost",
}
_NEW = {
    "idx_trace_info_sort_latency": "execution_time_ms",
    "idx_trace_info_sort_status": "status",
    "idx_trace_info_sort_name": "trace_name",
    "idx_trace_info_sort_input_tokens": "input_tokens",
    "idx_trace_info_sort_output_tokens": "output_tokens",
}
#: The sort by trace id: (experiment_id, request_id).
_BY_ID = "idx_trace_info_sort_id"


def upgrade() -> None:
    with op.batch_alter_table("trace_info") as batch:
        batch.add_column(sa.Column("trace_name", sa.String(NAME_WIDTH)))
    info = sa.table("trace_info", sa.column("request_id"), sa.column("trace_name"))
    tags = sa.table("trace_tags", sa.column("request_id"), sa.column("key"), sa.column("value"))
    name = (
        sa.select(sa.func.substr(tags.c.value, 1, NAME_WIDTH))
        .where(tags.c.request_id == info.c.request_id, tags.c.key == "mlflow.traceName")
        .scalar_subquery()
    )
    op.get_bind().execute(sa.update(info).values(trace_name=name))
    for index, column in _REPLACED.items():
        op.drop_index(index, table_name="trace_info")
        op.create_index(index, "trace_info", ["experiment_id", column, "request_id"])
    for index, column in _NEW.items():
        op.create_index(index, "trace_info", ["experiment_id", column, "request_id"])
    op.create_index(_BY_ID, "trace_info", ["experiment_id", "request_id"])


def downgrade() -> None:
    op.drop_index(_BY_ID, table_name="trace_info")
    for index in _NEW:
        op.drop_index(index, table_name="trace_info")
    for index, column in _REPLACED.items():
        op.drop_index(index, table_name="trace_info")
        op.create_index(index, "trace_info", ["experiment_id", column])
    with op.batch_alter_table("trace_info") as batch:
        batch.drop_column("trace_name")
