"""Repeated fast reads run on the event loop, everything else on the database thread
(``Endpoint.inline_if_fast``, :class:`mltrail.server.db_thread.FastRepeats`)."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from starlette.testclient import TestClient

from mltrail.server import db_thread
from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig
from mltrail.server.db_thread import DbThread, FastRepeats
from mltrail.server.dispatch import make_request_handler
from mltrail.server.routing import Call, Endpoint
from mltrail.server.scope import USER_SCOPE_KEY
from mltrail.store.workspace_scope import in_workspace


class Query(msgspec.Struct):
    name: str = ""
    limit: int = 10


def test_first_seen_is_not_fast_then_a_fast_run_is():
    repeats = FastRepeats(threshold=1.0, ttl=100.0, clock=lambda: 6.0)
    assert not repeats.fast("a")
    repeats.record("a", 5.0, 5.5)
    assert repeats.fast("a")
    assert not repeats.fast("b")


def test_a_slow_run_is_not_fast_and_a_request_that_became_slow_goes_back():
    repeats = FastRepeats(threshold=1.0, ttl=100.0, clock=lambda: 6.0)
    repeats.record("slow", 0.0, 2.0)
    assert not repeats.fast("slow")
    repeats.record("grew", 0.0, 0.1)
    assert repeats.fast("grew")
    repeats.record("grew", 1.0, 3.0)  # the same request, now over the threshold
    assert not repeats.fast("grew")


def test_an_old_time_is_not_trusted():
    now = [10.0]
    repeats = FastRepeats(threshold=1.0, ttl=5.0, clock=lambda: now[0])
    repeats.record("a", 9.9, 10.0)
    assert repeats.fast("a")
    now[0] = 16.0
    assert not repeats.fast("a")


def test_the_map_stays_bounded_and_drops_the_least_recently_used():
    repeats = FastRepeats(threshold=1.0, size=3, ttl=100.0, clock=lambda: 6.0)
    for key in "abc":
        repeats.record(key, 0.0, 0.1)
    assert repeats.fast("a")  # used: "b" is now the oldest
    for key in "defgh":
        repeats.record(key, 0.0, 0.1)
        assert len(repeats) <= 3
    assert len(repeats) == 3
    assert [k for k in "abcdefgh" if repeats.fast(k)] == ["f", "g", "h"]
    repeats.record("i", 0.0, 0.1)  # drops "f", the least recently used
    repeats.record("a", 0.0, 0.1)  # drops "g"
    assert [k for k in "abcdefghi" if repeats.fast(k)] == ["a", "h", "i"]


@pytest.mark.parametrize("flags", [{"write": True}, {"inline": True}])
def test_never_on_writes_or_always_inline_endpoints(flags):
    with pytest.raises(ValueError, match="inline_if_fast"):
        Endpoint("/x", ("POST",), lambda call: {}, inline_if_fast=True, **flags)


class _Spy:
    """A handler that notes the thread each call ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def __call__(self, call: Call) -> dict[str, Any]:
        self.threads.append(threading.current_thread().name)
        return {"name": call.body.name}


def _client(tmp_path, spy: _Spy, backend: str = "") -> TestClient:
    from starlette.applications import Starlette
    from starlette.routing import Route

    config = ServerConfig(backend_store_uri=backend or f"sqlite:///{tmp_path / 'db.sqlite'}")
    ep = Endpoint("/q", ("POST",), spy, request=Query, db_only=True, inline_if_fast=True)
    app = Starlette(routes=[Route("/q", make_request_handler(ep, config), methods=["POST"])])
    app.state.db_executor = DbThread("test-db")
    return TestClient(app)


def test_a_repeated_fast_request_runs_inline_and_a_new_one_on_the_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(db_thread, "FAST_REPEAT_SECONDS", 60.0)  # every run counts as fast
    spy = _Spy()
    with _client(tmp_path, spy) as client:
        for content in (
            b'{"name": "a", "limit": 5}',
            b'{"name": "a", "limit": 5}',
            b'{"limit":5,"name":"a"}',  # the same request, spelled otherwise
            b'{"name": "b", "limit": 5}',
            b'{"name": "b", "limit": 5}',
        ):
            response = client.post("/q", content=content)
            assert response.status_code == 200, response.text
    db = "test-db"
    assert spy.threads[0] == db and spy.threads[3] == db  # first seen: the database thread
    assert db not in (spy.threads[1], spy.threads[2], spy.threads[4])  # repeats: the event loop


def test_a_slow_request_keeps_going_to_the_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(db_thread, "FAST_REPEAT_SECONDS", 0.0)  # every run counts as slow
    spy = _Spy()
    with _client(tmp_path, spy) as client:
        for _ in range(4):
            assert client.post("/q", json={"name": "a"}).status_code == 200
    assert spy.threads == ["test-db"] * 4


def test_a_long_body_is_not_remembered(tmp_path, monkeypatch):
    monkeypatch.setattr(db_thread, "FAST_REPEAT_SECONDS", 60.0)
    monkeypatch.setattr(db_thread, "FAST_REPEAT_KEY_BYTES", 100)
    spy = _Spy()
    with _client(tmp_path, spy) as client:
        for name in ("x" * 200, "x" * 200, "short", "short"):
            assert client.post("/q", json={"name": name}).status_code == 200
    assert spy.threads[:3] == ["test-db"] * 3 and spy.threads[3] != "test-db"


def test_networked_databases_never_run_inline(tmp_path, monkeypatch):
    monkeypatch.setattr(db_thread, "FAST_REPEAT_SECONDS", 60.0)
    spy = _Spy()
    with _client(tmp_path, spy, backend="postgresql://u@127.0.0.1:1/none") as client:
        for _ in range(3):
            assert client.post("/q", json={"name": "a"}).status_code == 200
    assert spy.threads == ["test-db"] * 3


def test_user_and_workspace_are_part_of_the_request():
    """The same body from another user or in another workspace is another request."""
    repeats = FastRepeats(threshold=60.0)
    db = DbThread("test-db")
    spy = _Spy()

    from mltrail.server.dispatch import _timed_run

    def call(user: str | None) -> Call:
        scope = {USER_SCOPE_KEY: SimpleNamespace(username=user)} if user else {}
        return Call(SimpleNamespace(scope=scope), Query(name="a"))

    async def run_all() -> None:
        await _timed_run(repeats, db, spy, call("ann"))
        await _timed_run(repeats, db, spy, call("ann"))
        await _timed_run(repeats, db, spy, call("bob"))
        with in_workspace("team-a"):
            await _timed_run(repeats, db, spy, call("ann"))
            await _timed_run(repeats, db, spy, call("ann"))

    try:
        asyncio.run(run_all())
    finally:
        db.shutdown()
    here = threading.current_thread().name
    assert spy.threads == ["test-db", here, "test-db", "test-db", here]


def test_runs_search_moves_to_the_event_loop_once_seen_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(db_thread, "FAST_REPEAT_SECONDS", 60.0)
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'mltrail.db'}", artifacts_destination=str(tmp_path / "a")
    )
    threads: list[str] = []
    with TestClient(create_app(config), base_url="http://localhost") as client:
        store = client.app.state.tracking_store
        real = store.search_runs_json

        def spy(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return real(*args, **kwargs)

        monkeypatch.setattr(store, "search_runs_json", spy)
        client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
        bodies = [
            client.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": ["0"]}).content
            for _ in range(3)
        ]
    assert bodies[0] == bodies[1] == bodies[2] and b'"runs"' in bodies[0]
    assert threads[0] == "mltrail-db"
    assert "mltrail-db" not in threads[1:]
