"""Registry and logged models through ``mltrail server``: the official mlflow client and mltrail's SDK.

The brief's LLMWrapper flow runs unchanged on the official client (MLflow 3:
logged-model endpoints, artifact proxy, registry endpoints), then the
registered model is loaded by both clients and served with ``mltrail models
serve``. Model-version sources are checked (MLflow CVE-2023-1177 / CVE-2024-1483).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pandas as pd
import pytest
from model_helpers import llm_wrapper_brief, serve_model

from support.live_server import running_server, start_server, stop_server

mlflow = pytest.importorskip("mlflow")

OFFICIAL_BRIEF = llm_wrapper_brief("import mlflow\nimport mlflow.pyfunc")  # the official client, unchanged


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("registry-server"), timeout=120)
    yield s
    stop_server(s)


@pytest.fixture
def official(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    yield mlflow.MlflowClient(server.url)
    mlflow.set_tracking_uri(None)


def test_official_client_llm_flow_and_serving(server, official, openai_server, tmp_path, served):
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url}
    proc = subprocess.run(
        [sys.executable, "-c", OFFICIAL_BRIEF],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]

    mv = official.get_model_version("MyLLMApp", "1")
    assert mv.run_id == run_id and mv.source.startswith("models:/m-")
    logged = official.get_logged_model(mv.source.split("/")[-1])
    assert logged.source_run_id == run_id and logged.status.to_proto() == 2  # READY
    assert official.get_model_version_download_uri("MyLLMApp", "1") == logged.artifact_location

    official.transition_model_version_stage("MyLLMApp", "1", "Production")
    official.set_registered_model_alias("MyLLMApp", "champion", "1")
    frame = pd.DataFrame({"prompt": ["Explain MLflow"]})
    for uri in ("models:/MyLLMApp/1", "models:/MyLLMApp@champion", "models:/MyLLMApp/Production"):
        assert mlflow.pyfunc.load_model(uri).predict(frame) == ["Answer to: Explain MLflow"]

    import mltrail

    mltrail.set_tracking_uri(server.url)  # mltrail's SDK reads the same registry over REST
    assert mltrail.pyfunc.load_model("models:/MyLLMApp@champion").predict(frame) == [
        "Answer to: Explain MLflow"
    ]
    assert mltrail.MlflowClient().get_latest_versions("MyLLMApp", ["Production"])[0].version == "1"
    assert mltrail.pyfunc.load_model(mv.source).predict(frame) == ["Answer to: Explain MLflow"]  # models:/m-…

    srv = serve_model("models:/MyLLMApp/Production", env={"MLTRAIL_TRACKING_URI": server.url})
    served.append(srv)
    resp = httpx.post(
        f"{srv.url}/invocations", json={"dataframe_records": [{"prompt": "Explain MLflow"}]}, timeout=60
    )
    assert resp.json() == {"predictions": ["Answer to: Explain MLflow"]}


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return list(model_input["prompt"])


def test_official_client_registry_methods(official):
    name = f"reg-{uuid.uuid4().hex[:6]}"
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="m", python_model=Echo())
    official.create_registered_model(name, tags={"team": "nlp"}, description="first")
    v1 = official.create_model_version(name, info.model_uri, run_id=run.info.run_id, tags={"k": "v"})
    v2 = official.create_model_version(name, info.model_uri, run_id=run.info.run_id)
    assert (v1.version, v2.version) == ("1", "2")
    official.transition_model_version_stage(name, "1", "Production")
    moved = official.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    assert moved.current_stage == "Production"
    assert official.get_model_version(name, "1").current_stage == "Archived"
    official.update_registered_model(name, description="second")
    official.update_model_version(name, "2", description="better")
    official.set_registered_model_tag(name, "x", "1")
    official.delete_registered_model_tag(name, "x")
    official.set_model_version_tag(name, "2", "y", "2")
    official.delete_model_version_tag(name, "1", "k")
    official.set_registered_model_alias(name, "prod", "2")
    assert official.get_model_version_by_alias(name, "prod").version == "2"
    rm = official.get_registered_model(name)
    assert rm.description == "second" and rm.tags == {"team": "nlp"} and rm.aliases == {"prod": "2"}
    assert [m.name for m in official.search_registered_models(f"name = '{name}'")] == [name]
    assert {v.version for v in official.search_model_versions(f"name = '{name}'")} == {"1", "2"}
    assert official.get_model_version(name, "2").tags == {"y": "2"}
    official.delete_registered_model_alias(name, "prod")
    official.rename_registered_model(name, name + "-new")
    assert official.get_registered_model(name + "-new").aliases == {}
    copied = official.copy_model_version(f"models:/{name}-new/2", name + "-copy")
    assert copied.version == "1"
    assert mlflow.pyfunc.load_model(f"models:/{name}-copy/1").predict(pd.DataFrame({"prompt": ["c"]})) == [
        "c"
    ]
    official.delete_model_version(name + "-new", "1")
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"RESOURCE_DOES_NOT_EXIST|not found"):
        official.get_model_version(name + "-new", "1")
    official.delete_registered_model(name + "-new")
    with pytest.raises(mlflow.exceptions.MlflowException):
        official.get_registered_model(name + "-new")


def test_mltrail_sdk_logs_and_registers_through_server(server, official):
    import mltrail

    class Doubler(mltrail.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [p * 2 for p in model_input["prompt"]]

    mltrail.set_tracking_uri(server.url)
    with mltrail.start_run():
        info = mltrail.pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name="Doubler")
    assert info.registered_model_version == 1
    assert mltrail.pyfunc.load_model("models:/Doubler/1").predict({"prompt": ["ab"]}) == ["abab"]
    loaded = mlflow.pyfunc.load_model("models:/Doubler/1")  # the official client reads mltrail's model
    assert loaded.predict(pd.DataFrame({"prompt": ["x"]})) == ["xx"]


def _post(url: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/api/2.0/mlflow{path}", json=body, timeout=30)


@pytest.mark.parametrize(
    "source",
    [
        "/etc/passwd",
        "file:///etc/passwd",
        "file://remotehost/share/model",
        "//remotehost/share/model",
        "s3://bucket/models/../../etc",
        "s3://bucket/models/%2e%2e/%2e%2e/etc",
        "s3://bucket/m/%252e%252e/%252e%252e/x",
        "s3://bucket/model#frag",
        "s3://bucket/model;x=1",
        "runs:/abc/../../etc",
        "mlflow-artifacts:/0/../../etc",
        "models:/m-doesnotexist",
    ],
)
def test_bad_sources_rejected_by_server(server, source):
    name = f"src-{uuid.uuid4().hex[:6]}"
    assert _post(server.url, "/registered-models/create", {"name": name}).status_code == 200
    resp = _post(server.url, "/model-versions/create", {"name": name, "source": source})
    assert resp.status_code in (400, 404), resp.text
    assert resp.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    listed = httpx.get(
        f"{server.url}/api/2.0/mlflow/model-versions/search", params={"filter": f"name='{name}'"}, timeout=60
    )
    assert listed.json().get("model_versions", []) == []


def test_local_source_must_be_inside_the_runs_artifacts(tmp_path):
    root = tmp_path / "srv"
    art = tmp_path / "artifacts"
    with running_server(
        root, None, "--no-serve-artifacts", "--default-artifact-root", str(art), timeout=120
    ) as server:
        run = _post(server.url, "/runs/create", {"experiment_id": "0"}).json()["run"]
        run_id, run_root = run["info"]["run_id"], run["info"]["artifact_uri"]
        _post(server.url, "/registered-models/create", {"name": "local"})
        inside = f"{run_root}/model"
        ok = _post(
            server.url, "/model-versions/create", {"name": "local", "source": inside, "run_id": run_id}
        )
        assert ok.status_code == 200, ok.text
        for source, rid in [(inside, None), (str(tmp_path), run_id), (f"{run_root}/../../other", run_id)]:
            body = {"name": "local", "source": source, **({"run_id": rid} if rid else {})}
            bad = _post(server.url, "/model-versions/create", body)
            assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_registry_errors_are_json(server):
    resp = httpx.get(
        f"{server.url}/api/2.0/mlflow/registered-models/get", params={"name": "nope"}, timeout=60
    )
    assert resp.status_code == 404 and resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    resp = httpx.get(
        f"{server.url}/api/2.0/mlflow/model-versions/get", params={"name": "nope", "version": "x"}, timeout=60
    )
    assert resp.status_code == 400
    resp = httpx.post(
        f"{server.url}/api/2.0/mlflow/registered-models/create",
        content=b"{bad",
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    resp = _post(server.url, "/registered-models/create", {})
    assert resp.status_code == 400 and "name" in resp.json()["message"]
    resp = _post(server.url, "/logged-models", {"experiment_id": "424242"})
    assert resp.status_code == 404
    resp = httpx.get(f"{server.url}/api/2.0/mlflow/logged-models/m-missing", timeout=60)
    assert resp.status_code == 404 and resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    resp = _post(server.url, "/logged-models/search", {"experiment_ids": ["0"], "filter": "name ~~ 1"})
    assert resp.status_code == 400
