"""What a webhook delivery needs to be resumed after a restart, and who is sending it.

``webhook_deliveries`` (migration 0010) gains, for a delivery still PENDING:

* ``payload``: the exact body sent (the signature covers it, so a retry resends it byte for byte);
* ``request_timestamp``: the ``X-MLflow-Timestamp`` header value (Unix seconds), also signed;
* ``next_attempt_timestamp``: when the next attempt is due (ms);
* ``claimed_until``: the lease of the server sending it right now (ms): a server takes a due
  delivery with one conditional ``UPDATE``, so with several servers on one database each
  attempt is made by one of them.

The signature itself is not stored: it is recomputed from the webhook's secret.
``payload`` is cleared once a delivery is finished. The index serves the look-up of
pending deliveries at start-up.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WIDE_TEXT = sa.Text().with_variant(MEDIUMTEXT(), "mysql")
_INDEX = "idx_webhook_deliveries_pending"


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("payload", WIDE_TEXT))
        batch.add_column(sa.Column("request_timestamp", BIGINT))
        batch.add_column(sa.Column("next_attempt_timestamp", BIGINT))
        batch.add_column(sa.Column("claimed_until", BIGINT))
    op.create_index(_INDEX, "webhook_deliveries", ["status", "next_attempt_timestamp"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        for column in ("claimed_until", "next_attempt_timestamp", "request_timestamp", "payload"):
            batch.drop_column(column)
