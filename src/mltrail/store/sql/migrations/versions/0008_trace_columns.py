"""Session, user, tokens and cost of each trace as indexed ``trace_info`` columns.

Copies of the ``mlflow.trace.session`` / ``mlflow.trace.user`` /
``mlflow.trace.tokenUsage`` / ``mlflow.trace.cost`` metadata (which stay where
MLflow keeps them), so filters, sorts, totals and the sessions page read an
index instead of one metadata row per trace. Existing traces are filled from
their metadata here, in batches; the store keeps the copies up to date
(``store/sql/trace_columns.py``).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mltrail.store.sql.trace_columns import COLUMNS, SOURCE_KEYS, column_values

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_INDEXES = {
    "idx_trace_info_experiment_session": ["experiment_id", "session_id", "timestamp_ms"],
    "idx_trace_info_experiment_user": ["experiment_id", "user_id"],
    "idx_trace_info_experiment_tokens": ["experiment_id", "total_tokens"],
    "idx_trace_info_experiment_cost": ["experiment_id", "total_cost"],
}
_BATCH = 2000


def _fill(conn: sa.Connection) -> None:
    """Copy every trace's metadata into the new columns, ``_BATCH`` traces per statement."""
    meta = sa.table("trace_request_metadata", sa.column("request_id"), sa.column("key"), sa.column("value"))
    info = sa.table("trace_info", sa.column("request_id"), *(sa.column(c) for c in COLUMNS))
    query = (
        sa.select(meta.c.request_id, meta.c.key, meta.c.value)
        .where(meta.c.key.in_(SOURCE_KEYS))
        .order_by(meta.c.request_id)
    )
    update = (
        sa.update(info)
        .where(info.c.request_id == sa.bindparam("rid"))
        .values({c: sa.bindparam(f"v_{c}") for c in COLUMNS})
    )
    current: str | None = None
    values: dict[str, str] = {}
    batch: list[dict] = []

    def flush_one() -> None:
        if current is not None:
            batch.append({"rid": current, **{f"v_{k}": v for k, v in column_values(values).items()}})

    for request_id, key, value in conn.execute(query).all():
        if request_id != current:
            flush_one()
            current, values = request_id, {}
            if len(batch) >= _BATCH:
                conn.execute(update, batch)
                batch = []
        values[key] = value
    flush_one()
    if batch:
        conn.execute(update, batch)


def upgrade() -> None:
    with op.batch_alter_table("trace_info") as batch:
        batch.add_column(sa.Column("session_id", sa.String(255)))
        batch.add_column(sa.Column("user_id", sa.String(255)))
        for name in ("input_tokens", "output_tokens", "total_tokens"):
            batch.add_column(sa.Column(name, sa.BigInteger))
        for name in ("input_cost", "output_cost", "total_cost"):
            batch.add_column(sa.Column(name, sa.Double))
    _fill(op.get_bind())
    for name, columns in _INDEXES.items():
        op.create_index(name, "trace_info", columns)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="trace_info")
    with op.batch_alter_table("trace_info") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
