"""The tracking store contract suite (tests/store), run through HTTP: RestTrackingStore -> server -> SQLite.

Each test gets a fresh server app (in a uvicorn thread on a free port) over a
fresh SQLite file, so the contract's assumptions (an empty store, the default
artifact root under ``tmp_path``) hold exactly as for the SQL store.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import pytest

from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig
from mltrail.store.rest import RestTrackingStore
from support.live_server import free_port

_STORE_TESTS = Path(__file__).parents[1] / "store"
_SUITES = ("test_sql_tracking_store.py", "test_store_validation.py", "test_ui_reads_contract.py")
# Tests that reach into the SQL engine or use server-side-only operations (gc).
_SQL_ONLY = {
    "test_gc_helpers",
    "test_hard_delete_experiment_purges_rows_of_other_domains",
    "test_log_inputs_dedupes",
    "test_keys_differing_in_case",
}


def _load_suites() -> dict[str, object]:
    """The suites' test functions (and the ``run_id`` fixture), minus SQL-only tests."""
    found: dict[str, object] = {}
    for name in _SUITES:
        path = _STORE_TESTS / name
        if not path.exists():
            continue
        spec = importlib.util.spec_from_file_location(f"_contract_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for attr, value in vars(module).items():
            if (attr.startswith("test_") and attr not in _SQL_ONLY) or attr == "run_id":
                found[attr] = value
    return found


globals().update(_load_suites())


@pytest.fixture
def db_uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def store(db_uri, tmp_path, monkeypatch):
    """A RestTrackingStore talking to a fresh in-thread server (metrics sent synchronously)."""
    import uvicorn

    monkeypatch.setenv("MLTRAIL_ASYNC_LOGGING", "false")
    config = ServerConfig(backend_store_uri=db_uri, default_artifact_root=str(tmp_path / "artifacts"),
                          artifacts_destination=str(tmp_path / "proxy"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning",
                                           loop="asyncio", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.01)
    rest = RestTrackingStore(f"http://127.0.0.1:{port}")
    rest.http.backoff = 0.01
    yield rest
    rest.http.close()
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def sqlite_store(store):
    """The validation suite's name for the store under test."""
    return store
