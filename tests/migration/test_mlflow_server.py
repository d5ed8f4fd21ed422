"""Against a real ``mlflow server`` 3.17 (one per module): ``mltrail export`` writes to it, the
official client reads everything back, a rerun sends nothing, and ``mltrail import`` from it brings
the same entities back into a fresh database: nothing lost on the round trip.

The data is the MLflow store of :mod:`migration._mlflow_source` (written by the official client:
runs, histories, a dataset input, artifacts, the registry, a prompt, a trace with two spans and two
assessments, a logged model with a file), first imported into a mltrail database.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from migration._mlflow_source import cached_sqlite_source
from mltrail.artifacts import get_artifact_repository
from mltrail.cli.main import cli
from mltrail.store.sql.logged_models import SqlLoggedModelStore
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.mlflow_server import start_mlflow_server, stop_mlflow_server

ALL = {"experiments": "3", "runs": "4", "metric points": "44", "params": "3", "dataset inputs": "1",
       "artifact files": "3", "registered models": "2", "model versions": "4", "aliases": "1",
       "logged models": "1", "model metric values": "1", "traces": "1", "spans": "2",
       "assessments": "2"}  # fmt: skip


def _row(output: str, kind: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(kind + "  "))
    return line[len(kind) :].split()


@pytest.fixture(scope="module")
def trip(tmp_path_factory: pytest.TempPathFactory):
    """MLflow DB -> mltrail DB -> ``mltrail export`` to mlflow server (twice) -> ``mltrail import`` back."""
    root = tmp_path_factory.mktemp("mlflow-trip")
    uri, ids = cached_sqlite_source(root / "source.db")
    first = f"sqlite:///{root / 'first.db'}"
    back = f"sqlite:///{root / 'back.db'}"
    runner = CliRunner()
    server = start_mlflow_server(root / "server")
    try:
        with contextlib.chdir(root):  # the mltrail databases' artifacts go under root
            imported = runner.invoke(cli, ["import", uri, "--tracking-uri", first, "--no-progress"])
            assert imported.exit_code == 0, imported.output
            state = str(root / "export-state.db")
            args = ["export", server.url, "--tracking-uri", first, "--state", state, "--no-progress"]
            exported = runner.invoke(cli, args)
            again = runner.invoke(cli, args)
            returned = runner.invoke(cli, ["import", server.url, "--tracking-uri", back, "--no-progress"])
        yield server, root, ids, first, back, exported, again, returned
    finally:
        stop_mlflow_server(server)


def test_export_to_mlflow_server(trip, tmp_path: Path) -> None:
    server, _, ids, _, _, exported, again, _ = trip
    assert exported.exit_code == 0, exported.output
    for kind, n in ALL.items():
        assert _row(exported.output, kind) == [n, n, n, "ok"], kind
    assert again.exit_code == 0, again.output  # a rerun sends nothing and still verifies
    for kind in ("runs", "metric points", "traces", "assessments", "logged models", "model versions"):
        assert _row(again.output, kind) == [ALL[kind], "0", ALL[kind], "ok"], kind

    client = mlflow.MlflowClient(tracking_uri=server.url)
    exp = client.get_experiment_by_name("churn")
    assert exp.tags["team"] == "ml"
    (run,) = client.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'first'")
    assert run.data.params == {"lr": "0.1", "depth": "3"} and run.data.tags["stage"] == "dev"
    loss = client.get_metric_history(run.info.run_id, "loss")
    assert sorted((m.step, m.timestamp) for m in loss) == [(s, 1_000 + s) for s in range(40)]
    assert math.isnan(client.get_metric_history(run.info.run_id, "acc")[0].value)
    assert [d.dataset.digest for d in run.inputs.dataset_inputs] == ["abc123"]
    local = client.download_artifacts(run.info.run_id, "notes/readme.txt", str(tmp_path))
    assert Path(local).read_text() == "hello"
    v1 = client.get_model_version("clf", "1")
    assert v1.current_stage == "Production" and v1.run_id == run.info.run_id and v1.tags == {"k": "v"}
    v2 = client.get_model_version("clf", "2")
    assert v2.source.startswith(f"runs:/{v2.run_id}/")  # the source follows the run's new id
    assert client.get_registered_model("clf").aliases == {"champion": "2"}
    assert client.get_experiment_by_name("old").lifecycle_stage == "deleted"
    assert client.get_prompt_version("greet", 1).template == "Hello {{name}}"

    trace = client.get_trace(ids["trace"])  # the trace id is kept
    assert [s.name for s in trace.data.spans] == ["step", "inner"]
    assert trace.data.spans[0].inputs == {"q": "hi"}
    judged = {a.name: a for a in trace.info.assessments}
    assert judged["quality"].value == 0.9 and judged["quality"].rationale == "fine"
    assert judged["expected"].value == {"a": 1}
    (model,) = client.search_logged_models([exp.experiment_id])
    assert (model.name, model.model_type, model.params, model.tags.get("t")) == (
        "agent",
        "agent",
        {"temp": "0.1"},
        "1",
    )
    assert model.source_run_id == run.info.run_id and str(model.status) == "READY"
    # its metric value, logged by another run (as the official client logs one: a run metric
    # carrying the model's id), and that run's id on this server
    (second,) = client.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'second'")
    assert [(m.key, m.value, m.step, m.timestamp, m.run_id) for m in model.metrics] == [
        ("score", 0.8, 1, 7, second.info.run_id)
    ]
    assert [m.value for m in client.get_metric_history(second.info.run_id, "score")] == [0.8]  # once
    files = mlflow.artifacts.download_artifacts(
        artifact_uri=model.artifact_location, dst_path=str(tmp_path / "model"), tracking_uri=server.url
    )
    assert (Path(files) / "MLmodel").read_text() == "flavors: {}"


def test_import_back_from_mlflow_server_loses_nothing(trip) -> None:
    _, root, ids, first, back, _, _, returned = trip
    assert returned.exit_code == 0, returned.output
    for kind, n in ALL.items():
        assert _row(returned.output, kind) == [n, n, n, "ok"], kind

    a = SqlTrackingStore(first, str(root / "mltrail-artifacts"))
    b = SqlTrackingStore(back, str(root / "mltrail-artifacts"))

    def runs(store: SqlTrackingStore) -> dict:
        out = {}
        for exp_name in ("churn", "old"):
            exp = store.get_experiment_by_name(exp_name)
            for run in store.search_runs([exp.experiment_id], run_view_type=3):
                histories = {
                    key: [
                        (m.step, m.timestamp, repr(m.value))
                        for m in store.get_metric_history(run.info.run_id, key)
                    ]
                    for key in run.data.metrics
                }
                out[run.info.run_name] = (
                    run.info.status, run.info.lifecycle_stage, run.info.start_time, run.info.end_time,
                    run.data.params, {k: v for k, v in run.data.tags.items() if k != "mlflow.artifactLocation"},
                    histories, sorted((d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs),
                )  # fmt: skip
        return out

    assert runs(a) == runs(b)
    (r1,) = [
        r
        for r in b.search_runs([b.get_experiment_by_name("churn").experiment_id])
        if r.info.run_name == "first"
    ]
    assert get_artifact_repository(r1.info.artifact_uri).read_bytes("notes/readme.txt") == b"hello"

    ra, rb = SqlRegistryStore(first), SqlRegistryStore(back)
    for name in ("clf", "greet"):
        ma, mb = ra.get_registered_model(name), rb.get_registered_model(name)
        assert (ma.description, ma.tags, ma.aliases) == (mb.description, mb.tags, mb.aliases)
    for number in ("1", "2"):
        va, vb = ra.get_model_version("clf", number), rb.get_model_version("clf", number)
        assert (va.current_stage, va.tags) == (vb.current_stage, vb.tags)
        assert a.get_run(va.run_id).info.run_name == b.get_run(vb.run_id).info.run_name  # lineage

    ta = SqlTraceStore(first).get_trace(ids["trace"])
    tb = SqlTraceStore(back).get_trace(ids["trace"])
    assert [s.to_dict() for s in ta.data.spans] == [s.to_dict() for s in tb.data.spans]
    assert (ta.info.state, ta.info.request_time, ta.info.execution_duration) == (
        tb.info.state, tb.info.request_time, tb.info.execution_duration)  # fmt: skip

    def judged(trace) -> dict:
        return {
            x.name: (x.get("feedback"), x.get("expectation"), x.rationale, x.create_time_ms)
            for x in trace.info.assessments
        }

    assert judged(ta) == judged(tb)
    exp_b = b.get_experiment_by_name("churn").experiment_id
    (mb,) = SqlLoggedModelStore(back).search_logged_models([exp_b])
    ma = SqlLoggedModelStore(first).get_logged_model(ids["model"])
    assert (ma.name, ma.model_type, ma.params, ma.status) == (mb.name, mb.model_type, mb.params, mb.status)
    assert get_artifact_repository(mb.artifact_location).read_bytes("MLmodel") == b"flavors: {}"
    # MLflow's server keeps no model_id on a version; its models:/ source links it to the import
    assert rb.get_model_version("clf", "3").model_id == mb.model_id
