"""Shared fixtures: fresh databases on the real PostgreSQL and MariaDB servers.

With ``CI=true`` a database server that cannot be reached fails the test run;
on a developer machine those tests are skipped with a reason instead.

The suite runs in parallel under pytest-xdist (``make test``: ``-n auto --dist
loadfile``). Each worker is its own pytest session, so session fixtures (the
databases here, servers in the suites' conftests) exist once per worker, and
every test module is one unit of work, kept on one worker so that its
module-scoped servers start once (see :func:`pytest_xdist_make_scheduler`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator

import pytest

# The helpers live in support.databases (importable from any test module); the names stay here too.
from support.databases import (  # noqa: F401  (re-exported)
    IN_CI,
    MYSQL_ADMIN_URI,
    MYSQL_BASE_URI,
    PG_ADMIN_URI,
    PG_BASE_URI,
    fresh_database,
    worker_id,
)
from support.databases import fresh_database as _fresh_database  # noqa: F401  (the older name)

# Offline logging (docs/offline.md) journals writes to an unreachable server; a journal left in
# ~/.mltrail/offline could be replayed into another run's server that later gets the same port.
os.environ.setdefault("MLTRAIL_OFFLINE_DIR", tempfile.mkdtemp(prefix="mltrail-offline-"))
from support.databases import unreachable as _unreachable  # noqa: F401  (the older name)


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A URI of a fresh, empty PostgreSQL database, dropped after the session."""
    yield from fresh_database(PG_ADMIN_URI, "PostgreSQL", PG_BASE_URI)


@pytest.fixture(scope="session")
def mysql_uri() -> Iterator[str]:
    """A URI of a fresh, empty MariaDB/MySQL database, dropped after the session."""
    yield from fresh_database(MYSQL_ADMIN_URI, "MariaDB", MYSQL_BASE_URI)


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
    for var in ("MLFLOW_ACTIVE_MODEL_ID", "_MLFLOW_ACTIVE_MODEL_ID"):
        monkeypatch.delenv(var, raising=False)
    # ... and its tracking and registry URIs, kept in module globals: a parity script that set them
    # to a server its module has since stopped would send a later test's calls there.
    for module, name in (
        ("mlflow.tracking._tracking_service.utils", "_tracking_uri"),
        ("mlflow.tracking._model_registry.utils", "_registry_uri"),
    ):
        if module in sys.modules:
            monkeypatch.setattr(sys.modules[module], name, None)
    official = sys.modules.get("mlflow.tracking.fluent")
    if official is not None:
        monkeypatch.setattr(official, "_active_experiment_id", None, raising=False)
        # ... and its active and last logged model (MLflow 3): a model one test made active would
        # otherwise be linked to another test's traces and models, on another server.
        if hasattr(official, "_ACTIVE_MODEL_CONTEXT"):
            official._ACTIVE_MODEL_CONTEXT.set(official.ActiveModelContext())
        if hasattr(official, "_last_logged_model_id"):
            official._last_logged_model_id.set(None)
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


# Folders whose test modules run on one xdist worker, one after the other, as one unit of work:
# the UI suites share a session-scoped server, and its browser tests must not run two Chromiums
# at once on a 2-core machine (they starve each other into timeouts); each deep-learning training
# spreads over every core already, so two at once only slow each other down.
SHARED_WORKER_FOLDERS = ("tests/ui/", "tests/autolog_dl/")


# The longest units of work, longest first: the xdist controller hands units out in collection order,
# so a long one collected last would run alone at the end while the other worker idles. The rest
# keep their order. (Rough idle-machine seconds, session 5: the UI folder and each README tour about
# 60, the GenAI parity and readiness tests about 35, the others 20 to 30; session 8 added the Spark
# UDF module, about 60 s of a JVM's work, and the parity module against a real `mlflow server`.)
LONGEST_FIRST = (
    "tests/ui/",
    "tests/examples/test_readme.py",
    "tests/examples/test_readme_embedded.py",
    "tests/autolog_dl/",
    "tests/genai/test_genai_parity.py",
    "tests/models/test_spark_udf.py",
    "tests/server/test_readiness.py",
    "tests/server/test_mlflow_server_parity.py",
    "tests/server/test_mlflow_server_parity_genai.py",
    "tests/examples/test_examples_run.py",
    "tests/evaluation/test_toxicity.py",
    "tests/models/test_mlserver.py",
    "tests/evaluation/test_classifier_proba.py",
    "tests/evaluation/test_results_table.py",
    "tests/models/test_server_registry.py",
    "tests/autolog/test_core.py",
    "tests/evaluation/test_eval_parity2.py",
)


def _rank(nodeid: str) -> int:
    ranks = (i for i, prefix in enumerate(LONGEST_FIRST) if nodeid.startswith(prefix))
    return next(ranks, len(LONGEST_FIRST))


def pytest_collection_modifyitems(config, items) -> None:
    """Collect :data:`LONGEST_FIRST` ahead of the rest (a stable sort: modules stay whole).

    ``make test`` passes ``--no-loadscope-reorder`` so xdist keeps this order instead of its own
    (by number of tests, which says little about time).
    """
    items.sort(key=lambda item: _rank(item.nodeid))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with :data:`SHARED_WORKER_FOLDERS` each kept whole on one worker.

    pytest-xdist's own ``loadgroup`` cannot group by mark under pytest 9 (it renames node ids
    through an attribute pytest no longer reads), so the grouping is done here, by path, where
    the controller hands out the work.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFolderScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            folder = next((f for f in SHARED_WORKER_FOLDERS if nodeid.startswith(f)), None)
            return folder or super()._split_scope(nodeid)

    return SharedFolderScheduling(config, log)
