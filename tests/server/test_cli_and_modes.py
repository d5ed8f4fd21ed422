"""The ``mltrail server`` command and the app's modes (artifacts-only, no proxy, UI mounting)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from click.testing import CliRunner

from mltrail.cli.main import cli
from mltrail.cli.server import build_config, mask_uri, parse_size
from mltrail.server.app import create_app
from mltrail.server.config import ServerConfig
from support.live_server import start_server, stop_server


def _run(app, *requests):
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
            return [await c.request(m, u, **kw) for m, u, kw in requests]

    return asyncio.run(go())


def test_help_lists_mlflow_options():
    result = CliRunner().invoke(cli, ["server", "--help"])
    assert result.exit_code == 0
    for opt in ("--backend-store-uri", "--registry-store-uri", "--default-artifact-root", "--artifacts-destination",
                "--serve-artifacts", "--no-serve-artifacts", "--artifacts-only", "--host", "--port", "--workers",
                "--max-body-size"):
        assert opt in result.output
    assert CliRunner().invoke(cli, ["ui", "--help"]).exit_code == 0


def test_passwords_are_masked_and_sizes_parsed():
    assert mask_uri("postgresql+psycopg://bob:s3cret@db:5432/mltrail") == "postgresql+psycopg://bob:***@db:5432/mltrail"
    assert mask_uri("sqlite:///mltrail.db") == "sqlite:///mltrail.db"
    assert parse_size("1048576") == 1048576 and parse_size("64MB") == 64 * 2**20 and parse_size("2k") == 2048
    cfg = build_config(default_artifact_root="some/folder", max_body_size="1M")
    assert cfg.default_artifact_root.startswith("/") and cfg.max_body_bytes == 2**20
    assert cfg.host == "127.0.0.1" and cfg.port == 5000 and cfg.serve_artifacts


def test_startup_line_masks_the_password(tmp_path):
    server = start_server(tmp_path, None, "--artifacts-only", "--artifacts-destination",
                          "s3://user:hunter2@bucket/prefix")
    try:
        log = (tmp_path / "server.log").read_text()
        assert "artifact proxy listening on http://127.0.0.1" in log
        assert "hunter2" not in log
    finally:
        stop_server(server)


def test_artifacts_only_serves_just_the_proxy(tmp_path):
    app = create_app(ServerConfig(artifacts_only=True, artifacts_destination=str(tmp_path / "art"),
                                  backend_store_uri="postgresql://nobody@127.0.0.1:1/none"))
    put, get, runs, health = _run(
        app,
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/a/b.txt", {"content": b"hi"}),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/a/b.txt", {}),
        ("GET", "/api/2.0/mlflow/runs/get?run_id=x", {}),
        ("GET", "/health", {}),
    )
    assert put.status_code == 200 and get.content == b"hi"
    assert runs.status_code == 404 and runs.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert health.text == "OK"


def test_no_serve_artifacts_uses_the_destination_as_root(tmp_path):
    dest = tmp_path / "art"
    app = create_app(ServerConfig(serve_artifacts=False, artifacts_destination=str(dest),
                                  backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    create, proxy = _run(
        app,
        ("POST", "/api/2.0/mlflow/experiments/create", {"json": {"name": "plain"}}),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts", {}),
    )
    exp_id = create.json()["experiment_id"]
    (got,) = _run(app, ("GET", f"/api/2.0/mlflow/experiments/get?experiment_id={exp_id}", {}))
    assert got.json()["experiment"]["artifact_location"].startswith(str(dest))
    assert proxy.status_code == 404


def test_ajax_prefix_and_ui_are_mounted(tmp_path):
    app = create_app(ServerConfig(backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
                                  artifacts_destination=str(tmp_path / "art")))
    ajax, root = _run(
        app,
        ("GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=0", {}),
        ("GET", "/", {}),
    )
    assert ajax.status_code == 200 and ajax.json()["experiment"]["name"] == "Default"
    if root.status_code != 404:  # the UI module is present in this build
        assert root.status_code == 200 and "text/html" in root.headers["content-type"]


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_bad_options_fail_cleanly(workers):
    result = CliRunner().invoke(cli, ["server", "--workers", workers])
    assert result.exit_code != 0 and "workers" in result.output.lower()


def test_unreachable_database_is_a_clear_503(tmp_path):
    app = create_app(ServerConfig(backend_store_uri="postgresql+psycopg://u:secret@127.0.0.1:1/none",
                                  artifacts_destination=str(tmp_path / "art")))
    (resp,) = _run(app, ("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", {}))
    assert resp.status_code == 503
    assert resp.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert "secret" not in resp.text
