"""``mltrail export URL``: a mltrail database (imported from a real MLflow one) written to a
tracking server over MLflow's REST API, read back with the official ``mlflow`` client, then
imported again from that server into a fresh database: nothing lost on the round trip.

The server here is ``mltrail server`` (the same REST API); ``test_mlflow_server.py`` does the same
against a real ``mlflow server`` 3.17.2."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from migration._mlflow_source import cached_sqlite_source
from mltrail.cli.main import cli
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.live_server import start_server, stop_server


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("export")
    uri, ids = cached_sqlite_source(root / "mlflow.db")
    server = start_server(root / "server")
    try:  # the server is stopped even when an import or export fails or times out
        mltrail_db = f"sqlite:///{root / 'mltrail.db'}"
        runner = CliRunner()
        with contextlib.chdir(root):  # the mltrail database's artifacts go under root
            first = runner.invoke(cli, ["import", uri, "--tracking-uri", mltrail_db, "--no-progress"])
            assert first.exit_code == 0, first.output
            state = str(root / "export-state.db")
            args = ["export", server.url, "--tracking-uri", mltrail_db, "--state", state, "--no-progress"]
            out = runner.invoke(cli, args)
            again = runner.invoke(cli, args)
        yield server, root, ids, out, again
    finally:
        stop_server(server)


def _row(output: str, kind: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(kind + "  "))
    return line[len(kind) :].split()


def test_export_then_official_client_reads_it(exported, tmp_path: Path) -> None:
    server, _, _, out, again = exported
    assert out.exit_code == 0, out.output
    assert _row(out.output, "metric points") == ["44", "44", "44", "ok"]
    assert _row(out.output, "model metric values") == ["1", "1", "1", "ok"]
    assert again.exit_code == 0 and _row(again.output, "runs") == ["4", "0", "4", "ok"]

    client = mlflow.MlflowClient(tracking_uri=server.url)
    exp = client.get_experiment_by_name("churn")
    assert exp.tags["team"] == "ml"
    (run,) = client.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'first'")
    assert run.data.params == {"lr": "0.1", "depth": "3"}
    loss = client.get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in loss) == list(range(40))
    assert math.isnan(client.get_metric_history(run.info.run_id, "acc")[0].value)
    assert [d.dataset.digest for d in run.inputs.dataset_inputs] == ["abc123"]
    local = client.download_artifacts(run.info.run_id, "notes/readme.txt", str(tmp_path))
    assert Path(local).read_text() == "hello"
    v1 = client.get_model_version("clf", "1")
    assert v1.current_stage == "Production" and v1.run_id == run.info.run_id
    assert client.get_registered_model("clf").aliases == {"champion": "2"}
    assert client.get_experiment_by_name("old").lifecycle_stage == "deleted"


def test_round_trip_back_loses_nothing(exported, tmp_path: Path, monkeypatch) -> None:
    server = exported[0]
    monkeypatch.chdir(tmp_path)
    dest = f"sqlite:///{tmp_path / 'back.db'}"
    result = CliRunner().invoke(cli, ["import", server.url, "--tracking-uri", dest, "--no-progress"])
    assert result.exit_code == 0, result.output
    for kind, n in (("runs", "4"), ("metric points", "44"), ("params", "3"), ("artifact files", "3"),
                    ("model versions", "4"), ("aliases", "1"), ("dataset inputs", "1"), ("traces", "1"),
                    ("spans", "2"), ("assessments", "2"), ("logged models", "1")):  # fmt: skip
        assert _row(result.output, kind)[0] == n, kind
    store = SqlTrackingStore(dest, str(tmp_path / "mltrail-artifacts"))
    exp = store.get_experiment_by_name("churn")
    names = {r.info.run_name for r in store.search_runs([exp.experiment_id], run_view_type=3)}
    assert names == {"first", "second", "gone"}
    assert SqlRegistryStore(dest).get_model_version("clf", "1").current_stage == "Production"
