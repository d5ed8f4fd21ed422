"""Logged models (MLflow 3): logged_models, logged_model_tags, logged_model_params.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KEY = sa.String(250)
NAME = sa.String(256)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(64), primary_key=True),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("artifact_location", sa.String(1000), nullable=False),
        sa.Column("creation_timestamp_ms", BIGINT, nullable=False),
        sa.Column("last_updated_timestamp_ms", BIGINT, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
        sa.Column("model_type", sa.String(500)),
        sa.Column("source_run_id", sa.String(32)),
        sa.Column("status_message", sa.String(1000)),
    )
    op.create_index("idx_logged_models_experiment_name", "logged_models", ["experiment_id", "name"])
    op.create_index("idx_logged_models_source_run", "logged_models", ["source_run_id"])
    op.create_table(
        "logged_model_tags",
        sa.Column("model_id", sa.String(64), sa.ForeignKey("logged_models.model_id"), primary_key=True),
        sa.Column("tag_key", KEY, primary_key=True),
        sa.Column("tag_value", sa.String(5000)),
    )
    op.create_table(
        "logged_model_params",
        sa.Column("model_id", sa.String(64), sa.ForeignKey("logged_models.model_id"), primary_key=True),
        sa.Column("param_key", KEY, primary_key=True),
        sa.Column("param_value", sa.String(8000), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("logged_model_params")
    op.drop_table("logged_model_tags")
    op.drop_index("idx_logged_models_source_run", table_name="logged_models")
    op.drop_index("idx_logged_models_experiment_name", table_name="logged_models")
    op.drop_table("logged_models")
