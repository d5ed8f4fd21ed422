"""A model is written once, at its LoggedModel's location, as MLflow 3 does.

* Over HTTP and on the embedded store, ``log_model`` uploads the files once, under
  ``<experiment>/models/<model_id>/artifacts``; nothing lands under the run's artifacts.
* ``runs:/<run_id>/<name>`` resolves through the run's logged models (for mltrail and for the
  official client), registration from it links the version to the model.
* ``ModelInfo`` has MLflow 3's fields; the run's params and its metrics at the model's step
  are copied onto the model; a model logged outside a run starts no run.
* The run page lists the run's logged models.
* Models from code cross between mltrail and the official client through the server
  (sharing this module's server; the rest is in ``test_models_from_code.py``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import mltrail
import mltrail.pyfunc
from mltrail import MlflowClient
from support.live_server import start_server, stop_server

mlflow = pytest.importorskip("mlflow")
CHROMIUM = os.environ.get("MLTRAIL_TEST_CHROMIUM", "/usr/bin/chromium")


def double(model_input: list[float]) -> list[float]:
    return [2 * x for x in model_input]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("write-once"), timeout=120)
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def logged(server):
    """One run on the server with two models: ``clf`` at step 0 and ``late`` at step 1."""
    mltrail.set_tracking_uri(server.url)
    mltrail.set_experiment("write-once")
    with mltrail.start_run() as run:
        mltrail.log_param("lr", "0.1")
        mltrail.log_metric("acc", 0.5, step=0)
        mltrail.log_metric("loss", 2.0, step=0)
        mltrail.log_metric("acc", 0.9, step=1)
        info = mltrail.pyfunc.log_model(name="clf", python_model=double, tags={"team": "ml"})
        late = mltrail.pyfunc.log_model(name="late", python_model=double, step=1, model_type="agent")
    mltrail.set_tracking_uri(None)
    return run.info.run_id, info, late


@pytest.fixture
def at_server(server):
    mltrail.set_tracking_uri(server.url)
    yield server
    mlflow.set_tracking_uri(None)


def _mlmodel_files(root: Path) -> list[Path]:
    return sorted(root.rglob("MLmodel"))


def test_files_are_written_once_at_the_models_location(logged, at_server):
    run_id, info, late = logged
    client = MlflowClient(at_server.url)
    assert client.list_artifacts(run_id) == []  # nothing under the run's artifacts
    model = client.get_logged_model(info.model_id)
    assert model.artifact_location.endswith(f"/models/{info.model_id}/artifacts")
    assert "MLmodel" in {f.path for f in client.list_logged_model_artifacts(info.model_id)}
    # one MLmodel per model on the server's disk: the files travelled once
    files = _mlmodel_files(at_server.artifacts)
    assert len(files) == 2 and {f.parent.parent.name for f in files} == {info.model_id, late.model_id}


def test_model_info_has_mlflow_3_fields(logged, at_server):
    run_id, info, late = logged
    assert info.model_uri == f"models:/{info.model_id}" and info.name == "clf" and info.run_id == run_id
    assert info.artifact_path == MlflowClient(at_server.url).get_logged_model(info.model_id).artifact_location
    assert info.params == {"lr": "0.1"}
    assert info.tags["team"] == "ml" and "mlflow.source.name" in info.tags
    assert isinstance(info.creation_timestamp, int) and info.creation_timestamp > 0
    assert info.signature.inputs.to_dict() == [{"type": "double", "required": True}]
    # the run's metrics at the model's step, copied onto it
    assert {(m.key, m.value, m.step) for m in info.metrics} == {("acc", 0.5, 0), ("loss", 2.0, 0)}
    assert {(m.key, m.value, m.step) for m in late.metrics} == {("acc", 0.9, 1)}
    assert MlflowClient(at_server.url).get_logged_model(late.model_id).model_type == "agent"
    # the run's latest values are unchanged by the copy
    assert MlflowClient(at_server.url).get_run(run_id).data.metrics == {"acc": 0.9, "loss": 2.0}


def test_runs_uri_resolves_through_logged_models(logged, at_server):
    run_id, info, _late = logged
    for uri in (info.model_uri, f"runs:/{run_id}/clf"):
        assert mltrail.pyfunc.load_model(uri).predict([1.5]) == [3.0], uri
    mv = mltrail.register_model(f"runs:/{run_id}/clf", "write-once-model")
    assert mv.model_id == info.model_id and mv.run_id == run_id
    assert mltrail.pyfunc.load_model("models:/write-once-model/1").predict([1.0]) == [2.0]
    # the official client finds the model behind runs:/ on mltrail's server too
    mlflow.set_tracking_uri(at_server.url)
    assert mlflow.pyfunc.load_model(f"runs:/{run_id}/clf").predict([2.0]) == [4.0]
    assert mlflow.pyfunc.load_model(info.model_uri).predict([2.0]) == [4.0]


def test_embedded_store_writes_once_and_outside_a_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mltrail.set_tracking_uri(f"sqlite:///{tmp_path}/db.sqlite")
    with mltrail.start_run() as run:
        info = mltrail.pyfunc.log_model(name="clf", python_model=double)
    run_dir = Path(run.info.artifact_uri)
    assert not (run_dir / "clf").exists()
    assert _mlmodel_files(tmp_path / "mltrail-artifacts") == [Path(info.artifact_path) / "MLmodel"]
    assert mltrail.pyfunc.load_model(f"runs:/{run.info.run_id}/clf").predict([1.0]) == [2.0]
    # MLflow 3: a model logged outside a run belongs to the active experiment and starts no run
    outside = mltrail.pyfunc.log_model(name="solo", python_model=double)
    assert outside.run_id is None and mltrail.active_run() is None
    assert mltrail.get_logged_model(outside.model_id).source_run_id is None
    assert mltrail.pyfunc.load_model(outside.model_uri).predict([3.0]) == [6.0]


def test_code_models_through_the_server_both_ways(at_server, tmp_path):
    from test_models_from_code import MLFLOW_CODE, MLTRAIL_CODE

    ours, theirs = tmp_path / "shout.py", tmp_path / "count.py"
    ours.write_text(MLTRAIL_CODE)
    theirs.write_text(MLFLOW_CODE)
    official_client = mlflow
    mltrail.set_tracking_uri(at_server.url)
    mltrail.set_experiment("from-code")
    with mltrail.start_run() as run:
        info = mltrail.pyfunc.log_model(name="shout", python_model=str(ours), model_config={"suffix": "!"})
    official_client.set_tracking_uri(at_server.url)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/shout"):
        assert official_client.pyfunc.load_model(uri).predict(["x"]) == ["X!"], uri

    official_client.set_experiment("from-code")
    with official_client.start_run() as off_run:
        off_info = official_client.pyfunc.log_model(
            name="count", python_model=str(theirs), pip_requirements=["pandas"]
        )
    for uri in (off_info.model_uri, f"runs:/{off_run.info.run_id}/count"):
        assert mltrail.pyfunc.load_model(uri).predict([{"a": "1"}]) == [1], uri
    assert mltrail.get_logged_model(off_info.model_id).source_run_id == off_run.info.run_id


def test_run_page_lists_logged_models(logged, server):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(
            "Chromium is required for the browser tests: run `make browser` (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    run_id, info, late = logged
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(base_url=server.url)
            page.set_default_timeout(30000)
            page.goto(f"/#/runs/{run_id}")
            section = page.get_by_role("region", name="Logged models")
            section.get_by_role("heading", name="Logged models (2)").wait_for()
            rows = section.locator("tbody tr")
            texts = sorted(rows.all_inner_texts())
            assert len(texts) == 2
            clf = next(t for t in texts if t.startswith("clf"))
            assert f"models:/{info.model_id}" in clf and "READY" in clf and "acc=0.5" in clf
            assert any(f"models:/{late.model_id}" in t for t in texts)
        finally:
            browser.close()
