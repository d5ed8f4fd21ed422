"""Drop-in parity: the same fluent code run by the real ``mlflow`` and by ``mltrail``.

Both write to their own embedded SQLite store in the test's directory; the
results must look the same to the caller: search_runs' DataFrame layout and
dtypes, values, system tag names, and the bytes of log_dict/log_table artifacts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mltrail
from support.mlflow_db import mlflow_sqlite_uri

mlflow = pytest.importorskip("mlflow")
pd = pytest.importorskip("pandas")

pytestmark = pytest.mark.slow  # MLflow's own store migrations take a few seconds


def _workload(lib):
    lib.set_experiment("parity")
    with lib.start_run(run_name="first", tags={"team": "llm"}) as first:
        lib.log_params({"model": "gpt-4o-mini", "temperature": 0.7})
        lib.log_metrics({"prompt_tokens": 12, "cost": 0.5}, step=1)
        lib.log_dict({"b": 1, "a": [1, 2], "nested": {"x": None}}, "results.json")
        lib.log_dict({"b": 1, "a": [1, 2]}, "config.yaml")
        lib.log_table({"q": ["a", "b"], "score": [1.5, 2.0]}, "eval/table.json")
        lib.log_table({"q": ["c"], "score": [3.0]}, "eval/table.json")
        with lib.start_run(run_name="child", nested=True):
            lib.log_metric("only_child", 1.0)
        with pytest.raises(Exception, match="nested=True") as err:
            lib.start_run()
    with lib.start_run(run_name="second"):
        lib.log_metric("prompt_tokens", 30)
        lib.set_tag("special", "yes")
    df = lib.search_runs(order_by=["attributes.run_name ASC"])
    return first.info.run_id, df, str(err.value)


def _values(series) -> list:
    return [None if pd.isna(v) else v for v in series.tolist()]


def _artifact_root(lib, run_id: str) -> Path:
    return Path(lib.get_run(run_id).info.artifact_uri.removeprefix("file://"))


def test_same_code_same_results(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    monkeypatch.chdir(tmp_path / "m")
    mlflow.set_tracking_uri(mlflow_sqlite_uri(tmp_path / "m" / "mlflow.db"))
    try:
        m_first, m_df, m_err = _workload(mlflow)
        m_root = _artifact_root(mlflow, m_first)
        m_tags = mlflow.get_run(m_first).data.tags
    finally:
        # Leave the real mlflow as we found it for later tests (its active experiment is global).
        mlflow.set_tracking_uri(None)  # unset: "" would stay set, and mean a file store, for later tests
        mlflow.tracking.fluent._active_experiment_id = None
    (tmp_path / "t").mkdir()
    monkeypatch.chdir(tmp_path / "t")
    t_first, t_df, t_err = _workload(mltrail)
    t_root = _artifact_root(mltrail, t_first)
    t_tags = mltrail.get_run(t_first).data.tags

    assert list(t_df.columns[:6]) == list(m_df.columns[:6])
    assert set(t_df.columns) == set(m_df.columns)
    for column in m_df.columns:
        assert t_df[column].dtype == m_df[column].dtype, column
    assert list(t_df["tags.mlflow.runName"]) == list(m_df["tags.mlflow.runName"]) == ["child", "first", "second"]
    for column in [c for c in m_df.columns if c.startswith(("metrics.", "params."))] + ["tags.team", "tags.special"]:
        assert _values(t_df[column]) == _values(m_df[column]), column
    assert set(t_tags) == set(m_tags)
    for name in ("results.json", "config.yaml", "eval/table.json"):
        assert (t_root / name).read_bytes() == (m_root / name).read_bytes(), name
    assert t_tags["mlflow.loggedArtifacts"] == m_tags["mlflow.loggedArtifacts"]
    assert t_err == m_err.replace(m_first, t_first)


def test_dataset_records_match_mlflow():
    np = pytest.importorskip("numpy")
    frames = [
        pd.DataFrame({"question": ["a", "b"], "score": [1.5, 2.0], "n": [1, 2]}),
        pd.DataFrame({"z": np.arange(12000.0), "a": ["x"] * 12000, "o": [None] * 12000}),
    ]
    for df in frames:
        ours = mltrail.data.from_pandas(df, source="data/eval.csv", name="eval", targets=df.columns[0])
        theirs = mlflow.data.from_pandas(df, source="data/eval.csv", name="eval", targets=df.columns[0])
        assert ours.to_dict() == theirs.to_dict()
    features, targets = np.arange(30000).reshape(-1, 3), np.ones(10000)
    ours = mltrail.data.from_numpy(features, targets=targets, source="https://example.com/x.npy")
    theirs = mlflow.data.from_numpy(features, targets=targets, source="https://example.com/x.npy")
    assert ours.to_dict() == theirs.to_dict()
