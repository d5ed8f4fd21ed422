"""``mltrail db upgrade URI``: create or migrate a tracking database to the current schema.

Example::

    mltrail db upgrade postgresql://postgres@127.0.0.1/mltrail
"""

from __future__ import annotations

import click

from mltrail.cli._common import handle_errors
from mltrail.cli.server import mask_uri
from mltrail.store.sql.engine import is_db_uri
from mltrail.store.sql.migrate import upgrade_db


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
    A missing SQLite file is created (and said so), as in MLflow; a database that cannot be
    opened (a PostgreSQL/MySQL database that does not exist, a folder that
    cannot be created) is reported in one line, with exit code 1.
    """
    from sqlalchemy.exc import SQLAlchemyError

    if not is_db_uri(url):
        raise click.BadParameter(
            f"{url!r} is not a database URI: use sqlite:///path.db, postgresql://... or mysql://...",
            param_hint="URI",
        )
    new_file = _missing_sqlite_file(url)
    try:
        revision = upgrade_db(url)
    except (OSError, SQLAlchemyError) as err:
        raise click.ClickException(f"Cannot open the database {mask_uri(url)}: {_reason(err)}") from None
    if new_file:  # say so: a mistyped path would otherwise pass for an upgrade
        click.echo(f"Created a new SQLite database at {new_file} (there was none)")
    click.echo(f"Database is at revision {revision} (latest)")


def _missing_sqlite_file(url: str) -> str | None:
    """The absolute path of a SQLite file ``url`` names that does not exist yet, else ``None``."""
    import os

    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # upgrade_db reports a malformed URI itself
        return None
    path = parsed.database
    if not parsed.drivername.startswith("sqlite") or not path or path == ":memory:" or path.startswith("file:"):
        return None
    path = os.path.abspath(path)
    return None if os.path.exists(path) else path


def _reason(err: BaseException) -> str:
    """The driver's own words, first line only: SQLAlchemy appends a traceback pointer and a link."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    cause = getattr(err, "orig", None) or err
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else type(err).__name__
