"""``mltrail import ./mlruns``: an MLflow FileStore folder written by the official client, into
SQLite (MLflow's 64-bit experiment ids kept) and MariaDB (too wide there: new ids, listed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from migration._mlflow_source import build_source, log_more
from mltrail.artifacts import get_artifact_repository
from mltrail.cli.main import cli
from mltrail.store.sql.registry import SqlRegistryStore
from mltrail.store.sql.tracking import SqlTrackingStore
from support.databases import MYSQL_ADMIN_URI, MYSQL_BASE_URI, fresh_database


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("mlruns-source")
    ids = build_source(f"file://{root / 'mlruns'}", root)
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
    assert _row(out, "metric points") == ["43", "43", "43", "ok"]
    assert _row(out, "dataset inputs") == ["1", "1", "1", "ok"]

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

    log_more(f"file://{root / 'mlruns'}", root, ids["r1"])
    again = _import(str(root / "mlruns"), dest, "--since", "2000-01-01")
    assert _row(again, "metric points")[:2] == ["44", "1"]
    assert len(store.get_metric_history(ids["r1"], "loss")) == 41


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
    finally:
        databases.close()
