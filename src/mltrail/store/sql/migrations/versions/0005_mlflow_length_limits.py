"""MLflow 3.17's length limits: wider columns for long tags, descriptions and locations.

Experiment tags (20,000 characters), registered-model and model-version tags
(100,000: a prompt's template is the ``mlflow.prompt.text`` model-version tag),
registry descriptions, logged-model tags and params become ``TEXT`` (``MEDIUMTEXT``
on MySQL/MariaDB: its ``TEXT`` holds 65,535 bytes, ~16k utf8mb4 characters, and
large ``VARCHAR``s would break its 65,535-byte row limit). Experiment and
logged-model names grow to 500 characters and artifact locations to MLflow's
2,048 (derived run and logged-model locations to 2,200); those stay ``VARCHAR``,
so the unique index on ``experiments.name`` is kept. Tag keys are untouched.

SQLite does not enforce ``VARCHAR`` lengths, so there is nothing to change there:
the migration is a no-op on SQLite. It deliberately does not let batch mode rebuild
the tables, which would drop and re-create ``experiments`` and ``registered_models``
while rows in other tables point at them (refused with foreign keys on).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WIDE_TEXT = sa.Text().with_variant(MEDIUMTEXT(), "mysql")

# (table, column, type before, type after, nullable)
_CHANGES: list[tuple[str, str, sa.types.TypeEngine, sa.types.TypeEngine, bool]] = [
    ("experiments", "name", sa.String(256), sa.String(500), False),
    ("experiments", "artifact_location", sa.String(1000), sa.String(2048), True),
    ("experiment_tags", "value", sa.String(5000), WIDE_TEXT, True),
    ("runs", "artifact_uri", sa.String(1000), sa.String(2200), True),
    ("registered_models", "description", sa.String(5000), WIDE_TEXT, True),
    ("registered_model_tags", "value", sa.String(5000), WIDE_TEXT, True),
    ("model_versions", "description", sa.String(5000), WIDE_TEXT, True),
    ("model_version_tags", "value", sa.String(5000), WIDE_TEXT, True),
    ("logged_models", "name", sa.String(256), sa.String(500), False),
    ("logged_models", "artifact_location", sa.String(1000), sa.String(2200), False),
    ("logged_model_tags", "tag_value", sa.String(5000), WIDE_TEXT, True),
    ("logged_model_params", "param_value", sa.String(8000), WIDE_TEXT, False),
]


def _alter(widen: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, before, after, nullable in _CHANGES:
        old, new = (before, after) if widen else (after, before)
        # MySQL's MODIFY restates the whole column: existing_nullable keeps NOT NULL where it was.
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=old, type_=new, existing_nullable=nullable)


def upgrade() -> None:
    _alter(widen=True)


def downgrade() -> None:
    # Fails (rather than truncating) on a database that already holds longer values.
    _alter(widen=False)
