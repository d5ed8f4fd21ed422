"""Metrics per logged model (MLflow 3's ``logged_model_metrics``).

A metric logged with a ``model_id`` (``log_metric(..., model_id=...)``, a
``log_batch`` metric carrying one, or the active model) also lands here, with its
run, experiment and dataset, so ``LoggedModel.metrics`` can be read and
``search_logged_models`` can filter and order by ``metrics.<name>``. Columns,
primary key and foreign keys are MLflow's; rows go with their run or model
(``ON DELETE CASCADE``). ``metric_name`` is as wide as a metric key (250).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "logged_model_metrics",
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("metric_name", sa.String(250), nullable=False),
        sa.Column("metric_timestamp_ms", BIGINT, nullable=False),
        sa.Column("metric_step", BIGINT, nullable=False),
        sa.Column("metric_value", sa.Double()),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("dataset_uuid", sa.String(36)),
        sa.Column("dataset_name", sa.String(500)),
        sa.Column("dataset_digest", sa.String(36)),
        sa.PrimaryKeyConstraint(
            "model_id",
            "metric_name",
            "metric_timestamp_ms",
            "metric_step",
            "run_id",
            name="logged_model_metrics_pk",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            ondelete="CASCADE",
            name="fk_logged_model_metrics_model_id",
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], name="fk_logged_model_metrics_experiment_id"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_uuid"], ondelete="CASCADE", name="fk_logged_model_metrics_run_id"
        ),
    )


def downgrade() -> None:
    op.drop_table("logged_model_metrics")
