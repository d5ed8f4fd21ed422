"""Migrations: ``mltrail db upgrade`` builds exactly schema.py on empty databases, and is idempotent;
a downgrade that cannot keep the rows refuses before it changes anything."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from mltrail.cli.main import cli
from mltrail.exceptions import MltrailException
from mltrail.store.sql import schema
from mltrail.store.sql.engine import create_sql_engine, normalize_db_uri
from mltrail.store.sql.migrate import MIGRATIONS_DIR, current_revision, ensure_schema, head_revision
from support.sql_backends import SQL_BACKENDS


def _fresh_server_db(admin_uri: str, base: str) -> tuple[str, sa.Engine]:
    import uuid

    name = f"mltrail_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_uri, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    return base + name, admin


@pytest.fixture(params=SQL_BACKENDS)
def empty_db(request, tmp_path):
    """A URI of a brand-new empty database (its own one, not the shared session database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sub' / 'empty.db'}"
        return
    base_uri = request.getfixturevalue(f"{request.param}_uri")  # skips if the server is unreachable
    prefix = base_uri.rsplit("/", 1)[0] + "/"
    admin_uri = prefix + ("postgres" if request.param == "postgres" else "")
    uri, admin = _fresh_server_db(admin_uri, prefix)
    yield uri
    create_sql_engine(uri).dispose()
    name = uri.rsplit("/", 1)[1]
    with admin.connect() as conn:
        if request.param == "postgres":
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        else:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()


def _shape(engine: sa.Engine) -> dict[str, set[str]]:
    inspector = sa.inspect(engine)
    return {
        t: {c["name"] for c in inspector.get_columns(t)}
        for t in inspector.get_table_names()
        if t != "alembic_version"
    }


def test_db_upgrade_on_empty_database(empty_db):
    runner = CliRunner()
    first = runner.invoke(cli, ["db", "upgrade", empty_db])
    assert first.exit_code == 0, first.output
    assert f"revision {head_revision()}" in first.output
    engine = create_sql_engine(empty_db)
    expected = {name: {c.name for c in table.columns} for name, table in schema.metadata.tables.items()}
    assert _shape(engine) == expected
    assert current_revision(engine) == head_revision()
    again = runner.invoke(cli, ["db", "upgrade", empty_db])  # idempotent
    assert again.exit_code == 0, again.output
    assert _shape(engine) == expected


def test_migrated_indexes_match_schema(sqlite_uri):
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade", sqlite_uri]).exit_code == 0
    inspector = sa.inspect(create_sql_engine(sqlite_uri))
    for name, table in schema.metadata.tables.items():
        declared = {i.name for i in table.indexes}
        assert declared <= {i["name"] for i in inspector.get_indexes(name)}, name


def test_ensure_schema_creates_then_is_cheap(sqlite_uri):
    engine = create_sql_engine(sqlite_uri)
    assert current_revision(engine) is None
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    ensure_schema(engine)  # second call: cached, no work


def test_revisions_form_one_linear_chain():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    assert len(script.get_heads()) == 1
    assert script.get_base() == "0001"
    # The quick reader the stores use at start-up agrees with alembic.
    from mltrail.store.sql.migrate import head_revision

    assert head_revision() == script.get_current_head()


def test_db_upgrade_rejects_non_database_uri():
    result = CliRunner().invoke(cli, ["db", "upgrade", "http://example.com"])
    assert result.exit_code != 0
    assert "not a database URI" in result.output


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("mysql://root@h/db", "mysql+pymysql://root@h/db"),
        ("mysql+pymysql://root@h/db", "mysql+pymysql://root@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_uri_drivers(given, expected):
    assert normalize_db_uri(given) == expected


def test_database_from_a_newer_mltrail_is_a_clear_error(sqlite_uri):
    from mltrail.store.sql.migrate import upgrade_db

    upgrade_db(sqlite_uri)
    with create_sql_engine(sqlite_uri).begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(MltrailException) as e:
        upgrade_db(sqlite_uri)
    assert e.value.error_code == "INVALID_STATE"
    assert "newer mltrail" in e.value.message
    result = CliRunner().invoke(cli, ["db", "upgrade", sqlite_uri])
    assert result.exit_code == 1 and "INVALID_STATE" in result.output


def _migrate(engine: sa.Engine, to: str, down: bool = False) -> None:
    """Alembic to revision ``to``, as :mod:`mltrail.store.sql.migrate` runs it (SQLite: foreign keys off)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":  # 0018 rebuilds referenced tables
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        with conn.begin():
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, to)


def _schema_state(engine: sa.Engine) -> dict:
    """What 0018's downgrade would change first (MariaDB commits DDL at once): keys, columns, rows."""
    inspector = sa.inspect(engine)
    with engine.connect() as conn:
        return {
            "revision": current_revision(engine),
            "tables": sorted(inspector.get_table_names()),
            "models_pk": inspector.get_pk_constraint("registered_models")["constrained_columns"],
            "versions_pk": inspector.get_pk_constraint("model_versions")["constrained_columns"],
            "webhooks": sorted(c["name"] for c in inspector.get_columns("webhooks")),
            "webhook_indexes": sorted(i["name"] for i in inspector.get_indexes("webhooks")),
            "models": sorted(conn.execute(sa.text("SELECT workspace, name FROM registered_models")).all()),
            "versions": sorted(conn.execute(sa.text("SELECT name, version FROM model_versions")).all()),
        }


def test_downgrade_below_0018_refuses_names_held_by_two_workspaces_before_changing_anything(empty_db):
    """Before 0018 a model name was unique across workspaces: the downgrade says which names are
    not, and what to do, and leaves the database as it was; once they are resolved it goes through."""
    engine = create_sql_engine(empty_db)
    _migrate(engine, "0018")
    models = sa.table("registered_models", sa.column("workspace"), sa.column("name"))
    versions = sa.table("model_versions", sa.column("workspace"), sa.column("name"), sa.column("version"), sa.column("source"))  # fmt: skip
    held = [("default", "shared"), ("team-a", "shared"), ("team-b", "shared"), ("default", "Mixed"),
            ("team-a", "mixed"), ("team-a", "alone")]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(models), [{"workspace": w, "name": n} for w, n in held])
        conn.execute(sa.insert(versions), [{"workspace": w, "name": n, "version": 1, "source": "s3://b/m"} for w, n in held])  # fmt: skip
    before = _schema_state(engine)
    assert before["revision"] == "0018" and before["models_pk"] == ["workspace", "name"]

    with pytest.raises(MltrailException) as caught:
        _migrate(engine, "0017", down=True)
    engine.dispose()  # a fresh look at the schema, not a cached one
    assert _schema_state(engine) == before
    message = caught.value.message
    assert caught.value.error_code == "INVALID_STATE"
    assert "Cannot downgrade below revision 0018" in message
    assert "'shared' in default, team-a, team-b" in message
    assert "Rename or delete the models so that each name is used in one workspace only" in message
    assert "'alone'" not in message
    if engine.dialect.name == "mysql":  # the name-only key ignores case on MariaDB's default collation
        assert "2 name(s)" in message and "'Mixed' in default, team-a (as 'mixed')" in message
    else:
        assert "1 name(s)" in message and "ixed" not in message

    gone = [("team-a", "shared"), ("team-b", "shared"), ("team-a", "mixed")]
    with engine.begin() as conn:  # as the message says: each name in one workspace only
        for table in (versions, models):
            conn.execute(sa.delete(table).where(sa.tuple_(table.c.workspace, table.c.name).in_(gone)))
    _migrate(engine, "0017", down=True)
    engine.dispose()
    after = _schema_state(engine)
    kept = sorted(set(held) - set(gone))
    assert (after["revision"], after["models_pk"]) == ("0017", ["name"])
    assert "workspace" not in after["webhooks"]
    assert after["models"] == kept
    assert after["versions"] == sorted((n, 1) for _, n in kept)
    _migrate(engine, "head")  # and back: 0017's unnamed keys do not stand in the way of 0018's names
    engine.dispose()
    again = _schema_state(engine)
    assert (again["revision"], again["models_pk"]) == (head_revision(), ["workspace", "name"])
    assert again["models"] == kept
    engine.dispose()
