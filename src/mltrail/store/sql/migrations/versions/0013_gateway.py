"""The AI gateway (MLflow 3): secrets, model definitions, endpoints, and mltrail's usage counters.

``gateway_secrets`` holds each provider credential sealed with the server's key
(``encrypted_value``, see ``store/secrets.py``) next to its masked form
(``masked_value``, JSON, what the API answers). ``gateway_model_definitions``
name a provider, a model and a secret; ``gateway_endpoints`` route to model
definitions through ``gateway_endpoint_model_mappings``; endpoints carry tags and
bindings as in MLflow. ``gateway_usage`` is mltrail's: per endpoint and UTC day,
the requests, failed requests and input/output tokens its proxy saw.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = 64
NAME = 255


def _audit() -> list[sa.Column]:
    return [
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("last_updated_at", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(NAME)),
        sa.Column("last_updated_by", sa.String(NAME)),
    ]


def upgrade() -> None:
    op.create_table(
        "gateway_secrets",
        sa.Column("secret_id", sa.String(ID), primary_key=True),
        sa.Column("secret_name", sa.String(NAME), nullable=False, unique=True),
        sa.Column("encrypted_value", sa.Text, nullable=False),
        sa.Column("masked_value", sa.Text, nullable=False),
        sa.Column("provider", sa.String(NAME)),
        sa.Column("auth_config", sa.Text),
        *_audit(),
    )
    op.create_table(
        "gateway_model_definitions",
        sa.Column("model_definition_id", sa.String(ID), primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False, unique=True),
        sa.Column("secret_id", sa.String(ID)),
        sa.Column("provider", sa.String(NAME), nullable=False),
        sa.Column("model_name", sa.String(NAME), nullable=False),
        *_audit(),
    )
    op.create_index("idx_gateway_model_definitions_secret", "gateway_model_definitions", ["secret_id"])
    op.create_table(
        "gateway_endpoints",
        sa.Column("endpoint_id", sa.String(ID), primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False, unique=True),
        sa.Column("routing_strategy", sa.String(64)),
        sa.Column("fallback_config", sa.Text),
        sa.Column("experiment_id", sa.String(32)),
        sa.Column("usage_tracking", sa.Boolean, nullable=False),
        *_audit(),
    )
    op.create_table(
        "gateway_endpoint_model_mappings",
        sa.Column("mapping_id", sa.String(ID), primary_key=True),
        sa.Column("endpoint_id", sa.String(ID), nullable=False),
        sa.Column("model_definition_id", sa.String(ID), nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("linkage_type", sa.String(32), nullable=False),
        sa.Column("fallback_order", sa.Integer),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(NAME)),
        sa.UniqueConstraint("endpoint_id", "model_definition_id", "linkage_type", name="uq_gateway_mapping"),
    )
    op.create_index("idx_gateway_mappings_model", "gateway_endpoint_model_mappings", ["model_definition_id"])
    op.create_table(
        "gateway_endpoint_tags",
        sa.Column("endpoint_id", sa.String(ID), primary_key=True),
        sa.Column("key", sa.String(NAME), primary_key=True),
        sa.Column("value", sa.String(5000)),
    )
    op.create_table(
        "gateway_endpoint_bindings",
        sa.Column("endpoint_id", sa.String(ID), primary_key=True),
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("resource_id", sa.String(NAME), primary_key=True),
        *_audit(),
    )
    op.create_table(
        "gateway_usage",
        sa.Column("endpoint_id", sa.String(ID), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("requests", BIGINT, nullable=False),
        sa.Column("errors", BIGINT, nullable=False),
        sa.Column("input_tokens", BIGINT, nullable=False),
        sa.Column("output_tokens", BIGINT, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "gateway_usage",
        "gateway_endpoint_bindings",
        "gateway_endpoint_tags",
        "gateway_endpoint_model_mappings",
        "gateway_endpoints",
        "gateway_model_definitions",
        "gateway_secrets",
    ):
        op.drop_table(table)
