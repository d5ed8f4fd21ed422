"""The step of a run's model output (MLflow 3's ``inputs.step``).

MLflow records the logged models a run produced (``log_outputs``) and used
(``log_inputs(models=...)``) in the ``inputs`` table: ``RUN_OUTPUT -> MODEL_OUTPUT``
rows carry the step the model was logged at, ``RUN_INPUT -> MODEL_INPUT`` rows
and dataset rows keep 0. Column and default are MLflow's.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("inputs") as batch:
        batch.add_column(sa.Column("step", BIGINT, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("inputs") as batch:
        batch.drop_column("step")
