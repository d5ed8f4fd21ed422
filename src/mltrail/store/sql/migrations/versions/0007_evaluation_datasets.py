"""Evaluation datasets (MLflow 3's ``mlflow.genai.datasets``): datasets, tags, experiments, records.

Names and columns follow MLflow's ``evaluation_datasets``, ``evaluation_dataset_tags``
and ``evaluation_dataset_records``; the experiments a dataset belongs to get their
own table (MLflow uses a generic association table). A dataset's tags, records and
experiment links go with it. Records are unique per dataset by the hash of their
inputs (``unique_dataset_input``, as in MLflow) and are paged by
``(dataset_id, created_time, dataset_record_id)``.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(sa.Text(length=2**24), "mysql")
_DATASET_FK = "evaluation_datasets.dataset_id"


def upgrade() -> None:
    op.create_table(
        "evaluation_datasets",
        sa.Column("dataset_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("schema", LONG_TEXT),
        sa.Column("profile", LONG_TEXT),
        sa.Column("digest", sa.String(64)),
        sa.Column("created_time", BIGINT, nullable=False),
        sa.Column("last_update_time", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.Column("last_updated_by", sa.String(255)),
    )
    op.create_index("index_evaluation_datasets_name", "evaluation_datasets", ["name"])
    op.create_index("index_evaluation_datasets_created_time", "evaluation_datasets", ["created_time"])
    op.create_table(
        "evaluation_dataset_tags",
        sa.Column(
            "dataset_id", sa.String(36), sa.ForeignKey(_DATASET_FK, ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(5000)),
    )
    op.create_table(
        "evaluation_dataset_experiments",
        sa.Column(
            "dataset_id", sa.String(36), sa.ForeignKey(_DATASET_FK, ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), primary_key=True),
        sa.Column("created_time", BIGINT, nullable=False),
    )
    op.create_index(
        "index_evaluation_dataset_experiments_experiment",
        "evaluation_dataset_experiments",
        ["experiment_id", "dataset_id"],
    )
    op.create_table(
        "evaluation_dataset_records",
        sa.Column("dataset_record_id", sa.String(36), primary_key=True),
        sa.Column(
            "dataset_id", sa.String(36), sa.ForeignKey(_DATASET_FK, ondelete="CASCADE"), nullable=False
        ),
        sa.Column("inputs", LONG_TEXT, nullable=False),
        sa.Column("outputs", LONG_TEXT),
        sa.Column("expectations", LONG_TEXT),
        sa.Column("tags", LONG_TEXT),
        sa.Column("source", LONG_TEXT),
        sa.Column("source_id", sa.String(255)),
        sa.Column("source_type", sa.String(255)),
        sa.Column("created_time", BIGINT, nullable=False),
        sa.Column("last_update_time", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.Column("last_updated_by", sa.String(255)),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("dataset_id", "input_hash", name="unique_dataset_input"),
    )
    op.create_index(
        "index_evaluation_dataset_records_page",
        "evaluation_dataset_records",
        ["dataset_id", "created_time", "dataset_record_id"],
    )


def downgrade() -> None:
    op.drop_table("evaluation_dataset_records")
    op.drop_table("evaluation_dataset_experiments")
    op.drop_table("evaluation_dataset_tags")
    op.drop_index("index_evaluation_datasets_created_time", table_name="evaluation_datasets")
    op.drop_index("index_evaluation_datasets_name", table_name="evaluation_datasets")
    op.drop_table("evaluation_datasets")
