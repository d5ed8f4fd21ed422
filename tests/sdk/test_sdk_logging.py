"""Fluent logging: params, metrics, tags, artifacts, tables, figures, images and dataset inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

import mltrail as mlflow
from mltrail.exceptions import MltrailException


def _artifact_dir(run) -> Path:
    return Path(run.info.artifact_uri.removeprefix("file://"))


def test_params_metrics_tags(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as run:
        assert mlflow.log_param("lr", 0.01) == 0.01
        mlflow.log_params({"model": "gpt-4o-mini", "max_tokens": 512})
        mlflow.log_param("lr", 0.01)  # same value again is fine
        with pytest.raises(MltrailException) as err:
            mlflow.log_param("lr", 0.02)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
        mlflow.log_metric("loss", 0.5, step=1, timestamp=1_000)
        mlflow.log_metric("loss", 0.25, step=2, timestamp=2_000)
        mlflow.log_metrics({"acc": 0.9, "nan": float("nan"), "inf": float("inf")}, step=3)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"a": 1, "b": True})
        mlflow.delete_tag("a")
    data = mlflow.get_run(run.info.run_id).data
    assert data.params == {"lr": "0.01", "model": "gpt-4o-mini", "max_tokens": "512"}
    assert data.metrics["loss"] == 0.25 and data.metrics["acc"] == 0.9
    assert math.isnan(data.metrics["nan"]) and data.metrics["inf"] == math.inf
    assert data.tags["stage"] == "dev" and data.tags["b"] == "True" and "a" not in data.tags
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [(1, 1000, 0.5), (2, 2000, 0.25)]


def test_numpy_metric_values_and_bad_values(backend):
    np = pytest.importorskip("numpy")
    mlflow.set_experiment(backend)
    with mlflow.start_run() as run:
        mlflow.log_metric("np", np.float32(1.5))
        mlflow.log_metrics({"np64": np.int64(7)})
        with pytest.raises(MltrailException) as err:
            mlflow.log_metric("bad", "not a number")
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert mlflow.get_run(run.info.run_id).data.metrics == {"np": 1.5, "np64": 7.0}


def test_large_metric_batches_are_split(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as run:
        mlflow.log_metrics({f"m{i}": float(i) for i in range(2500)}, step=0)
        mlflow.log_params({f"p{i}": i for i in range(250)})
    data = mlflow.get_run(run.info.run_id).data
    assert len(data.metrics) == 2500 and data.metrics["m2499"] == 2499.0
    assert len(data.params) == 250


def test_rejected_batch_writes_nothing(backend):
    mlflow.set_experiment(backend)
    with mlflow.start_run() as run, pytest.raises(MltrailException):
        mlflow.log_params({"ok": 1, "x" * 300: 2})  # key too long
    assert mlflow.get_run(run.info.run_id).data.params == {}


def test_text_dict_and_artifacts(backend, tmp_path):
    mlflow.set_experiment(backend)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    with mlflow.start_run() as run:
        mlflow.log_text("héllo", "notes/hello.txt")
        mlflow.log_dict({"b": 1, "a": [1, 2]}, "cfg.json")
        mlflow.log_dict({"b": 1, "a": [1, 2]}, "cfg.yaml")
        mlflow.log_dict({"k": "v"}, "cfg.txt")
        mlflow.log_artifact(str(src / "a.txt"))
        mlflow.log_artifact(str(src / "a.txt"), artifact_path="copies")
        mlflow.log_artifact(str(src))  # a directory goes under its own name
        mlflow.log_artifacts(str(src), artifact_path="tree")
        uri = mlflow.get_artifact_uri()
        assert mlflow.get_artifact_uri("cfg.json") == uri.rstrip("/") + "/cfg.json"
    root = _artifact_dir(run)
    assert (root / "notes" / "hello.txt").read_text(encoding="utf-8") == "héllo"
    assert json.loads((root / "cfg.json").read_text()) == {"b": 1, "a": [1, 2]}
    assert "\n  " in (root / "cfg.json").read_text()  # indented like MLflow
    assert yaml.safe_load((root / "cfg.yaml").read_text()) == {"b": 1, "a": [1, 2]}
    assert json.loads((root / "cfg.txt").read_text()) == {"k": "v"}
    assert (root / "copies" / "a.txt").read_text() == "A"
    assert (root / "src" / "sub" / "b.txt").read_text() == "B"
    assert (root / "tree" / "sub" / "b.txt").read_text() == "B"
    client = mlflow.MlflowClient()
    listed = [(f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id)]
    assert ("cfg.json", False) in listed and ("notes", True) in listed
    assert [f.path for f in client.list_artifacts(run.info.run_id, "notes")] == ["notes/hello.txt"]
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="notes", dst_path=str(tmp_path / "dl"))
    assert (Path(local) / "hello.txt").read_text(encoding="utf-8") == "héllo"
    one = client.download_artifacts(run.info.run_id, "cfg.json", str(tmp_path / "dl2"))
    assert json.loads(Path(one).read_text()) == {"b": 1, "a": [1, 2]}


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/passwd", "a/../../x.txt", "", "dir/"])
def test_artifact_paths_are_checked(bad, tmp_path):
    with mlflow.start_run() as run:
        with pytest.raises(MltrailException) as err:
            mlflow.log_text("x", bad)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert not (tmp_path / "escape.txt").exists()
    assert mlflow.MlflowClient().list_artifacts(run.info.run_id) == []


def test_log_artifact_missing_file_is_clear(tmp_path):
    with mlflow.start_run(), pytest.raises(MltrailException, match="does not exist"):
        mlflow.log_artifact(str(tmp_path / "nope.txt"))


def test_log_dict_unserializable_is_clear():
    with mlflow.start_run(), pytest.raises(MltrailException, match="Cannot serialize"):
        mlflow.log_dict({"x": object()}, "d.json")


def test_log_table_appends_and_loads(backend):
    pd = pytest.importorskip("pandas")
    mlflow.set_experiment(backend)
    with mlflow.start_run() as run:
        mlflow.log_table({"question": ["q1", "q2"], "score": [7, 9]}, "eval/results.json")
        mlflow.log_table(pd.DataFrame({"question": ["q3"], "score": [5]}), "eval/results.json")
        with pytest.raises(MltrailException, match=r"must end with '\.json'"):
            mlflow.log_table({"a": [1]}, "table.csv")
        with pytest.raises(MltrailException, match="DataFrame or a dictionary"):
            mlflow.log_table([1, 2], "t.json")
    payload = json.loads((_artifact_dir(run) / "eval" / "results.json").read_text())
    assert payload["columns"] == ["question", "score"]
    assert payload["data"] == [["q1", 7], ["q2", 9], ["q3", 5]]
    tag = json.loads(mlflow.get_run(run.info.run_id).data.tags["mlflow.loggedArtifacts"])
    assert tag == [{"path": "eval/results.json", "type": "table"}]
    table = mlflow.load_table("eval/results.json", extra_columns=["run_id"])
    assert list(table["question"]) == ["q1", "q2", "q3"]
    assert set(table["run_id"]) == {run.info.run_id}


def test_log_figure_matplotlib_and_plotly(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    with mlflow.start_run() as run:
        mlflow.log_figure(fig, "plots/line.png")
        mlflow.log_figure(fig, "plots/line.svg", save_kwargs={"transparent": True})
        with pytest.raises(MltrailException, match="Unsupported figure"):
            mlflow.log_figure({"not": "a figure"}, "x.png")
    plt.close(fig)
    root = _artifact_dir(run)
    assert (root / "plots" / "line.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (root / "plots" / "line.svg").read_bytes()

    go = pytest.importorskip("plotly.graph_objects")
    with mlflow.start_run() as run2:
        mlflow.log_figure(go.Figure(data=[go.Bar(y=[1, 2])]), "bar.html")
    assert "plotly" in (_artifact_dir(run2) / "bar.html").read_text()


def test_log_image_numpy_and_pil():
    np = pytest.importorskip("numpy")
    from PIL import Image

    with mlflow.start_run() as run:
        mlflow.log_image(np.zeros((4, 5, 3), dtype=np.uint8), "img/black.png")
        mlflow.log_image(np.full((4, 5), 0.5), "img/gray.png")
        mlflow.log_image(np.ones((2, 2, 1), dtype=bool), "img/mask.png")
        mlflow.log_image(Image.new("RGB", (3, 3), "red"), "img/red.png")
        mlflow.log_image(np.zeros((2, 2, 3), dtype=np.uint8), key="samples/a", step=3)
        for bad, match in [
            (np.full((2, 2), 300), "out of range"),
            (np.full((2, 2), 1.5), "out of range"),
            (np.zeros((2, 2, 2)), "channel"),
            (np.zeros(4), "2D or 3D"),
            ("not an image", "Unsupported image"),
        ]:
            with pytest.raises(MltrailException, match=match):
                mlflow.log_image(bad, "bad.png")
        with pytest.raises(MltrailException, match="cannot be combined"):
            mlflow.log_image(np.zeros((2, 2)), "x.png", step=1)
    root = _artifact_dir(run)
    gray = Image.open(root / "img" / "gray.png")
    assert gray.size == (5, 4) and gray.getpixel((0, 0)) == 127
    assert Image.open(root / "img" / "red.png").getpixel((1, 1)) == (255, 0, 0)
    assert Image.open(root / "img" / "mask.png").getpixel((0, 0)) == 255
    stepped = [p.name for p in (root / "images").iterdir()]
    assert len(stepped) == 1 and stepped[0].startswith("samples~a+step+3+") and stepped[0].endswith(".png")
    assert not (root / "bad.png").exists()


def test_log_input_pandas_and_numpy(backend, tmp_path):
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    mlflow.set_experiment(backend)
    df = pd.DataFrame({"question": ["a", "b"], "score": [1.5, 2.0], "n": [1, 2]})
    ds = mlflow.data.from_pandas(df, source=str(tmp_path / "eval.csv"), name="eval-set", targets="score")
    same = mlflow.data.from_pandas(df.copy(), name="eval-set")
    assert ds.digest == same.digest and len(ds.digest) == 8
    assert ds.digest != mlflow.data.from_pandas(df.head(1)).digest
    assert ds.profile == {"num_rows": 2, "num_elements": 6}
    assert ds.schema == {
        "mlflow_colspec": [
            {"type": "string", "name": "question", "required": True},
            {"type": "double", "name": "score", "required": True},
            {"type": "long", "name": "n", "required": True},
        ]
    }
    arr = mlflow.data.from_numpy(np.zeros((10, 3)), targets=np.ones(10), name="arr")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="evaluation", tags={"split": "test"})
        mlflow.log_input(arr, context="training")
        with pytest.raises(MltrailException, match="Cannot log"):
            mlflow.log_input({"not": "a dataset"})
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in inputs}
    assert set(by_name) == {"eval-set", "arr"}
    logged = by_name["eval-set"]
    assert logged.dataset.digest == ds.digest
    assert logged.dataset.source_type == "local"
    assert json.loads(logged.dataset.source) == {"uri": str(tmp_path / "eval.csv")}
    assert json.loads(logged.dataset.schema) == ds.schema
    assert {t.key: t.value for t in logged.tags} == {"mlflow.data.context": "evaluation", "split": "test"}
    numpy_ds = by_name["arr"].dataset
    assert numpy_ds.source_type == "code"
    assert json.loads(numpy_ds.profile)["features_shape"] == [10, 3]
    assert "mlflow_tensorspec" in json.loads(numpy_ds.schema)
    with pytest.raises(MltrailException, match="targets column"):
        mlflow.data.from_pandas(df, targets="missing")
