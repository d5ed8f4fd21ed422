"""``mltrail import ./mlruns``: an MLflow FileStore folder written by the official client, into
SQLite (MLflow's 64-bit experiment ids kept) and MariaDB (too wide there: new ids, listed).

The folder is written elsewhere and then moved, as one copied from another machine: every
absolute path it records is gone, so runs', logged models' and traces' files are read from
their own folders (one trace has lost the tag naming its folder, too). Beside what the client wrote it holds a trace laid out by MLflow 2 (V2
``trace_info.yaml``, its spans in a ``traces.json`` outside the folder, where its tag says)
and a trace whose spans are missing (imported, and listed).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migration._mlflow_source import build_source, log_more
from mltrail.artifacts import get_artifact_repository
from mltrail.cli.main import cli
from mltrail.store.sql.logged_models import SqlLoggedModelStore
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.databases import MYSQL_ADMIN_URI, MYSQL_BASE_URI, fresh_database

V2_TRACE = "a" * 32  # MLflow 2's request ids: 32 hex digits, no ``tr-``
NO_SPANS = "tr-" + "b" * 32


def _mlflow2_trace(mlruns: Path, outside: Path, exp: str, run_id: str) -> None:
    """A trace as MLflow 2's FileStore wrote it, its spans where its ``mlflow.artifactLocation`` says."""
    folder = mlruns / exp / "traces" / V2_TRACE
    for sub in ("request_metadata", "tags"):
        (folder / sub).mkdir(parents=True)
    (folder / "trace_info.yaml").write_text(
        f"request_id: {V2_TRACE}\nexperiment_id: '{exp}'\ntimestamp_ms: 1500000000000\n"
        "execution_time_ms: 500\nstatus: ERROR\n"
    )
    (folder / "request_metadata" / "mlflow.sourceRun").write_text(run_id)
    (folder / "request_metadata" / "mlflow.trace_schema.version").write_text("2")
    (folder / "tags" / "mlflow.traceName").write_text("predict")
    outside.mkdir(parents=True)
    (folder / "tags" / "mlflow.artifactLocation").write_text(f"file://{outside}")
    span = {  # MLflow 2's span JSON: ids in "context", hex with 0x
        "name": "predict", "context": {"trace_id": "0x" + "c" * 32, "span_id": "0x" + "d" * 16},
        "parent_id": None, "start_time": 1_500_000_000_000_000_000, "end_time": 1_500_000_000_500_000_000,
        "status_code": "ERROR", "status_message": "boom", "events": [],
        "attributes": {"mlflow.traceRequestId": json.dumps(V2_TRACE), "mlflow.spanInputs": '{"x": 1}'},
    }  # fmt: skip
    (outside / "traces.json").write_text(json.dumps({"spans": [span]}))
    lost = mlruns / exp / "traces" / NO_SPANS
    lost.mkdir()
    (lost / "trace_info.yaml").write_text(
        f"trace_id: {NO_SPANS}\nrequest_time: '2024-05-01T00:00:00Z'\nstate: OK\n"
        f"trace_location:\n  type: MLFLOW_EXPERIMENT\n  mlflow_experiment:\n    experiment_id: '{exp}'\n"
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("mlruns-source")
    ids = build_source(f"file://{root / 'built'}", root)
    shutil.move(root / "built", root / "mlruns")  # copied from elsewhere: the recorded paths are gone
    _mlflow2_trace(root / "mlruns", root / "v2-spans", ids["exp"], ids["r1"])
    # a trace without its mlflow.artifactLocation tag: the spans are in its own artifacts/ folder
    (root / "mlruns" / ids["exp"] / "traces" / ids["run_trace"] / "tags" / "mlflow.artifactLocation").unlink()
    return root, ids


def _import(src: str, dest: str, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["import", src, "--tracking-uri", dest, "--no-progress", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _row(output: str, kind: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(kind + "  "))
    return line[len(kind) :].split()


def test_import_mlruns_folder(source, tmp_path: Path, monkeypatch) -> None:
    root, ids = source
    monkeypatch.chdir(tmp_path)
    dest = f"sqlite:///{tmp_path / 'dest.db'}"
    out = _import(str(root / "mlruns"), dest)
    assert _row(out, "metric points") == ["44", "44", "44", "ok"]
    assert _row(out, "dataset inputs") == ["1", "1", "1", "ok"]
    for kind, n in (("traces", "4"), ("spans", "4"), ("assessments", "2"), ("logged models", "2"),
                    ("artifact files", "4"), ("model versions", "4"), ("registered models", "2"),
                    ("model metric values", "1")):  # fmt: skip
        assert _row(out, kind) == [n, n, n, "ok"], kind
    assert f"  trace spans {NO_SPANS}: no mlflow.artifactLocation tag and no " in out  # imported, listed

    store = SqlTrackingStore(dest, str(tmp_path / "mltrail-artifacts"))
    assert store.get_experiment(ids["exp"]).tags["team"] == "ml"  # a FileStore id, kept on SQLite
    assert store.get_experiment(ids["old"]).lifecycle_stage == "deleted"  # from .trash
    r1 = store.get_run(ids["r1"])
    assert r1.info.status == "FINISHED" and r1.info.user_id
    assert r1.data.params == {"lr": "0.1", "depth": "3"}
    assert [m.value for m in store.get_metric_history(ids["r1"], "loss")][:2] == [1.0, 0.5]
    (inp,) = r1.inputs.dataset_inputs
    assert inp.dataset.source_type == "http" and {t.key: t.value for t in inp.tags} == {
        "mlflow.data.context": "training"
    }
    assert get_artifact_repository(r1.info.artifact_uri).read_bytes("notes/readme.txt") == b"hello"
    assert store.get_run(ids["r2"]).info.status == "FAILED"
    assert store.get_run(ids["r3"]).info.lifecycle_stage == "deleted"

    registry = SqlRegistryStore(dest)
    v1 = registry.get_model_version("clf", "1")
    assert v1.current_stage == "Production" and v1.run_id == ids["r1"]
    assert v1.source == r1.info.artifact_uri + "/model"
    assert registry.get_registered_model("clf").aliases == {"champion": "2"}
    v3 = registry.get_model_version("clf", "3")  # the version's model_id, kept in its meta.yaml
    assert v3.model_id == ids["model"] and v3.source == f"models:/{ids['model']}"
    assert registry.get_registered_model("greet").tags.get("mlflow.prompt.is_prompt") == "true"

    models = SqlLoggedModelStore(dest)
    model = models.get_logged_model(ids["model"])  # the id is kept, the files copied (nested too)
    assert (model.name, model.model_type, str(model.status)) == ("agent", "agent", "READY")
    assert model.source_run_id == ids["r1"] and model.params == {"temp": "0.1"} and model.tags == {"t": "1"}
    files = get_artifact_repository(model.artifact_location)
    assert files.read_bytes("MLmodel") == b"flavors: {}" and files.read_bytes("sub/weights.bin") == b"0123456789"
    (value,) = model.metrics  # its metrics/ file, linked to the run that logged it
    assert (value.key, value.value, value.step, value.run_id) == ("score", 0.8, 1, ids["r2"])
    assert models.get_logged_model(ids["gone"], allow_deleted=True).name == "dropped"  # still deleted
    with pytest.raises(Exception, match="not found"):
        models.get_logged_model(ids["gone"])

    traces = SqlTraceStore(dest)
    trace = traces.get_trace(ids["trace"])  # id, spans and assessments kept
    assert trace.info.experiment_id == ids["exp"]
    assert [s.name for s in trace.data.spans] == ["step", "inner"]
    assert trace.data.spans[0].inputs == {"q": "hi"}
    judged = {a.name: a for a in trace.info.assessments}
    assert judged["quality"].feedback.value == 0.9 and judged["quality"].rationale == "fine"
    assert judged["expected"].expectation.value == {"a": 1}
    in_run = traces.get_trace(ids["run_trace"])  # made inside r2 with the logged model active
    assert in_run.info.trace_metadata["mlflow.sourceRun"] == ids["r2"]
    assert in_run.info.trace_metadata["mlflow.modelId"] == ids["model"]
    assert in_run.data.spans[0].outputs == {"a": 2}
    old = traces.get_trace(V2_TRACE)  # MLflow 2's layout: V2 info, spans from where the tag says
    assert (old.info.state, old.info.execution_duration, old.info.request_time) == ("ERROR", 500, 1_500_000_000_000)
    assert old.info.tags["mlflow.traceName"] == "predict"
    (span,) = old.data.spans
    assert (span.name, span.inputs, span.trace_id) == ("predict", {"x": 1}, V2_TRACE)
    assert traces.get_trace(NO_SPANS).data.spans == []

    log_more(f"file://{root / 'mlruns'}", root, ids["r1"])
    again = _import(str(root / "mlruns"), dest, "--since", "2020-01-01")
    assert _row(again, "metric points")[:2] == ["45", "1"]
    assert len(store.get_metric_history(ids["r1"], "loss")) == 41
    # nothing twice; the MLflow 2 trace (2017) is before --since
    assert _row(again, "traces") == ["3", "0", "3", "ok"]
    assert _row(again, "logged models") == ["2", "0", "2", "ok"]
    assert _row(again, "model metric values") == ["1", "0", "1", "ok"]
    assert _row(again, "assessments") == ["2", "0", "2", "ok"]
    assert len(traces.get_trace(ids["trace"]).info.assessments) == 2


def test_import_mlruns_into_mariadb_renumbers_wide_experiment_ids(
    source, tmp_path: Path, monkeypatch
) -> None:
    root, ids = source
    monkeypatch.chdir(tmp_path)
    databases = fresh_database(MYSQL_ADMIN_URI, "MariaDB", MYSQL_BASE_URI)
    dest = next(databases)
    try:
        out = _import(str(root / "mlruns"), dest, "--experiment", "churn")
        assert f"experiment id {ids['exp']} (churn): imported as" in out
        store = SqlTrackingStore(dest, str(tmp_path / "mltrail-artifacts"))
        run = store.get_run(ids["r1"])  # run ids are kept
        assert store.get_experiment(run.info.experiment_id).name == "churn"
        assert _row(out, "runs") == ["3", "3", "3", "ok"]
        assert _row(out, "traces") == ["4", "4", "4", "ok"] and _row(out, "logged models")[2:] == ["2", "ok"]
        assert _row(out, "model metric values") == ["1", "1", "1", "ok"]
        trace = SqlTraceStore(dest).get_trace(ids["trace"])  # in the renumbered experiment
        assert trace.info.experiment_id == run.info.experiment_id and len(trace.data.spans) == 2
        assert SqlRegistryStore(dest).get_model_version("clf", "3").model_id == ids["model"]
    finally:
        databases.close()
