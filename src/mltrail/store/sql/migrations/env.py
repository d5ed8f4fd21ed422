"""Alembic environment: runs migrations on the connection mltrail hands over."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from mltrail.store.sql.schema import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn: sa.Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies tables instead.
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # plain `alembic -x ...` use with sqlalchemy.url set in a config
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
