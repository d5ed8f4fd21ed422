"""Registry webhooks (MLflow 3's ``webhooks`` and ``webhook_events``) and mltrail's delivery log.

``webhooks`` and ``webhook_events`` follow MLflow's tables (a webhook is soft-deleted
through ``deleted_timestamp``; its secret is stored encrypted when the server has a
key, see ``store/secrets.py``). ``webhook_deliveries`` is mltrail's: one
row per event sent to one webhook, with its state, attempts, last response status
and error, read by ``GET /api/2.0/mltrail/webhooks/{webhook_id}/deliveries``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.String(1000)),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("secret", sa.String(1000)),
        sa.Column("creation_timestamp", BIGINT, nullable=False),
        sa.Column("last_updated_timestamp", BIGINT, nullable=False),
        sa.Column("deleted_timestamp", BIGINT),
    )
    op.create_index("idx_webhooks_created", "webhooks", ["creation_timestamp"])
    op.create_table(
        "webhook_events",
        sa.Column(
            "webhook_id",
            sa.String(36),
            sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("entity", sa.String(50), primary_key=True),
        sa.Column("action", sa.String(50), primary_key=True),
    )
    op.create_index("idx_webhook_events_entity_action", "webhook_events", ["entity", "action"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(36), primary_key=True),
        sa.Column("webhook_id", sa.String(36), nullable=False),
        sa.Column("event", sa.String(101), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("response_status", sa.Integer),
        sa.Column("error_message", sa.String(1000)),
        sa.Column("created_timestamp", BIGINT, nullable=False),
        sa.Column("last_attempt_timestamp", BIGINT),
        sa.Column("completed_timestamp", BIGINT),
    )
    op.create_index(
        "idx_webhook_deliveries_webhook", "webhook_deliveries", ["webhook_id", "created_timestamp"]
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhooks")
