"""Registered scorers and online evaluation (MLflow 3's ``scorer.register()`` / ``.start()``).

``scorers`` (one per experiment and name), ``scorer_versions`` (each registration
is a new version holding MLflow's serialized scorer JSON and who registered it) and
``online_scoring_configs`` (sample rate and filter; at most one per scorer) follow
MLflow's tables. ``scorer_judged_traces`` is mltrail's: a row per trace a scorer
version has taken, whose primary key is the claim that lets several online-scoring
workers share one database and judge each trace once.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(sa.Text(length=2**24), "mysql")


def upgrade() -> None:
    op.create_table(
        "scorers",
        sa.Column("scorer_id", sa.String(36), primary_key=True),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
        sa.Column("scorer_name", sa.String(256), nullable=False),
        sa.UniqueConstraint("experiment_id", "scorer_name", name="unique_experiment_scorer_name"),
    )
    op.create_table(
        "scorer_versions",
        sa.Column("scorer_id", sa.String(36), sa.ForeignKey("scorers.scorer_id"), primary_key=True),
        sa.Column("scorer_version", sa.Integer, primary_key=True),
        sa.Column("serialized_scorer", LONG_TEXT, nullable=False),
        sa.Column("creation_time", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(255)),
    )
    op.create_table(
        "online_scoring_configs",
        sa.Column("online_scoring_config_id", sa.String(36), primary_key=True),
        sa.Column(
            "scorer_id", sa.String(36), sa.ForeignKey("scorers.scorer_id"), nullable=False, unique=True
        ),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("sample_rate", sa.Float, nullable=False),
        sa.Column("filter_string", sa.Text),
        sa.Column("started_time", BIGINT, nullable=False),
        sa.Column("updated_by", sa.String(255)),
    )
    op.create_index("idx_online_scoring_configs_rate", "online_scoring_configs", ["sample_rate"])
    op.create_table(
        "scorer_judged_traces",
        sa.Column("request_id", sa.String(50), primary_key=True),
        sa.Column("scorer_id", sa.String(36), primary_key=True),
        sa.Column("scorer_version", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_time", BIGINT, nullable=False),
        sa.Column("worker", sa.String(100)),
    )
    op.create_index(
        "idx_scorer_judged_traces_scorer",
        "scorer_judged_traces",
        ["scorer_id", "scorer_version", "request_id"],
    )


def downgrade() -> None:
    op.drop_table("scorer_judged_traces")
    op.drop_table("online_scoring_configs")
    op.drop_table("scorer_versions")
    op.drop_table("scorers")
