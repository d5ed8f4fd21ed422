"""The auth database's tables: MLflow's users, per-user grants and roles, and mltrail's API tokens.

Kept apart from :mod:`mltrail.server.auth.store` (users and grants) and
:mod:`mltrail.server.auth.roles` (roles), which both build on them.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(255), unique=True),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("is_admin", sa.Boolean, default=False),
)
experiment_permissions = sa.Table(
    "experiment_permissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("experiment_id", sa.String(255), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", name="fk_user_id"), nullable=False),
    sa.Column("permission", sa.String(255)),
    sa.UniqueConstraint("experiment_id", "user_id", name="unique_experiment_user"),
)
registered_model_permissions = sa.Table(
    "registered_model_permissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    # MLflow names this key fk_user_id too, which MySQL/MariaDB refuse (a constraint name is unique
    # per database there): tables created here get their own name; existing ones keep theirs.
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", name="fk_model_perm_user_id"), nullable=False
    ),
    sa.Column("permission", sa.String(255)),
    sa.UniqueConstraint("name", "user_id", name="unique_name_user"),
)


def _grant_table(name: str, key: str, fk: str, unique: str) -> sa.Table:
    """One of MLflow's per-user grant tables on a gateway resource (its 2025 auth schema)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(key, sa.String(255), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", name=fk), nullable=False),
        sa.Column("permission", sa.String(255)),
        sa.UniqueConstraint(key, "user_id", name=unique),
    )


# The AI gateway's resources, as MLflow's auth migration a1b2c3d4e5f6 created them.
gateway_secret_permissions = _grant_table(
    "gateway_secret_permissions", "secret_id", "fk_gateway_secret_perm_user_id", "unique_secret_user"
)
gateway_endpoint_permissions = _grant_table(
    "gateway_endpoint_permissions", "endpoint_id", "fk_gateway_endpoint_perm_user_id", "unique_endpoint_user"
)
gateway_model_definition_permissions = _grant_table(
    "gateway_model_definition_permissions",
    "model_definition_id",
    "fk_gateway_model_def_perm_user_id",
    "unique_model_def_user",
)
#: Gateway resource type (MLflow's names) -> (its grant table, the key column's name).
GATEWAY_GRANTS: dict[str, tuple[sa.Table, str]] = {
    "gateway_secret": (gateway_secret_permissions, "secret_id"),
    "gateway_endpoint": (gateway_endpoint_permissions, "endpoint_id"),
    "gateway_model_definition": (gateway_model_definition_permissions, "model_definition_id"),
}
# mltrail's own: per-user API tokens for `Authorization: Bearer` (MLFLOW_TRACKING_TOKEN).
# Only a SHA-256 of each token is kept: tokens are 256 random bits, so a fast hash suffices.
access_tokens = sa.Table(
    "mltrail_access_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", name="fk_access_tokens_user_id"), nullable=False
    ),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False, default=""),
    sa.Column("created_time", sa.BigInteger, nullable=False),
)
TOKEN_PREFIX = "mlt_"

# MLflow 3.17's roles (its auth migration c3d4e5f6a7b8): a role lives in one workspace, holds
# permissions on resource types/patterns and is assigned to users. Created on start when missing,
# like every table here, so an older basic_auth.db gains them in place. The operations are in
# :mod:`mltrail.server.auth.roles`.
roles = sa.Table(
    "roles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("workspace", sa.String(63), nullable=False),
    sa.Column("description", sa.String(1024), nullable=True),
    sa.UniqueConstraint("workspace", "name", name="unique_workspace_role_name"),
    sa.Index("idx_roles_workspace", "workspace"),
)
role_permissions = sa.Table(
    "role_permissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id"), nullable=False),
    sa.Column("resource_type", sa.String(64), nullable=False),
    sa.Column("resource_pattern", sa.String(255), nullable=False),
    sa.Column("permission", sa.String(255), nullable=False),
    sa.UniqueConstraint("role_id", "resource_type", "resource_pattern", name="unique_role_resource_perm"),
    sa.Index("idx_role_permissions_role_id", "role_id"),
)
user_role_assignments = sa.Table(
    "user_role_assignments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id"), nullable=False),
    sa.UniqueConstraint("user_id", "role_id", name="unique_user_role"),
    sa.Index("idx_user_role_assignments_user_id", "user_id"),
    sa.Index("idx_user_role_assignments_role_id", "role_id"),
)
