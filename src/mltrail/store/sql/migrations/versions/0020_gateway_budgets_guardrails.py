"""The AI gateway's budget policies and guardrails (MLflow 3.17).

``gateway_budget_policies`` are spend limits (USD per fixed window of minutes, hours,
days, weeks or months) scoped GLOBAL, WORKSPACE, ENDPOINT or USER, with the action
taken once spent (ALERT or REJECT). ``gateway_guardrails`` name a registered scorer
version run BEFORE or AFTER a proxied call (VALIDATION blocks, SANITIZATION rewrites
through ``action_endpoint_id``); ``gateway_guardrail_configs`` attach them to
endpoints in ``execution_order`` and go with their guardrail. Every row carries its
workspace (``default`` without workspaces), as MLflow's tables do.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = 64
NAME = 255
WORKSPACE = sa.String(63)


def _audit() -> list[sa.Column]:
    return [
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("last_updated_at", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(NAME)),
        sa.Column("last_updated_by", sa.String(NAME)),
    ]


def _workspace() -> sa.Column:
    return sa.Column("workspace", WORKSPACE, nullable=False, server_default="default")


def upgrade() -> None:
    op.create_table(
        "gateway_budget_policies",
        sa.Column("budget_policy_id", sa.String(ID), primary_key=True),
        sa.Column("budget_unit", sa.String(32), nullable=False),
        sa.Column("budget_amount", sa.Double(), nullable=False),
        sa.Column("duration_unit", sa.String(32), nullable=False),
        sa.Column("duration_value", sa.Integer(), nullable=False),
        sa.Column("target_scope", sa.String(32), nullable=False),
        sa.Column("target_value", sa.String(NAME)),
        sa.Column("budget_action", sa.String(32), nullable=False),
        *_audit(),
        _workspace(),
    )
    op.create_index("idx_gateway_budget_policies_workspace", "gateway_budget_policies", ["workspace"])
    op.create_table(
        "gateway_guardrails",
        sa.Column("guardrail_id", sa.String(ID), primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("scorer_id", sa.String(36), nullable=False),
        sa.Column("scorer_version", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("action_endpoint_id", sa.String(ID)),
        *_audit(),
        _workspace(),
    )
    op.create_index("idx_gateway_guardrails_workspace", "gateway_guardrails", ["workspace"])
    op.create_index("idx_gateway_guardrails_scorer", "gateway_guardrails", ["scorer_id", "scorer_version"])
    op.create_table(
        "gateway_guardrail_configs",
        sa.Column("endpoint_id", sa.String(ID), primary_key=True),
        sa.Column(
            "guardrail_id",
            sa.String(ID),
            sa.ForeignKey("gateway_guardrails.guardrail_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("execution_order", sa.Integer()),
        sa.Column("created_by", sa.String(NAME)),
        sa.Column("created_at", BIGINT, nullable=False),
        _workspace(),
    )
    op.create_index("idx_gateway_guardrail_configs_guardrail", "gateway_guardrail_configs", ["guardrail_id"])


def downgrade() -> None:
    op.drop_index("idx_gateway_guardrail_configs_guardrail", table_name="gateway_guardrail_configs")
    op.drop_table("gateway_guardrail_configs")
    op.drop_index("idx_gateway_guardrails_scorer", table_name="gateway_guardrails")
    op.drop_index("idx_gateway_guardrails_workspace", table_name="gateway_guardrails")
    op.drop_table("gateway_guardrails")
    op.drop_index("idx_gateway_budget_policies_workspace", table_name="gateway_budget_policies")
    op.drop_table("gateway_budget_policies")
