"""Initial schema: tracking (experiments, runs, metrics, params, tags, datasets) and registry.

A frozen copy of ``schema.py`` as of this revision; later revisions change it.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

KEY = sa.String(250)
NAME = sa.String(256)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(sa.Text(length=2**24), "mysql")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", NAME, nullable=False, unique=True),
        sa.Column("artifact_location", sa.String(1000)),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
        sa.Column("creation_time", BIGINT),
        sa.Column("last_update_time", BIGINT),
    )
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.String(5000)),
    )
    op.create_table(
        "runs",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("name", NAME),
        sa.Column("source_type", sa.String(20)),
        sa.Column("source_name", sa.String(500)),
        sa.Column("entry_point_name", sa.String(50)),
        sa.Column("user_id", NAME),
        sa.Column("status", sa.String(9), nullable=False),
        sa.Column("start_time", BIGINT),
        sa.Column("end_time", BIGINT),
        sa.Column("deleted_time", BIGINT),
        sa.Column("source_version", sa.String(50)),
        sa.Column("lifecycle_stage", sa.String(20), nullable=False, server_default="active"),
        sa.Column("artifact_uri", sa.String(1000)),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
        sa.Index("idx_runs_experiment_stage_start", "experiment_id", "lifecycle_stage", "start_time"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("run_uuid", sa.String(32), nullable=False),
        sa.Column("key", KEY, nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("timestamp", BIGINT, nullable=False),
        sa.Column("step", BIGINT, nullable=False, server_default="0"),
        sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Index("idx_metrics_run_key_step", "run_uuid", "key", "step", "timestamp", "id", "value", "is_nan"),
    )
    op.create_table(
        "latest_metrics",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("timestamp", BIGINT, nullable=False),
        sa.Column("step", BIGINT, nullable=False),
        sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Index("idx_latest_metrics_key_value", "key", "value", "is_nan", "run_uuid"),
    )
    op.create_table(
        "params",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.String(8000), nullable=False),
        sa.Index("idx_params_key_value", "key", "value", "run_uuid", mysql_length={"value": 200}),
    )
    op.create_table(
        "tags",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.String(8000)),
        sa.Index("idx_tags_key_value", "key", "value", "run_uuid", mysql_length={"value": 200}),
    )
    op.create_table(
        "datasets",
        sa.Column("dataset_uuid", sa.String(36), primary_key=True),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("dataset_source_type", sa.String(36), nullable=False),
        sa.Column("dataset_source", LONG_TEXT, nullable=False),
        sa.Column("dataset_schema", LONG_TEXT),
        sa.Column("dataset_profile", LONG_TEXT),
        sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_experiment_name_digest"),
    )
    op.create_table(
        "inputs",
        sa.Column("input_uuid", sa.String(36), primary_key=True),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("destination_type", sa.String(36), nullable=False),
        sa.Column("destination_id", sa.String(36), nullable=False),
        sa.UniqueConstraint(
            "source_type",
            "source_id",
            "destination_type",
            "destination_id",
            name="uq_inputs_source_destination",
        ),
        sa.Index("idx_inputs_destination", "destination_type", "destination_id"),
    )
    op.create_table(
        "input_tags",
        sa.Column("input_uuid", sa.String(36), sa.ForeignKey("inputs.input_uuid"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(500), nullable=False),
    )
    _registry_tables()


def _registry_tables() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", NAME, primary_key=True),
        sa.Column("creation_time", BIGINT),
        sa.Column("last_updated_time", BIGINT),
        sa.Column("description", sa.String(5000)),
    )
    op.create_table(
        "registered_model_tags",
        sa.Column(
            "name", NAME, sa.ForeignKey("registered_models.name", onupdate="CASCADE"), primary_key=True
        ),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.String(5000)),
    )
    op.create_table(
        "model_versions",
        sa.Column(
            "name", NAME, sa.ForeignKey("registered_models.name", onupdate="CASCADE"), primary_key=True
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("creation_time", BIGINT),
        sa.Column("last_updated_time", BIGINT),
        sa.Column("description", sa.String(5000)),
        sa.Column("user_id", NAME),
        sa.Column("current_stage", sa.String(20)),
        sa.Column("source", sa.String(500)),
        sa.Column("run_id", sa.String(32)),
        sa.Column("run_link", sa.String(500)),
        sa.Column("status", sa.String(20)),
        sa.Column("status_message", sa.String(500)),
        sa.Column("storage_location", sa.String(500)),
        sa.Column("model_id", sa.String(64)),
    )
    op.create_table(
        "model_version_tags",
        sa.Column("name", NAME, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.String(5000)),
        sa.ForeignKeyConstraint(
            ["name", "version"], ["model_versions.name", "model_versions.version"], onupdate="CASCADE"
        ),
    )
    op.create_table(
        "registered_model_aliases",
        sa.Column(
            "name", NAME, sa.ForeignKey("registered_models.name", onupdate="CASCADE"), primary_key=True
        ),
        sa.Column("alias", NAME, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "registered_model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
        "input_tags",
        "inputs",
        "datasets",
        "tags",
        "params",
        "latest_metrics",
        "metrics",
        "runs",
        "experiment_tags",
        "experiments",
    ):
        op.drop_table(table)
