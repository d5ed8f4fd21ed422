"""``mltrail import http://…``: read a tracking server over MLflow's REST API (a live
``mltrail server`` filled by the official client; same wire as an MLflow server), artifacts
through its proxy, histories paged, traces with spans and assessments, logged models with their
files; a rerun brings nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from migration._mlflow_source import build_source
from mltrail.artifacts import get_artifact_repository
from mltrail.cli.main import cli
from mltrail.migration.importer import Importer, Progress
from mltrail.migration.rest import RestSource
from mltrail.migration.writer import SqlDestination
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.live_server import start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    server = start_server(tmp_path_factory.mktemp("server"))
    try:  # the server is stopped even when filling it fails or times out
        yield server, build_source(server.url, server.root)
    finally:
        stop_server(server)


def _import(src: str, dest: str) -> str:
    result = CliRunner().invoke(cli, ["import", src, "--tracking-uri", dest, "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.output


def _row(output: str, kind: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(kind + "  "))
    return line[len(kind) :].split()


def test_import_from_server(server, tmp_path: Path, monkeypatch) -> None:
    live, ids = server
    monkeypatch.chdir(tmp_path)
    dest = f"sqlite:///{tmp_path / 'dest.db'}"
    out = _import(live.url, dest)
    assert _row(out, "metric points") == ["44", "44", "44", "ok"]
    for kind, n in (("artifact files", "3"), ("traces", "1"), ("spans", "2"), ("assessments", "2"),
                    ("logged models", "1"), ("model metric values", "1")):  # fmt: skip
        assert _row(out, kind) == [n, n, n, "ok"], kind

    store = SqlTrackingStore(dest, str(tmp_path / "mltrail-artifacts"))
    r1 = store.get_run(ids["r1"])
    assert r1.info.experiment_id == ids["exp"] and r1.data.params == {"lr": "0.1", "depth": "3"}
    assert [m.step for m in store.get_metric_history(ids["r1"], "loss")] == list(range(40))
    assert get_artifact_repository(r1.info.artifact_uri).read_bytes("notes/readme.txt") == b"hello"
    assert store.get_experiment(ids["old"]).lifecycle_stage == "deleted"
    registry = SqlRegistryStore(dest)
    assert registry.get_model_version("clf", "1").current_stage == "Production"
    assert registry.get_registered_model("clf").aliases == {"champion": "2"}
    assert registry.get_model_version("clf", "3").model_id == ids["model"]  # the version's logged model

    ticks: list[str] = []
    totals: list[int] = []
    src = RestSource(live.url)  # a rerun counts the same entities: the total covers traces and models
    try:
        target = SqlDestination(store, registry)
        Importer(src, target, progress=Progress(total=totals.append, entity=ticks.append)).run()
    finally:
        src.close()
    assert totals == [len(ticks)] and ticks.count("trace") == 1 and ticks.count("logged model") == 1

    again = _import(live.url, dest)
    assert _row(again, "runs") == ["4", "0", "4", "ok"]
    assert _row(again, "metric points") == ["44", "0", "44", "ok"]
    assert _row(again, "traces") == ["1", "0", "1", "ok"] and _row(again, "assessments") == [
        "2",
        "0",
        "2",
        "ok",
    ]
    assert len(store.get_metric_history(ids["r1"], "loss")) == 40
