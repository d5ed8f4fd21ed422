"""Label schemas, review queues (MLflow 3.14's human review) and workspaces (MLflow 3.17).

``label_schemas`` holds an experiment's questions for reviewers (the input widget is
stored as JSON, as MLflow stores ``input_type`` + ``input_config``); ``review_queues``
bundles traces to review (``review_queue_items``, each with its shared status), the
users it is assigned to (``review_queue_users``) and its questions
(``review_queue_label_schemas``). ``workspaces`` lists the workspaces of MLflow 3.17's
workspace API (name, description, default artifact root).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "label_schemas",
        sa.Column("schema_id", sa.String(36), primary_key=True),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("schema_type", sa.String(20), nullable=False),
        sa.Column("input_json", sa.Text, nullable=False),
        sa.Column("instruction", sa.String(1000)),
        sa.Column("enable_comment", sa.Boolean, nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(250)),
        sa.Column("created_time", BIGINT, nullable=False),
        sa.Column("last_update_time", BIGINT, nullable=False),
        sa.UniqueConstraint("experiment_id", "name", name="uq_label_schemas_experiment_name"),
    )
    op.create_table(
        "review_queues",
        sa.Column("queue_id", sa.String(36), primary_key=True),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("name_key", sa.String(250), nullable=False),
        sa.Column("queue_type", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(250)),
        sa.Column("creation_time_ms", BIGINT, nullable=False),
        sa.Column("last_update_time_ms", BIGINT, nullable=False),
        sa.UniqueConstraint("experiment_id", "name_key", name="uq_review_queues_experiment_name"),
    )
    op.create_table(
        "review_queue_users",
        sa.Column("queue_id", sa.String(36), sa.ForeignKey("review_queues.queue_id"), primary_key=True),
        sa.Column("user_id", sa.String(250), primary_key=True),
    )
    op.create_table(
        "review_queue_label_schemas",
        sa.Column("queue_id", sa.String(36), sa.ForeignKey("review_queues.queue_id"), primary_key=True),
        sa.Column("schema_id", sa.String(36), primary_key=True),
    )
    op.create_table(
        "review_queue_items",
        sa.Column("queue_id", sa.String(36), sa.ForeignKey("review_queues.queue_id"), primary_key=True),
        sa.Column("item_id", sa.String(50), primary_key=True),
        sa.Column("item_type", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("completed_by", sa.String(250)),
        sa.Column("completed_time_ms", BIGINT),
        sa.Column("creation_time_ms", BIGINT, nullable=False),
        sa.Column("last_update_time_ms", BIGINT, nullable=False),
        sa.Index("idx_review_queue_items_item", "item_id"),
    )
    op.create_table(
        "workspaces",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("description", sa.String(1000)),
        sa.Column("default_artifact_root", sa.String(2048)),
        sa.Column("creation_time", BIGINT, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "workspaces",
        "review_queue_items",
        "review_queue_label_schemas",
        "review_queue_users",
        "review_queues",
        "label_schemas",
    ):
        op.drop_table(table)
