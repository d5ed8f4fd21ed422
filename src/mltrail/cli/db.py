"""``mltrail db upgrade URI``: create or migrate a tracking database to the current schema.

Example::

    mltrail db upgrade postgresql://postgres@127.0.0.1/mltrail
"""

from __future__ import annotations

import click

from mltrail.cli._common import handle_errors


@click.group()
def db() -> None:
    """Manage the tracking database schema."""


@db.command("upgrade")
@click.argument("url", metavar="URI")
@handle_errors
def upgrade(url: str) -> None:
    """Create the schema in an empty database, or migrate an older one, to the latest revision.

    URI is sqlite:///path.db, postgresql://user@host/db or mysql://user@host/db.
    Safe to run again: a database already at the latest revision is left alone.
    """
    from mltrail.store.sql.engine import is_db_uri
    from mltrail.store.sql.migrate import upgrade_db

    if not is_db_uri(url):
        raise click.BadParameter(
            f"{url!r} is not a database URI: use sqlite:///path.db, postgresql://... or mysql://...",
            param_hint="URI",
        )
    revision = upgrade_db(url)
    click.echo(f"Database is at revision {revision} (latest)")
