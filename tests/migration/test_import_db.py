"""``mltrail import`` from a real MLflow database (made by the official client) into SQLite and
PostgreSQL: ids kept, full histories, deleted entities, inputs, artifacts, registry lineage, and
reruns that bring only what is new."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from migration._mlflow_source import cached_sqlite_source, log_more
from mltrail.artifacts import get_artifact_repository
from mltrail.cli.main import cli
from mltrail.migration.importer import Importer, Progress
from mltrail.migration.mlflow_db import MlflowDbSource
from mltrail.migration.writer import SqlDestination
from mltrail.store.sql.logged_models import SqlLoggedModelStore
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.traces import SqlTraceStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.databases import PG_ADMIN_URI, PG_BASE_URI, fresh_database


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("mlflow-source")
    uri, ids = cached_sqlite_source(root / "mlflow.db")
    return uri, root, ids


def _import(src: str, dest: str, *extra: str) -> str:
    result = CliRunner().invoke(cli, ["import", src, "--tracking-uri", dest, "--no-progress", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _row(output: str, kind: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(kind + "  "))
    return line[len(kind) :].split()


def test_import_keeps_everything_and_reruns_bring_only_new(source, tmp_path: Path, monkeypatch) -> None:
    uri, root, ids = source
    monkeypatch.chdir(tmp_path)
    dest = f"sqlite:///{tmp_path / 'dest.db'}"
    out = _import(uri, dest)
    assert _row(out, "runs") == ["4", "4", "4", "ok"]
    assert _row(out, "metric points") == ["44", "44", "44", "ok"]
    for kind, n in (("traces", "1"), ("spans", "2"), ("assessments", "2"), ("logged models", "1"),
                    ("artifact files", "3"), ("model metric values", "1")):  # fmt: skip
        assert _row(out, kind) == [n, n, n, "ok"], kind

    store = SqlTrackingStore(dest, str(tmp_path / "mltrail-artifacts"))
    exp = store.get_experiment(ids["exp"])  # the experiment id is kept
    assert exp.name == "churn" and exp.tags["team"] == "ml"
    assert store.get_experiment(ids["old"]).lifecycle_stage == "deleted"
    r1 = store.get_run(ids["r1"])  # the run id is kept
    assert r1.info.run_name == "first" and r1.info.status == "FINISHED"
    assert r1.data.params == {"lr": "0.1", "depth": "3"} and r1.data.tags["stage"] == "dev"
    history = store.get_metric_history(ids["r1"], "loss")
    assert [(m.step, m.timestamp) for m in history] == [(s, 1_000 + s) for s in range(40)]
    assert math.isnan(store.get_metric_history(ids["r1"], "acc")[0].value)
    assert [(d.dataset.name, d.dataset.digest) for d in r1.inputs.dataset_inputs] == [("train", "abc123")]
    assert store.get_run(ids["r2"]).info.status == "FAILED"
    assert store.get_run(ids["r3"]).info.lifecycle_stage == "deleted"
    repo = get_artifact_repository(r1.info.artifact_uri)
    assert repo.read_bytes("notes/readme.txt") == b"hello"
    assert "mltrail-artifacts" in r1.info.artifact_uri  # copied into mltrail's store

    registry = SqlRegistryStore(dest)
    model = registry.get_registered_model("clf")
    assert model.description == "a classifier" and model.tags == {"owner": "me"}
    assert model.aliases == {"champion": "2"}
    v1 = registry.get_model_version("clf", "1")
    assert v1.current_stage == "Production" and v1.tags == {"k": "v"} and v1.run_id == ids["r1"]
    assert v1.source == r1.info.artifact_uri + "/model"  # points into the imported run's artifacts
    assert registry.get_model_version("clf", "2").run_id == ids["r2"]
    v3 = registry.get_model_version("clf", "3")  # registered from the logged model: linked to the import
    assert v3.model_id == ids["model"] and v3.source == f"models:/{ids['model']}"
    prompt = registry.get_registered_model("greet")
    assert prompt.tags.get("mlflow.prompt.is_prompt") == "true"

    traces = SqlTraceStore(dest)
    trace = traces.get_trace(ids["trace"])  # the trace id is kept, with its spans and assessments
    assert trace.info.experiment_id == ids["exp"]
    assert [s.name for s in trace.data.spans] == ["step", "inner"]
    assert trace.data.spans[0].inputs == {"q": "hi"}
    judged = {a.name: a for a in trace.info.assessments}
    assert judged["quality"].feedback.value == 0.9 and judged["quality"].rationale == "fine"
    assert judged["expected"].expectation.value == {"a": 1}
    model = SqlLoggedModelStore(dest).get_logged_model(ids["model"])  # the model id is kept
    assert (model.name, model.model_type, str(model.status)) == ("agent", "agent", "READY")
    assert model.source_run_id == ids["r1"] and model.params == {"temp": "0.1"} and model.tags == {"t": "1"}
    assert get_artifact_repository(model.artifact_location).read_bytes("MLmodel") == b"flavors: {}"
    (value,) = model.metrics  # logged_model_metrics, linked to the run that logged it
    assert (value.key, value.value, value.step, value.run_id) == ("score", 0.8, 1, ids["r2"])

    again = _import(uri, dest)  # nothing new: nothing brought, nothing duplicated
    assert _row(again, "runs") == ["4", "0", "4", "ok"]
    assert _row(again, "metric points") == ["44", "0", "44", "ok"]
    assert _row(again, "traces") == ["1", "0", "1", "ok"] and _row(again, "assessments") == [
        "2",
        "0",
        "2",
        "ok",
    ]
    assert _row(again, "logged models") == ["1", "0", "1", "ok"]
    assert _row(again, "model metric values") == ["1", "0", "1", "ok"]
    assert len(traces.get_trace(ids["trace"]).info.assessments) == 2
    assert len(store.get_metric_history(ids["r1"], "loss")) == 40

    log_more(uri, root, ids["r1"])
    third = _import(uri, dest, "--experiment", "churn")
    assert _row(third, "metric points")[:2] == ["44", "1"]  # churn only: 41 + 2 + 1
    assert len(store.get_metric_history(ids["r1"], "loss")) == 41
    assert store.get_run(ids["r1"]).data.tags["reviewed"] == "yes"


def test_import_into_postgresql(source, tmp_path: Path, monkeypatch) -> None:
    uri, _, ids = source
    monkeypatch.chdir(tmp_path)
    databases = fresh_database(PG_ADMIN_URI, "PostgreSQL", PG_BASE_URI)
    dest = next(databases)
    try:
        out = _import(uri, dest)
        assert _row(out, "model versions")[2:] == ["4", "ok"]
        assert _row(out, "spans")[2:] == ["2", "ok"] and _row(out, "logged models")[2:] == ["1", "ok"]
        store = SqlTrackingStore(dest, str(tmp_path / "mltrail-artifacts"))
        assert store.get_run(ids["r1"]).info.experiment_id == ids["exp"]
        # an id given explicitly moved the sequence on: a new experiment takes a fresh id
        assert int(store.create_experiment("after-import")) > int(ids["old"])
        assert SqlRegistryStore(dest).get_model_version("clf", "3").model_id == ids["model"]
    finally:
        databases.close()


def test_progress_total_counts_every_entity(source, tmp_path: Path, monkeypatch) -> None:
    """The bar's total includes traces and logged models, so it ends at exactly 100%."""
    uri, _, _ = source
    monkeypatch.chdir(tmp_path)
    dest = f"sqlite:///{tmp_path / 'dest.db'}"
    totals: list[int] = []
    ticks: list[str] = []
    progress = Progress(total=totals.append, entity=ticks.append)
    src = MlflowDbSource(uri)
    try:
        target = SqlDestination(SqlTrackingStore(dest, str(tmp_path / "art")), SqlRegistryStore(dest))
        Importer(src, target, progress=progress).run()
    finally:
        src.close()
    # 3 experiments (Default too), 4 runs, 2 registered models (a prompt is one), 1 logged model, 1 trace
    assert totals == [11] and len(ticks) == 11
    assert ticks.count("trace") == 1 and ticks.count("logged model") == 1
