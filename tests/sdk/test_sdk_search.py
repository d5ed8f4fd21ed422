"""``mltrail.search_runs``: MLflow's DataFrame layout, the list format and experiment selection."""

from __future__ import annotations

import pytest

import mltrail as mlflow
from mltrail.exceptions import MltrailException

pd = pytest.importorskip("pandas")


def _seed(name: str) -> list[str]:
    mlflow.set_experiment(name)
    ids = []
    for i, (model, score) in enumerate([("a", 0.5), ("b", 0.9), ("a", 0.7)]):
        with mlflow.start_run(run_name=f"r{i}") as run:
            mlflow.log_params({"model": model, "i": i})
            mlflow.log_metric("score", score)
            if i == 1:
                mlflow.log_metric("only_b", 1.0)
                mlflow.set_tag("special", "yes")
        ids.append(run.info.run_id)
    return ids


def test_dataframe_layout(backend):
    ids = _seed(backend)
    df = mlflow.search_runs(order_by=["metrics.score DESC"])
    assert list(df.columns[:6]) == ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    assert list(df["run_id"]) == [ids[1], ids[2], ids[0]]
    assert {"metrics.score", "metrics.only_b", "params.model", "params.i", "tags.special", "tags.mlflow.runName"} <= set(
        df.columns
    )
    assert list(df["metrics.score"]) == [0.9, 0.7, 0.5]
    assert df["metrics.only_b"].isna().tolist() == [False, True, True]
    assert df["tags.special"].isna().tolist() == [False, True, True]
    assert list(df["params.model"]) == ["b", "a", "a"]
    assert list(df["tags.mlflow.runName"]) == ["r1", "r2", "r0"]
    assert (df["status"] == "FINISHED").all()
    assert str(df["start_time"].dtype).startswith("datetime64") and str(df["start_time"].dt.tz) == "UTC"
    assert (df["end_time"] >= df["start_time"]).all()
    assert str(df["metrics.score"].dtype) == "float64"


def test_filter_list_format_and_max_results(backend):
    ids = _seed(backend)
    runs = mlflow.search_runs(filter_string="params.model = 'a'", order_by=["metrics.score ASC"], output_format="list")
    assert [r.info.run_id for r in runs] == [ids[0], ids[2]]
    assert isinstance(runs[0], mlflow.entities.Run)
    assert len(mlflow.search_runs(max_results=2)) == 2
    assert len(mlflow.search_runs(filter_string="metrics.score > 0.6")) == 2
    with pytest.raises(MltrailException) as err:
        mlflow.search_runs(filter_string="metrics.score >>> 1")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MltrailException, match="Unsupported output format"):
        mlflow.search_runs(output_format="csv")


def test_experiment_selection(backend):
    first = _seed(backend)
    second = _seed(backend + "-2")
    exp1 = mlflow.get_experiment_by_name(backend).experiment_id
    assert len(mlflow.search_runs()) == 3  # the active experiment only (the second)
    assert set(mlflow.search_runs([exp1])["run_id"]) == set(first)
    both = mlflow.search_runs(experiment_names=[backend, backend + "-2", "no-such-experiment"])
    assert set(both["run_id"]) == set(first) | set(second)
    assert set(first) | set(second) <= set(mlflow.search_runs(search_all_experiments=True)["run_id"])
    with pytest.raises(MltrailException, match="but not both"):
        mlflow.search_runs(experiment_ids=[exp1], experiment_names=[backend])
    assert mlflow.search_runs(experiment_names=["no-such-experiment"]).empty


def test_deleted_runs_and_view_types(backend):
    ids = _seed(backend)
    mlflow.delete_run(ids[0])
    assert set(mlflow.search_runs()["run_id"]) == set(ids[1:])
    assert list(mlflow.search_runs(run_view_type=mlflow.entities.ViewType.DELETED_ONLY)["run_id"]) == [ids[0]]
    assert len(mlflow.search_runs(run_view_type=mlflow.entities.ViewType.ALL)) == 3


def test_empty_result_has_info_columns(backend):
    mlflow.set_experiment(backend)
    df = mlflow.search_runs()
    assert df.empty
    assert list(df.columns) == ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]


def test_paging_over_many_runs(backend):
    mlflow.set_experiment(backend)
    client = mlflow.MlflowClient()
    exp_id = mlflow.get_experiment_by_name(backend).experiment_id
    for i in range(25):
        client.create_run(exp_id, run_name=f"r{i:02d}", start_time=1_000 + i)
    page = client.search_runs([exp_id], max_results=10, order_by=["attributes.start_time ASC"])
    assert len(page) == 10 and page.token
    rest = client.search_runs([exp_id], max_results=100, order_by=["attributes.start_time ASC"], page_token=page.token)
    assert [r.info.run_name for r in rest][:2] == ["r10", "r11"] and len(rest) == 15 and not rest.token
    # The fluent API follows pages itself.
    from mltrail.tracking import fluent

    old = fluent._PAGE_SIZE
    fluent._PAGE_SIZE = 7
    try:
        assert len(mlflow.search_runs(output_format="list")) == 25
        assert len(mlflow.search_runs(max_results=9, output_format="list")) == 9
    finally:
        fluent._PAGE_SIZE = old
