"""``mltrail import`` from a database laid out as MLflow 2.x left it.

MLflow 3's Alembic history holds the 2.x one: the schema is built as MLflow builds a new
database (its initial tables, then its migrations), stopped at ``0584bdc529eb``, the last
revision of MLflow 2.x (the next one, ``400f98739977``, adds MLflow 3's logged models). So
there are no ``logged_models``, ``spans`` or ``assessments`` tables, traces keep their spans in
``traces.json`` under the trace's artifact folder (MLflow 2's span JSON, ids in a ``context``),
and metrics have no ``model_id``. Rows are written with SQL as MLflow 2 wrote them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from mltrail.artifacts import get_artifact_repository
from mltrail.cli.main import cli
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore

LAST_MLFLOW_2_REVISION = "0584bdc529eb"

# In a child process: MLflow's Alembic set-up configures logging and engines globally.
_BUILD = """
import sys
import sqlalchemy as sa
from alembic import command
from mlflow.store.tracking.dbmodels.initial_models import Base
from mlflow.store.db.utils import _get_alembic_config
engine = sa.create_engine(sys.argv[1])
Base.metadata.create_all(engine)
with engine.begin() as conn:
    config = _get_alembic_config(sys.argv[1])
    config.attributes["connection"] = conn
    command.upgrade(config, sys.argv[2])
"""

RUN = "a" * 32
TRACE = "tr-" + "b" * 32


def _fill(uri: str, root: Path) -> None:
    engine = sa.create_engine(uri)
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    art = root / "artifacts"
    (art / "1" / RUN / "artifacts").mkdir(parents=True)
    (art / "1" / RUN / "artifacts" / "model.pkl").write_bytes(b"pickled")
    trace_dir = art / "1" / "traces" / TRACE / "artifacts"
    trace_dir.mkdir(parents=True)
    span = {  # MLflow 2's span JSON: ids in "context", hex with 0x
        "name": "predict", "context": {"trace_id": "0x" + "c" * 32, "span_id": "0x" + "d" * 16},
        "parent_id": None, "start_time": 1_700_000_000_000_000_000, "end_time": 1_700_000_000_500_000_000,
        "status_code": "OK", "status_message": "", "events": [],
        "attributes": {"mlflow.traceRequestId": json.dumps(TRACE), "mlflow.spanType": '"CHAIN"',
                       "mlflow.spanInputs": '{"x": 1}'},
    }  # fmt: skip
    (trace_dir / "traces.json").write_text(json.dumps({"spans": [span]}))
    with engine.begin() as conn:
        conn.execute(sa.insert(t["experiments"]), [{
            "experiment_id": 1, "name": "legacy", "artifact_location": str(art / "1"),
            "lifecycle_stage": "active", "creation_time": 1_700_000_000_000, "last_update_time": 1_700_000_000_000}])  # fmt: skip
        conn.execute(sa.insert(t["experiment_tags"]), [{"key": "team", "value": "old", "experiment_id": 1}])
        conn.execute(sa.insert(t["runs"]), [{
            "run_uuid": RUN, "name": "fit", "source_type": "LOCAL", "source_name": "train.py",
            "entry_point_name": "", "user_id": "ann", "status": "FINISHED", "start_time": 1_700_000_000_000,
            "end_time": 1_700_000_100_000, "source_version": "", "lifecycle_stage": "active",
            "artifact_uri": str(art / "1" / RUN / "artifacts"), "experiment_id": 1}])  # fmt: skip
        conn.execute(sa.insert(t["metrics"]), [
            {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1_700_000_000_000 + s, "run_uuid": RUN,
             "step": s, "is_nan": False} for s in range(25)])  # fmt: skip
        conn.execute(sa.insert(t["params"]), [{"key": "alpha", "value": "0.5", "run_uuid": RUN}])
        conn.execute(sa.insert(t["tags"]), [{"key": "mlflow.runName", "value": "fit", "run_uuid": RUN}])
        conn.execute(sa.insert(t["datasets"]), [{
            "dataset_uuid": "ds1", "experiment_id": 1, "name": "iris", "digest": "d1g3st",
            "dataset_source_type": "local", "dataset_source": '{"uri": "/data/iris.csv"}'}])  # fmt: skip
        conn.execute(sa.insert(t["inputs"]), [{
            "input_uuid": "in1", "source_type": "DATASET", "source_id": "ds1", "destination_type": "RUN",
            "destination_id": RUN}])  # fmt: skip
        conn.execute(sa.insert(t["input_tags"]), [{"input_uuid": "in1", "name": "mlflow.data.context",
                                                   "value": "training"}])  # fmt: skip
        conn.execute(sa.insert(t["registered_models"]), [{
            "name": "iris-clf", "creation_time": 1_700_000_200_000, "last_updated_time": 1_700_000_200_000,
            "description": "v2 era"}])  # fmt: skip
        conn.execute(sa.insert(t["model_versions"]), [{
            "name": "iris-clf", "version": 1, "creation_time": 1_700_000_200_000,
            "last_updated_time": 1_700_000_200_000, "user_id": "ann", "current_stage": "Staging",
            "source": str(art / "1" / RUN / "artifacts" / "model"), "run_id": RUN, "status": "READY"}])  # fmt: skip
        conn.execute(
            sa.insert(t["registered_model_aliases"]), [{"alias": "best", "version": 1, "name": "iris-clf"}]
        )
        conn.execute(sa.insert(t["trace_info"]), [{
            "request_id": TRACE, "experiment_id": 1, "timestamp_ms": 1_700_000_000_000,
            "execution_time_ms": 500, "status": "OK"}])  # fmt: skip
        conn.execute(sa.insert(t["trace_tags"]), [
            {"key": "mlflow.artifactLocation", "value": str(trace_dir), "request_id": TRACE},
            {"key": "mlflow.traceName", "value": "predict", "request_id": TRACE}])  # fmt: skip
        conn.execute(sa.insert(t["trace_request_metadata"]), [
            {"key": "mlflow.sourceRun", "value": RUN, "request_id": TRACE},
            {"key": "mlflow.trace_schema.version", "value": "2", "request_id": TRACE}])  # fmt: skip
    engine.dispose()


def test_import_mlflow_2_database(tmp_path: Path, monkeypatch) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow2.db'}"
    subprocess.run(
        [sys.executable, "-c", _BUILD, uri, LAST_MLFLOW_2_REVISION], check=True, capture_output=True
    )
    tables = set(sa.inspect(sa.create_engine(uri)).get_table_names())
    assert "trace_info" in tables and not tables & {"logged_models", "spans", "assessments"}
    _fill(uri, tmp_path)

    monkeypatch.chdir(tmp_path)
    dest = f"sqlite:///{tmp_path / 'dest.db'}"
    result = CliRunner().invoke(cli, ["import", uri, "--tracking-uri", dest, "--no-progress"])
    assert result.exit_code == 0, result.output
    for kind, n in (("runs", "1"), ("metric points", "25"), ("artifact files", "1"), ("model versions", "1"),
                    ("aliases", "1"), ("dataset inputs", "1"), ("traces", "1"), ("spans", "1")):  # fmt: skip
        assert result.output.count(f"\n{kind} ") == 1
        line = next(x for x in result.output.splitlines() if x.startswith(kind + "  "))
        assert line[len(kind) :].split() == [n, n, n, "ok"], kind

    store = SqlTrackingStore(dest, str(tmp_path / "mltrail-artifacts"))
    run = store.get_run(RUN)
    assert (run.info.run_name, run.info.user_id, run.info.experiment_id) == ("fit", "ann", "1")
    assert run.data.params == {"alpha": "0.5"} and len(store.get_metric_history(RUN, "loss")) == 25
    assert [(d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs] == [("iris", "d1g3st")]
    assert get_artifact_repository(run.info.artifact_uri).read_bytes("model.pkl") == b"pickled"
    version = SqlRegistryStore(dest).get_model_version("iris-clf", "1")
    assert version.current_stage == "Staging" and version.run_id == RUN
    assert SqlRegistryStore(dest).get_registered_model("iris-clf").aliases == {"best": "1"}
    trace = SqlTraceStore(dest).get_trace(TRACE)
    (span,) = trace.data.spans
    assert (span.name, span.inputs, span.trace_id) == ("predict", {"x": 1}, TRACE)
    assert trace.info.trace_metadata["mlflow.sourceRun"] == RUN and trace.info.execution_duration == 500
