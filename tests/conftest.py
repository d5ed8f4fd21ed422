"""Shared fixtures: fresh databases on the real PostgreSQL and MariaDB servers.

With ``CI=true`` a database server that cannot be reached fails the test run;
on a developer machine those tests are skipped with a reason instead.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN_URI = os.environ.get("MLTRAIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN_URI = os.environ.get("MLTRAIL_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unreachable(what: str, err: Exception) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI but cannot be reached: {err}")
    pytest.skip(f"{what} not reachable: {err}")


def _fresh_database(admin_uri: str, what: str, base_uri: str) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"mltrail_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = sa.create_engine(admin_uri, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except Exception as err:  # any driver error means the server is not usable
        _unreachable(what, err)
    try:
        yield base_uri + name
    finally:
        with admin.connect() as conn:
            if admin.dialect.name == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A URI of a fresh, empty PostgreSQL database, dropped after the session."""
    yield from _fresh_database(PG_ADMIN_URI, "PostgreSQL", PG_ADMIN_URI.rsplit("/", 1)[0] + "/")


@pytest.fixture(scope="session")
def mysql_uri() -> Iterator[str]:
    """A URI of a fresh, empty MariaDB/MySQL database, dropped after the session."""
    yield from _fresh_database(MYSQL_ADMIN_URI, "MariaDB", MYSQL_ADMIN_URI.rstrip("/") + "/")


@pytest.fixture
def sqlite_uri(tmp_path) -> str:
    """A URI of a new SQLite file in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'mltrail.db'}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path) -> None:
    """Keep tests from reading or writing the developer's ./mltrail.db or tracking URI."""
    for var in ("MLTRAIL_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLTRAIL_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)
    # The real mlflow.set_experiment exports these for subprocesses; one test's must not steer the next.
    for var in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLTRAIL_EXPERIMENT_ID",
                "MLTRAIL_EXPERIMENT_NAME", "MLTRAIL_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    # The real mlflow also keeps its active experiment in a module global: reset it too,
    # or a test run after another module's official-client test logs to a stale experiment.
    official = sys.modules.get("mlflow.tracking.fluent")
    if official is not None:
        monkeypatch.setattr(official, "_active_experiment_id", None, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failure: every required test must really run there."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """In CI a module skipped at import (``importorskip``) is a failure too."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"module skipped in CI, where every test must run: {reason}"
