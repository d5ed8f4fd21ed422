"""Ready means ready: the first 200 from ``/health`` means every request can be served.

A client that logs a model the moment a fresh server first answers used to get
"No Experiment with id=0 exists" on about one start in three: the logged-model
store found the new tables before the tracking store had created the Default
experiment. Each test starts fresh servers on fresh databases and calls at once.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import mlflow
import mlflow.pyfunc
import pytest
from mlflow.tracking import MlflowClient

from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig
from support.databases import PG_ADMIN_URI, PG_BASE_URI, fresh_database
from support.live_server import running_server


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: list[str]) -> list[str]:
        return model_input


@pytest.fixture
def fresh_postgres():
    """A new, empty PostgreSQL database per call (the session's ``postgres_uri`` is shared)."""

    def make():
        gen = fresh_database(PG_ADMIN_URI, "PostgreSQL", PG_BASE_URI)
        made.append(gen)
        return next(gen)

    made: list = []
    yield make
    for gen in made:
        next(gen, None)  # drops the database


def _use_at_once(url: str, log_model: bool) -> None:
    client = MlflowClient(url)
    model = client.create_logged_model(experiment_id="0")
    assert model.experiment_id == "0"
    run = client.create_run("0")
    client.log_metric(run.info.run_id, "m", 1.0)
    if log_model:
        mlflow.set_tracking_uri(url)
        try:
            info = mlflow.pyfunc.log_model(name="echo", python_model=Echo())
            assert info.model_id
        finally:
            mlflow.set_tracking_uri(None)


def _start_and_use(root, backend, *args: str, log_model: bool = False) -> None:
    with running_server(root, backend, *args) as server:
        _use_at_once(server.url, log_model)


def test_fresh_sqlite_server_is_usable_at_first_200(tmp_path):
    for i in range(4):
        _start_and_use(tmp_path / f"s{i}", None, log_model=i == 0)
    _start_and_use(tmp_path / "w", None, "--workers", "2")


@pytest.mark.postgres
def test_fresh_postgres_server_is_usable_at_first_200(tmp_path, fresh_postgres):
    for i in range(2):
        _start_and_use(tmp_path / f"p{i}", fresh_postgres(), log_model=i == 0)
    _start_and_use(tmp_path / "w", fresh_postgres(), "--workers", "2")


def _get(app, *paths: str) -> list[httpx.Response]:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
            return [await c.get(p) for p in paths]

    return asyncio.run(go())


def test_first_request_to_an_app_without_lifespan_waits_for_the_stores(tmp_path):
    app = create_app(ServerConfig(backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
                                  artifacts_destination=str(tmp_path / "a")))

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
            return await c.post("/api/2.0/mlflow/logged-models", json={"experiment_id": "0"})

    resp = asyncio.run(go())
    assert resp.status_code == 200, resp.text
    assert resp.json()["model"]["info"]["experiment_id"] == "0"


def test_health_is_503_until_the_stores_are_open(tmp_path):
    # No lifespan under the ASGI transport: the first probe starts the opening itself.
    app = create_app(ServerConfig(backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
                                  artifacts_destination=str(tmp_path / "a")))
    deadline = time.monotonic() + 60
    while True:
        (resp,) = _get(app, "/health")
        if resp.status_code == 200:
            break
        assert resp.status_code == 503
        assert resp.json() == {"status": "STARTING", "error_code": "TEMPORARILY_UNAVAILABLE",
                               "message": "The server is opening its database; try again shortly"}
        assert time.monotonic() < deadline
    assert resp.text == "OK"
    (exp,) = _get(app, "/api/2.0/mlflow/experiments/get?experiment_id=0")
    assert exp.json()["experiment"]["name"] == "Default"


def test_health_reports_an_unreachable_database(tmp_path):
    app = create_app(ServerConfig(backend_store_uri="postgresql+psycopg://u:secret@127.0.0.1:1/none",
                                  artifacts_destination=str(tmp_path / "a")))
    deadline = time.monotonic() + 60
    while True:
        (resp,) = _get(app, "/health")
        assert resp.status_code == 503 and resp.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        if resp.json()["status"] == "UNAVAILABLE":
            break
        assert time.monotonic() < deadline
    assert "cannot open its tracking store" in resp.json()["message"] and "secret" not in resp.text
    # Requests do not hang on a failed start: the store's own clear 503.
    (call,) = _get(app, "/api/2.0/mlflow/experiments/get?experiment_id=0")
    assert call.status_code == 503 and call.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"


def test_artifacts_only_server_is_ready_at_once(tmp_path):
    app = create_app(ServerConfig(artifacts_only=True, artifacts_destination=str(tmp_path / "a")))
    (resp,) = _get(app, "/health")
    assert resp.status_code == 200 and resp.text == "OK"
